// Test peers for the transport suites: a recording handler, a started TransportLayer, and raw UDP/TCP/WS peers.
// Real sockets on 127.0.0.1 port 0; nothing of ours is mocked. Not a test file itself (no .test.ts).
import dgram from 'node:dgram';
import net from 'node:net';
import { WebSocket } from 'ws';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { SipError } from '../../src/sip/types.ts';
import type { Flow, TransportHandler } from '../../src/transport/flow.ts';
import { TransportLayer, type FramingErrorHandler, type ListenAddresses } from '../../src/transport/transport-layer.ts';

export function sipConfig(overrides: Partial<Config['sip']> = {}): Config['sip'] {
  return configSchema.parse({ sip: { udp: '127.0.0.1:0', tcp: '127.0.0.1:0', ws: '127.0.0.1:0', tls: 'off', wss: 'off', ...overrides } }).sip;
}

/** Waits until `check` is true, polling the event loop; fails after `ms`. */
export async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Like until, for checks that must await (metrics). */
export async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A TransportHandler that records what arrives; answers mis-framed messages with a fixed line when asked. */
export class RecordingHandler implements TransportHandler, FramingErrorHandler {
  readonly messages: { text: string; flow: Flow }[] = [];
  readonly closed: Flow[] = [];
  readonly malformed: { head: string; status: number; reason: string }[] = [];
  /** When set, every message is answered on its flow with this text. */
  echo: string | undefined;

  onMessage(data: Buffer, flow: Flow): void {
    this.messages.push({ text: data.toString('latin1'), flow });
    if (this.echo !== undefined) flow.send(this.echo);
  }
  onFlowClosed(flow: Flow): void {
    this.closed.push(flow);
  }
  onMalformedFrame(head: Buffer, flow: Flow, error: SipError): void {
    this.malformed.push({ head: head.toString('latin1'), status: error.status, reason: error.reason });
    flow.send(`SIP/2.0 ${error.status} ${error.reason}\r\nContent-Length: 0\r\n\r\n`);
  }
}

export interface StartedTransport {
  layer: TransportLayer;
  handler: RecordingHandler;
  metrics: Metrics;
  addrs: ListenAddresses;
}

export async function startTransport(
  overrides: Partial<Config['sip']> = {},
  wsPingIntervalMs?: number,
  udpIo?: 'native' | 'dgram',
): Promise<StartedTransport> {
  const handler = new RecordingHandler();
  const metrics = new Metrics();
  const layer = new TransportLayer({ sip: sipConfig(overrides), handler, metrics, logger: silentLogger(), wsPingIntervalMs, udpIo });
  const addrs = await layer.listen();
  return { layer, handler, metrics, addrs };
}

/** Value of a counter or gauge for one label set (0 when never touched). */
export async function metricValue(metric: { get(): Promise<{ values: { labels: object; value: number }[] }> }, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val));
  return hit?.value ?? 0;
}

export function register(branch: string, body = ''): string {
  return (
    `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=${branch}\r\n` +
    `From: <sip:1001@example.com>;tag=a\r\nTo: <sip:1001@example.com>\r\nCall-ID: ${branch}@x\r\nCSeq: 1 REGISTER\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

export class UdpPeer {
  readonly received: string[] = [];
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (m) => this.received.push(m.toString('latin1')));
  }
  static async open(): Promise<UdpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    return new UdpPeer(socket);
  }
  get port(): number {
    return this.socket.address().port;
  }
  send(data: string | Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  close(): void {
    this.socket.close();
  }
}

export class TcpPeer {
  received = '';
  isClosed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => (this.received += d.toString('latin1')));
    socket.on('close', () => (this.isClosed = true));
    socket.on('error', () => undefined);
  }
  static async open(port: number): Promise<TcpPeer> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => socket.once('connect', () => r()).once('error', j));
    socket.setNoDelay(true);
    return new TcpPeer(socket);
  }
  /** Writes each piece as its own write, letting the event loop run between them so they arrive as separate chunks. */
  async write(...pieces: (string | Buffer)[]): Promise<void> {
    for (const p of pieces) {
      await new Promise<void>((r) => this.socket.write(p, () => r()));
      await new Promise((r) => setImmediate(r));
    }
  }
  close(): void {
    this.socket.destroy();
  }
}

export class WsPeer {
  readonly received: { text: string; isBinary: boolean }[] = [];
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d, isBinary) => this.received.push({ text: Buffer.from(d as Buffer).toString('latin1'), isBinary }));
    ws.on('close', (code) => (this.closeCode = code));
    ws.on('error', () => undefined);
  }
  static async open(port: number, protocols: string[] = ['sip']): Promise<WsPeer> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, protocols);
    const peer = new WsPeer(ws);
    await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
    return peer;
  }
  close(): void {
    this.ws.terminate();
  }
}
