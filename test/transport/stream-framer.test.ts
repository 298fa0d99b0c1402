// Stream framing stories: Content-Length delimits messages whatever the chunking; CRLF pings; broken framing.
// Pure byte-level tests of stream-framer.ts; the socket side is in tcp.test.ts.
import { describe, expect, it } from 'vitest';
import type { SipError } from '../../src/sip/types.ts';
import { StreamFramer, contentLength, type FrameSink } from '../../src/transport/stream-framer.ts';
import { register } from './peers.ts';

class Sink implements FrameSink {
  frames: string[] = [];
  pings = 0;
  malformed: { head: string; status: number; reason: string }[] = [];
  onFrame(frame: Buffer): void {
    this.frames.push(frame.toString('latin1'));
  }
  onPing(): void {
    this.pings++;
  }
  onMalformedFrame(head: Buffer, error: SipError): void {
    this.malformed.push({ head: head.toString('latin1'), status: error.status, reason: error.reason });
  }
}

function feed(framer: StreamFramer, sink: Sink, ...chunks: string[]): (string | undefined)[] {
  return chunks.map((c) => framer.push(Buffer.from(c, 'latin1'), sink));
}

describe('stream framing by Content-Length (RFC 3261 §18.3)', () => {
  it('delivers a message sent one byte at a time as one whole message', () => {
    const msg = register('z9hG4bK1', 'v=0\r\n\r\nbody with a blank line');
    const framer = new StreamFramer(65535);
    const sink = new Sink();
    feed(framer, sink, ...msg.split(''));
    expect(sink.frames).toEqual([msg]);
    expect(framer.hasPartialMessage).toBe(false);
  });

  it('delivers two messages that arrive in one chunk as two messages', () => {
    const a = register('z9hG4bKa', 'abc');
    const b = register('z9hG4bKb');
    const sink = new Sink();
    feed(new StreamFramer(65535), sink, a + b);
    expect(sink.frames).toEqual([a, b]);
  });

  it('delivers a message split across a chunk boundary inside the body, then the next one', () => {
    const a = register('z9hG4bKa', 'hello world');
    const b = register('z9hG4bKb');
    const cut = a.length - 5;
    const sink = new Sink();
    const framer = new StreamFramer(65535);
    feed(framer, sink, a.slice(0, cut), a.slice(cut) + b.slice(0, 10), b.slice(10));
    expect(sink.frames).toEqual([a, b]);
  });

  it('reads the compact form `l` and any letter case of Content-Length', () => {
    const compact = 'OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nxyz';
    const upper = 'OPTIONS sip:a SIP/2.0\r\nCONTENT-LENGTH : 2\r\n\r\nhi';
    const sink = new Sink();
    feed(new StreamFramer(65535), sink, compact + upper);
    expect(sink.frames).toEqual([compact, upper]);
  });

  it('does not take Location or other l-headers for Content-Length', () => {
    const buf = Buffer.from('X sip:a SIP/2.0\r\nLocation: 9\r\nl : 4\r\n\r\n', 'latin1');
    expect(contentLength(buf, 0, buf.indexOf('\r\n\r\n'))).toBe(4);
  });

  it('answers a double-CRLF ping with a pong and skips a lone CRLF between messages (RFC 5626 §4.4.1)', () => {
    const a = register('z9hG4bKa');
    const sink = new Sink();
    const framer = new StreamFramer(65535);
    feed(framer, sink, '\r\n\r\n', '\r\n' + a, '\r\n', '\r\n');
    expect(sink.pings).toBe(2);
    expect(sink.frames).toEqual([a]);
  });

  it('recognises a ping that arrives in two pieces', () => {
    const sink = new Sink();
    feed(new StreamFramer(65535), sink, '\r\n', '\r\n');
    expect(sink.pings).toBe(1);
  });

  it('passes a header section without Content-Length up for a 400 and keeps reading the stream', () => {
    const head = 'OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n';
    const next = register('z9hG4bKn');
    const sink = new Sink();
    const results = feed(new StreamFramer(65535), sink, head + next);
    expect(results).toEqual([undefined]);
    expect(sink.malformed).toEqual([{ head, status: 400, reason: 'Missing Content-Length' }]);
    expect(sink.frames).toEqual([next]);
  });

  it('answers 513 for a Content-Length over the limit and stops framing the stream', () => {
    const head = 'MESSAGE sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n';
    const sink = new Sink();
    const framer = new StreamFramer(1024);
    expect(feed(framer, sink, head)).toEqual(['body-too-large']);
    expect(sink.malformed).toEqual([{ head, status: 513, reason: 'Message Too Large' }]);
    expect(feed(framer, sink, register('z9hG4bKx'))).toEqual(['body-too-large']);
    expect(sink.frames).toEqual([]);
  });

  it('answers 400 for a non-numeric or conflicting Content-Length and stops framing', () => {
    for (const cl of ['Content-Length: abc', 'Content-Length: 2\r\nl: 3', 'Content-Length:']) {
      const sink = new Sink();
      const head = `MESSAGE sip:a SIP/2.0\r\n${cl}\r\n\r\n`;
      expect(feed(new StreamFramer(65535), sink, head)).toEqual(['bad-content-length']);
      expect(sink.malformed.map((m) => m.status)).toEqual([400]);
    }
  });

  it('fails a header section that grows past the limit without ending, even dripped byte by byte', () => {
    const sink = new Sink();
    const framer = new StreamFramer(1024);
    const flood = 'REGISTER sip:a SIP/2.0\r\n' + 'X-Flood: aaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(40);
    const results = feed(framer, sink, ...flood.split(''));
    expect(results.filter((r) => r !== undefined)[0]).toBe('header-too-large');
    expect(sink.frames).toEqual([]);
    expect(sink.malformed).toEqual([]);
  });

  it('answers 513 for a complete header section over the limit that arrived in one chunk, then stops', () => {
    const sink = new Sink();
    const big = 'REGISTER sip:a SIP/2.0\r\n' + 'X-Pad: 0123456789\r\n'.repeat(80) + 'Content-Length: 0\r\n\r\n';
    expect(feed(new StreamFramer(1024), sink, big)).toEqual(['header-too-large']);
    expect(sink.malformed.map((m) => m.status)).toEqual([513]);
    expect(sink.frames).toEqual([]);
  });

  it('hands up a view of the chunk when a message arrives whole, and a private copy when it was assembled', () => {
    const a = register('z9hG4bKa');
    const framer = new StreamFramer(65535);
    const got: Buffer[] = [];
    const sink: FrameSink = { onFrame: (f) => got.push(f), onPing: () => undefined, onMalformedFrame: () => undefined };
    const chunk = Buffer.from(a, 'latin1');
    framer.push(chunk, sink);
    expect(got[0].buffer).toBe(chunk.buffer);
    framer.push(Buffer.from(a.slice(0, 10), 'latin1'), sink);
    framer.push(Buffer.from(a.slice(10), 'latin1'), sink);
    framer.push(Buffer.from('garbage that reuses the buffer', 'latin1'), sink);
    expect(got[1].toString('latin1')).toBe(a);
  });
});
