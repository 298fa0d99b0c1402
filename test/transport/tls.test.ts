// SIP over TLS (RFC 3261 §26) and secure WebSocket (RFC 7118 wss) on the transport layer: framed messages on tls:<n> /
// wss:<n> flows answered on the same connection, failed handshakes counted, plain HTTP on the wss port refused, and
// outbound TLS checking the peer's certificate against the host name. Real sockets on 127.0.0.1, port 0.
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Certificates } from '../../src/transport/certificates.ts';
import { TransportLayer, type ListenAddresses } from '../../src/transport/transport-layer.ts';
import { metricValue, RecordingHandler, register, sipConfig, until } from './peers.ts';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function started(names = ['127.0.0.1', 'localhost']): Promise<{ layer: TransportLayer; handler: RecordingHandler; metrics: Metrics; addrs: ListenAddresses; certs: Certificates }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sipedge-tls-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const certs = await Certificates.open({ tls: configSchema.parse({}).tls, dataDir, names, mustCover: names[0]!, logger: silentLogger() });
  const handler = new RecordingHandler();
  const metrics = new Metrics();
  const layer = new TransportLayer({ sip: sipConfig({ tls: '127.0.0.1:0', wss: '127.0.0.1:0' }), handler, metrics, logger: silentLogger(), certificates: certs });
  const addrs = await layer.listen();
  cleanup.push(() => layer.close());
  return { layer, handler, metrics, addrs, certs };
}

function tlsPhone(port: number, ca: string): Promise<tls.TLSSocket & { text: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca }) as tls.TLSSocket & { text: string };
    s.text = '';
    s.on('data', (d: Buffer) => (s.text += d.toString('latin1')));
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
    cleanup.push(() => s.destroy());
  });
}

describe('TLS and WSS transports', () => {
  it('delivers a message framed from a TLS stream on a tls:<n> flow and answers on the same connection', async () => {
    const edge = await started();
    const ok = 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n';
    edge.handler.echo = ok;
    const alice = await tlsPhone(edge.addrs.tls!.port, edge.certs.current.cert);
    alice.write(register('z9hG4bKtls1', 'v=0\r\n') + register('z9hG4bKtls2'));
    await until(() => edge.handler.messages.length === 2 && alice.text.length >= 2 * ok.length);
    const flow = edge.handler.messages[0]!.flow;
    expect(flow.id).toMatch(/^tls:\d+$/);
    expect(flow).toMatchObject({ transport: 'tls', isReliable: true, remoteAddress: '127.0.0.1', localPort: edge.addrs.tls!.port });
    expect(alice.text).toBe(ok.repeat(2));
    expect(await metricValue(edge.metrics.connectionsTotal, { transport: 'tls' })).toBe(1);
  });

  it('takes SIP over secure WebSocket with the sip subprotocol on a wss:<n> flow', async () => {
    const edge = await started();
    const ws = new WebSocket(`wss://127.0.0.1:${edge.addrs.wss!.port}`, ['sip'], { ca: edge.certs.current.cert });
    cleanup.push(() => ws.terminate());
    const replies: string[] = [];
    ws.on('message', (d) => replies.push(String(d)));
    await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
    edge.handler.echo = 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n';
    ws.send(register('z9hG4bKwss1'));
    await until(() => replies.length === 1);
    expect(edge.handler.messages[0]!.flow).toMatchObject({ transport: 'wss', isReliable: true });
    expect(edge.handler.messages[0]!.flow.id).toMatch(/^wss:\d+$/);
  });

  it('answers a plain HTTPS request on the wss port with 426 Upgrade Required', async () => {
    const edge = await started();
    const status = await new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: edge.addrs.wss!.port, path: '/', ca: edge.certs.current.cert }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).once('error', reject);
    });
    expect(status).toBe(426);
  });

  it('counts a failed handshake (plain SIP sent to the TLS port) and keeps serving TLS phones', async () => {
    const edge = await started();
    const plain = net.connect(edge.addrs.tls!.port, '127.0.0.1');
    plain.on('error', () => undefined);
    cleanup.push(() => plain.destroy());
    plain.write(register('z9hG4bKplain'));
    await until(() => plain.destroyed || plain.readableEnded, 5000);
    expect(await metricValue(edge.metrics.tlsHandshakeFailures, { transport: 'tls' })).toBe(1);
    expect(edge.handler.messages).toHaveLength(0);
    const alice = await tlsPhone(edge.addrs.tls!.port, edge.certs.current.cert);
    alice.write(register('z9hG4bKafter'));
    await until(() => edge.handler.messages.length === 1);
  });

  it('connects out over TLS only to a peer whose certificate is trusted and names the host', async () => {
    const peer = await started(['localhost']);
    const own = await started();
    const port = peer.addrs.tls!.port;
    // Not trusted (self-signed, not in the CA list): refused.
    await expect(own.layer.connectTls('localhost', port)).rejects.toThrow(/self[- ]signed/);
    // Trusted, but the certificate names localhost, not 127.0.0.1: refused (RFC 5922 §7.1 host check).
    const trusting = new TransportLayer({
      sip: sipConfig(),
      handler: new RecordingHandler(),
      metrics: new Metrics(),
      logger: silentLogger(),
      tlsClient: { ca: [peer.certs.current.cert], verify: true },
    });
    cleanup.push(() => trusting.close());
    await expect(trusting.connectTls('127.0.0.1', port)).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list/);
    const flow = await trusting.connectTls('localhost', port);
    expect(flow).toMatchObject({ transport: 'tls', isOpen: true });
    expect(flow.send(register('z9hG4bKout'))).toBe(true);
    await until(() => peer.handler.messages.length === 1);
    expect(peer.handler.messages[0]!.flow.transport).toBe('tls');
    // With checks off (tls.verifyUpstreams false), any certificate is taken.
    const lax = new TransportLayer({ sip: sipConfig(), handler: new RecordingHandler(), metrics: new Metrics(), logger: silentLogger(), tlsClient: { verify: false } });
    cleanup.push(() => lax.close());
    expect((await lax.connectTls('127.0.0.1', port)).transport).toBe('tls');
  });
});
