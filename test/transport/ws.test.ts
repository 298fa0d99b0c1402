// WebSocket transport stories (RFC 7118): a browser phone on subprotocol `sip`; refusals, keep-alives, dead peers.
// Real ws clients and a raw TCP upgrade on 127.0.0.1, port 0.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { metricValue, register, startTransport, until, WsPeer, type StartedTransport } from './peers.ts';

let edge: StartedTransport | undefined;
const peers: WsPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await edge?.layer.close();
  edge = undefined;
});

async function browser(protocols?: string[]): Promise<WsPeer> {
  const p = await WsPeer.open(edge!.addrs.ws!.port, protocols);
  peers.push(p);
  return p;
}

const OK = 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n';

describe('WebSocket transport', () => {
  it('negotiates `sip` and delivers each WS message as one SIP message on a ws:<n> flow', async () => {
    edge = await startTransport();
    const alice = await browser();
    expect(alice.ws.protocol).toBe('sip');
    alice.ws.send(register('z9hG4bKws1'));
    alice.ws.send(register('z9hG4bKws2'));
    await until(() => edge!.handler.messages.length === 2);
    const flow = edge.handler.messages[0].flow;
    expect(flow.id).toMatch(/^ws:\d+$/);
    expect(flow).toMatchObject({ transport: 'ws', isReliable: true, isOpen: true, remoteAddress: '127.0.0.1' });
    expect(edge.handler.messages[1].text).toBe(register('z9hG4bKws2'));
    expect(await metricValue(edge.metrics.connectionsTotal, { transport: 'ws' })).toBe(1);
  });

  it('answers in text frames to a text client and in binary frames to a binary client', async () => {
    edge = await startTransport();
    edge.handler.echo = OK;
    const text = await browser();
    const binary = await browser();
    text.ws.send(register('z9hG4bKt'));
    binary.ws.send(Buffer.from(register('z9hG4bKb')), { binary: true });
    await until(() => text.received.length === 1 && binary.received.length === 1);
    expect(text.received[0]).toEqual({ text: OK, isBinary: false });
    expect(binary.received[0]).toEqual({ text: OK, isBinary: true });
  });

  it('closes a client that did not offer the sip subprotocol with 1002', async () => {
    edge = await startTransport();
    const stranger = await browser([]);
    await until(() => stranger.closeCode !== undefined);
    expect(stranger.closeCode).toBe(1002);
    expect(edge.handler.closed).toHaveLength(0);
    expect(await metricValue(edge.metrics.connectionsTotal, { transport: 'ws' })).toBe(0);
  });

  it('answers a CRLFCRLF keep-alive message with a CRLF pong and does not pass it up', async () => {
    edge = await startTransport();
    const alice = await browser();
    alice.ws.send('\r\n\r\n');
    await until(() => alice.received.length === 1);
    expect(alice.received[0].text).toBe('\r\n');
    expect(edge.handler.messages).toHaveLength(0);
  });

  it('tells the handler once when the browser goes away', async () => {
    edge = await startTransport();
    const alice = await browser();
    alice.ws.send(register('z9hG4bKa'));
    await until(() => edge!.handler.messages.length === 1);
    const flow = edge.handler.messages[0].flow;
    alice.ws.close();
    await until(() => edge!.handler.closed.length === 1);
    expect(edge.handler.closed[0]).toBe(flow);
    expect(flow.isOpen).toBe(false);
    expect(flow.send(OK)).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(edge.handler.closed).toHaveLength(1);
  });

  it('terminates a peer that stops answering pings', async () => {
    edge = await startTransport({}, 40);
    // A hand-made upgrade that never answers pings: a browser tab that froze.
    const raw = net.connect(edge.addrs.ws!.port, '127.0.0.1');
    let closed = false;
    raw.on('close', () => (closed = true));
    raw.on('error', () => undefined);
    raw.resume(); // read (and ignore) the pings, so the end of the stream is seen
    raw.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n',
    );
    await until(() => edge!.handler.closed.length === 1, 3000);
    await until(() => closed);
  });

  it('keeps a live peer that answers pings', async () => {
    edge = await startTransport({}, 20);
    const alice = await browser();
    await new Promise((r) => setTimeout(r, 150));
    expect(alice.closeCode).toBeUndefined();
    expect(edge.handler.closed).toHaveLength(0);
  });

  it('closes a browser that sends a message over maxMessageBytes, and counts it', async () => {
    edge = await startTransport({ maxMessageBytes: 1024 });
    const alice = await browser();
    alice.ws.send(register('z9hG4bKbig', 'x'.repeat(2000)));
    await until(() => alice.closeCode !== undefined);
    expect(alice.closeCode).toBe(1009);
    expect(await metricValue(edge.metrics.drops, { reason: 'oversize' })).toBe(1);
  });
});
