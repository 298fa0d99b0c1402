// TCP transport stories: framed messages reach the handler on a connection flow; keep-alives; closes; idle timeout.
// Real sockets on 127.0.0.1, port 0; pieces are written separately so they arrive as separate chunks.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { metricValue, register, startTransport, TcpPeer, until, type StartedTransport } from './peers.ts';

let edge: StartedTransport | undefined;
const peers: TcpPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await edge?.layer.close();
  edge = undefined;
});

async function phone(port = edge!.addrs.tcp!.port): Promise<TcpPeer> {
  const p = await TcpPeer.open(port);
  peers.push(p);
  return p;
}

describe('TCP transport', () => {
  it('delivers a message written one byte at a time as one message on a tcp:<n> flow', async () => {
    edge = await startTransport();
    const alice = await phone();
    const msg = register('z9hG4bKtcp1', 'v=0\r\n');
    await alice.write(...msg.split(''));
    await until(() => edge!.handler.messages.length === 1);
    expect(edge.handler.messages[0].text).toBe(msg);
    const flow = edge.handler.messages[0].flow;
    expect(flow.id).toMatch(/^tcp:\d+$/);
    expect(flow).toMatchObject({ transport: 'tcp', isReliable: true, isOpen: true, remoteAddress: '127.0.0.1' });
    expect(edge.layer.getFlow(flow.id)).toBe(flow);
  });

  it('delivers two messages sent in one write as two messages, and answers on the same connection', async () => {
    edge = await startTransport();
    const ok = 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n';
    edge.handler.echo = ok;
    const alice = await phone();
    await alice.write(register('z9hG4bKa') + register('z9hG4bKb'));
    await until(() => edge!.handler.messages.length === 2 && alice.received.length >= 2 * ok.length);
    expect(edge.handler.messages.map((m) => m.text.includes('z9hG4bKb'))).toEqual([false, true]);
    expect(alice.received).toBe(ok.repeat(2));
  });

  it('gives each connection its own flow id', async () => {
    edge = await startTransport();
    const a = await phone();
    const b = await phone();
    await a.write(register('z9hG4bKa'));
    await b.write(register('z9hG4bKb'));
    await until(() => edge!.handler.messages.length === 2);
    const ids = new Set(edge.handler.messages.map((m) => m.flow.id));
    expect(ids.size).toBe(2);
  });

  it('answers a CRLFCRLF ping with one CRLF pong and says nothing to a lone CRLF (RFC 5626 §4.4.1)', async () => {
    edge = await startTransport();
    const alice = await phone();
    await alice.write('\r\n\r\n');
    await until(() => alice.received.length > 0);
    expect(alice.received).toBe('\r\n');
    await alice.write('\r\n' + register('z9hG4bKafter'));
    await until(() => edge!.handler.messages.length === 1);
    expect(alice.received).toBe('\r\n');
    expect(edge.handler.messages).toHaveLength(1);
  });

  it('tells the handler once when the phone closes, and the flow reports closed', async () => {
    edge = await startTransport();
    const alice = await phone();
    await alice.write(register('z9hG4bKa'));
    await until(() => edge!.handler.messages.length === 1);
    const flow = edge.handler.messages[0].flow;
    alice.socket.end();
    await until(() => edge!.handler.closed.length === 1);
    expect(edge.handler.closed[0]).toBe(flow);
    expect(flow.isOpen).toBe(false);
    expect(flow.send('late')).toBe(false);
    expect(edge.layer.getFlow(flow.id)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(edge.handler.closed).toHaveLength(1);
  });

  it('closes a connection that stays silent past the idle timeout', async () => {
    edge = await startTransport({ idleTimeoutSeconds: 1 });
    const alice = await phone();
    await until(() => alice.isClosed, 5000);
    await until(() => edge!.handler.closed.length === 1);
    expect(await metricValue(edge.metrics.connections, { transport: 'tcp' })).toBe(0);
  });

  it('closes a connection that drips a message slower than the deadline, even though it is never idle', async () => {
    edge = await startTransport({ idleTimeoutSeconds: 1 });
    const slowloris = await phone();
    const msg = register('z9hG4bKslow');
    for (let i = 0; i < 8 && !slowloris.isClosed; i++) {
      await slowloris.write(msg[i]);
      await new Promise((r) => setTimeout(r, 300));
    }
    await until(() => slowloris.isClosed);
    expect(await metricValue(edge.metrics.drops, { reason: 'slow-sender' })).toBe(1);
    expect(edge.handler.messages).toHaveLength(0);
  });

  it('counts connections in the open gauge and the accepted total', async () => {
    edge = await startTransport();
    await phone();
    await phone();
    await until(() => edge!.layer.getFlow('tcp:2') !== undefined);
    expect(await metricValue(edge.metrics.connections, { transport: 'tcp' })).toBe(2);
    expect(await metricValue(edge.metrics.connectionsTotal, { transport: 'tcp' })).toBe(2);
  });

  it('answers a message without Content-Length with 400 and keeps the connection', async () => {
    edge = await startTransport();
    const alice = await phone();
    await alice.write('OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n');
    await until(() => alice.received.includes('400'));
    expect(alice.received).toContain('SIP/2.0 400 Missing Content-Length');
    await alice.write(register('z9hG4bKnext'));
    await until(() => edge!.handler.messages.length === 1);
    expect(alice.isClosed).toBe(false);
  });

  it('answers 513 to a Content-Length over the limit, then closes and counts the framing drop', async () => {
    edge = await startTransport({ maxMessageBytes: 1024 });
    const alice = await phone();
    await alice.write('MESSAGE sip:a SIP/2.0\r\nContent-Length: 999999\r\n\r\nabc');
    await until(() => alice.isClosed);
    expect(alice.received).toBe('SIP/2.0 513 Message Too Large\r\nContent-Length: 0\r\n\r\n');
    expect(await metricValue(edge.metrics.drops, { reason: 'framing' })).toBe(1);
    await until(() => edge!.handler.closed.length === 1);
  });

  it('closes a connection that floods headers past the limit without ever ending them', async () => {
    edge = await startTransport({ maxMessageBytes: 1024 });
    const alice = await phone();
    await alice.write('REGISTER sip:a SIP/2.0\r\n' + 'X-Flood: yes\r\n'.repeat(200));
    await until(() => alice.isClosed);
    expect(edge.handler.messages).toHaveLength(0);
    expect(await metricValue(edge.metrics.drops, { reason: 'framing' })).toBe(1);
  });

  it('opens an outbound connection whose replies arrive like inbound ones', async () => {
    edge = await startTransport();
    let serverSide: net.Socket | undefined;
    const pbx = net.createServer((s) => (serverSide = s));
    await new Promise<void>((r) => pbx.listen(0, '127.0.0.1', () => r()));
    try {
      const flow = await edge.layer.connectTcp('127.0.0.1', (pbx.address() as net.AddressInfo).port);
      expect(flow.id).toMatch(/^tcp:\d+$/);
      await until(() => serverSide !== undefined);
      serverSide!.write(register('z9hG4bKpbx'));
      await until(() => edge!.handler.messages.length === 1);
      expect(edge.handler.messages[0].flow).toBe(flow);
      serverSide!.destroy();
      await until(() => edge!.handler.closed.length === 1);
    } finally {
      pbx.close();
    }
  });

  it('closes every connection on close(), each reported once', async () => {
    edge = await startTransport();
    const a = await phone();
    const b = await phone();
    await a.write(register('z9hG4bKa'));
    await b.write(register('z9hG4bKb'));
    await until(() => edge!.handler.messages.length === 2);
    await edge.layer.close();
    expect(edge.handler.closed).toHaveLength(2);
    await until(() => a.isClosed && b.isClosed);
    edge = undefined;
  });
});
