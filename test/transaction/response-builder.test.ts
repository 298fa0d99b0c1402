// ResponseBuilder: the Server header and To tag it adds, without touching what the caller passed (TUs share arrays).
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/sip/parser.ts';
import { ResponseBuilder } from '../../src/transaction/response-builder.ts';

function req(to = '<sip:1001@example.com>'): ReturnType<typeof parseMessage> {
  const m = parseMessage(
    Buffer.from(
      'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKrb1\r\nMax-Forwards: 70\r\n' +
        `From: <sip:1001@example.com>;tag=f1\r\nTo: ${to}\r\nCall-ID: rb1@198.51.100.7\r\nCSeq: 1 REGISTER\r\n` +
        'Content-Length: 0\r\n\r\n',
      'latin1',
    ),
  );
  m.source = { address: '198.51.100.7', port: 5062, transport: 'udp', flowId: 'udp:5060:198.51.100.7:5062' };
  return m;
}

const text = (b: Buffer) => b.toString('latin1');
const lines = (b: Buffer, prefix: string) => text(b).split('\r\n').filter((l) => l.toLowerCase().startsWith(prefix));

describe('ResponseBuilder', () => {
  it('adds the Server line after the caller headers, and a random To tag, leaving the caller array alone', () => {
    const rb = new ResponseBuilder('sipedge-test');
    const headers = Object.freeze(['WWW-Authenticate: Digest realm="a"', 'WWW-Authenticate: Digest realm="b"']) as string[];
    const a = text(rb.build(req(), 401, 'Unauthorized', { headers }));
    const b = text(rb.build(req(), 401, 'Unauthorized', { headers }));
    expect(headers).toHaveLength(2);
    expect(a).toContain('WWW-Authenticate: Digest realm="a"\r\nWWW-Authenticate: Digest realm="b"\r\nServer: sipedge-test\r\n');
    const tagOf = (s: string) => /\r\nTo: <sip:1001@example.com>;tag=([\w-]+)\r\n/.exec(s)?.[1];
    expect(tagOf(a)).toMatch(/^[\w-]{8,}$/);
    expect(tagOf(b)).not.toBe(tagOf(a));
  });

  it('keeps a caller Server header (any case) instead of adding one, and a caller To tag', () => {
    const rb = new ResponseBuilder('sipedge-test');
    for (const own of ['Server: pbx/1', 'server: pbx/1', 'SERVER:pbx/1']) {
      const res = rb.build(req(), 200, 'OK', { headers: [own], toTag: 'given' });
      expect(lines(res, 'server')).toEqual([own]);
      expect(text(res)).toContain('\r\nTo: <sip:1001@example.com>;tag=given\r\n');
    }
    // "Server:" with nothing after it is not a Server header for this check (as before): the default is added too.
    expect(lines(rb.build(req(), 200, 'OK', { headers: ['Server:'] }), 'server')).toEqual(['Server:', 'Server: sipedge-test']);
    expect(lines(rb.build(req(), 200, 'OK', { headers: ['Serverx: a'] }), 'server')).toEqual(['Serverx: a', 'Server: sipedge-test']);
  });

  it('adds no tag to 100 Trying or to a To that already has one; no Server line when none is configured', () => {
    const rb = new ResponseBuilder();
    expect(text(rb.build(req(), 100, 'Trying'))).toContain('\r\nTo: <sip:1001@example.com>\r\n');
    expect(text(rb.build(req('<sip:1001@example.com>;tag=abc'), 200, 'OK'))).toContain('\r\nTo: <sip:1001@example.com>;tag=abc\r\n');
    const plain = rb.build(req(), 200, 'OK', { headers: ['Contact: <sip:a@b>'] });
    expect(lines(plain, 'server')).toEqual([]);
    expect(text(plain)).toMatch(/\r\nTo: <sip:1001@example.com>;tag=[\w-]+\r\n/);
  });

  it('keeps the body and content type when it adds headers', () => {
    const rb = new ResponseBuilder('sipedge-test');
    const res = text(rb.build(req(), 200, 'OK', { body: 'v=0\r\n', contentType: 'application/sdp' }));
    expect(res).toContain('Server: sipedge-test\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n');
  });
});
