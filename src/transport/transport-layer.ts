// The transport layer: binds the configured UDP, TCP and WS listeners, keeps the registry of open connections.
// Everything above bytes (parsing, transactions) is the handler's; each listener's socket work is in its own file.
import type { AddressInfo } from 'node:net';
import { parseHostPort, type Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SipError } from '../sip/types.ts';
import type { Flow, TransportHandler, TransportKind } from './flow.ts';
import type { Connection, FramingErrorHandler, ListenerContext, TransportDropReason } from './listener-context.ts';
import { TcpListener, connectTcp } from './tcp.ts';
import { UdpListener } from './udp.ts';
import { nativeUdp, nativeUdpError } from './native-udp.ts';
import { WsListener } from './ws.ts';

export type { FramingErrorHandler } from './listener-context.ts';

export interface TransportLayerOptions {
  sip: Config['sip'];
  /** Gets every message; when it also implements onMalformedFrame it can answer mis-framed stream messages. */
  handler: TransportHandler & Partial<FramingErrorHandler>;
  metrics: Metrics;
  logger: Logger;
  /** WebSocket ping interval in ms; default 30 000. A peer that misses one interval's pong is terminated. */
  wsPingIntervalMs?: number;
  /** How the UDP listener moves datagrams: 'native' (the default when built, see native-udp.ts) or 'dgram'. */
  udpIo?: 'native' | 'dgram';
}

/** The bound addresses; a listener configured "off" is absent. */
export interface ListenAddresses {
  udp?: AddressInfo;
  tcp?: AddressInfo;
  ws?: AddressInfo;
}

type Gauge = ReturnType<Metrics['connections']['labels']>;
type CounterHandle = ReturnType<Metrics['drops']['labels']>;

export class TransportLayer implements ListenerContext {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly maxMessageBytes: number;
  readonly idleTimeoutMs: number;
  private readonly sip: Config['sip'];
  private readonly handler: TransportHandler & Partial<FramingErrorHandler>;
  private readonly udp: UdpListener;
  /** Why the UDP listener uses dgram (logged at start); undefined when it uses the native I/O. */
  private readonly udpIoReason: string | undefined;
  private readonly tcp: TcpListener;
  private readonly ws: WsListener;
  private readonly conns = new Map<string, Connection>();
  private nextConnId = 0;
  private handlerErrorLogged = false;
  /** Set by close() while it waits for the last connection to report closed. */
  private allClosed: (() => void) | undefined;
  /** Label sets bound once (STYLE §5). */
  private readonly openGauge: Record<TransportKind, Gauge>;
  private readonly acceptedTotal: Record<TransportKind, { inc(): void }>;
  private readonly dropCounters = new Map<TransportDropReason, CounterHandle>();

  constructor(opts: TransportLayerOptions) {
    this.sip = opts.sip;
    this.handler = opts.handler;
    this.metrics = opts.metrics;
    this.logger = opts.logger;
    this.maxMessageBytes = opts.sip.maxMessageBytes;
    this.idleTimeoutMs = opts.sip.idleTimeoutSeconds * 1000;
    if (opts.udpIo === 'native' && nativeUdp === undefined) throw new Error('udpIo native: the native UDP I/O is not available');
    this.udp = new UdpListener(this, opts.udpIo === 'dgram' ? undefined : nativeUdp);
    this.udpIoReason = opts.udpIo === 'dgram' ? 'the udpIo option asks for dgram' : nativeUdpError;
    this.tcp = new TcpListener(this);
    this.ws = new WsListener(this, opts.wsPingIntervalMs ?? 30_000);
    const kinds: TransportKind[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];
    this.openGauge = Object.fromEntries(kinds.map((k) => [k, this.metrics.connections.labels(k)])) as Record<TransportKind, Gauge>;
    this.acceptedTotal = Object.fromEntries(kinds.map((k) => [k, this.metrics.connectionsTotal.labels(k)])) as Record<
      TransportKind,
      { inc(): void }
    >;
  }

  /** Binds every listener not configured "off"; port 0 picks a free port (reported in the result). */
  async listen(): Promise<ListenAddresses> {
    const out: ListenAddresses = {};
    try {
      const udp = bindAddress(this.sip.udp);
      if (udp) out.udp = await this.udp.listen(udp.host, udp.port);
      const tcp = bindAddress(this.sip.tcp);
      if (tcp) out.tcp = await this.tcp.listen(tcp.host, tcp.port);
      const ws = bindAddress(this.sip.ws);
      if (ws) out.ws = await this.ws.listen(ws.host, ws.port);
    } catch (err) {
      await this.close();
      throw err;
    }
    this.logger.info({
      event: 'transport.listening',
      udp: out.udp && `${out.udp.address}:${out.udp.port}`,
      tcp: out.tcp && `${out.tcp.address}:${out.tcp.port}`,
      ws: out.ws && `${out.ws.address}:${out.ws.port}`,
      udpIo: out.udp && this.udp.io,
      // Why not native (not built, no compiler, SIPEDGE_NATIVE_UDP=0, ...): an operator reading the start log sees it.
      udpIoReason: out.udp && this.udp.io === 'dgram' ? this.udpIoReason : undefined,
    });
    return out;
  }

  /** Stops accepting, destroys every connection (each one's onFlowClosed runs) and closes the UDP socket. */
  async close(): Promise<void> {
    const closing = [this.tcp.close(), this.ws.close(), this.udp.close()];
    if (this.conns.size > 0) {
      closing.push(new Promise((resolve) => (this.allClosed = resolve)));
      for (const conn of [...this.conns.values()]) conn.destroy();
    }
    await Promise.all(closing);
  }

  /** An open connection by id, or a UDP flow for a 'udp:<localPort>:<ip>:<port>' id of this listener. */
  getFlow(id: string): Flow | undefined {
    const conn = this.conns.get(id);
    if (conn !== undefined) return conn;
    if (!id.startsWith('udp:')) return undefined;
    const first = id.indexOf(':', 4);
    const last = id.lastIndexOf(':');
    if (first < 0 || last <= first) return undefined;
    if (Number(id.slice(4, first)) !== this.udp.localPort) return undefined;
    const port = Number(id.slice(last + 1));
    if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
    return this.udp.flow(id.slice(first + 1, last), port);
  }

  /** A Flow that sends from the UDP listening socket to address:port (send returns false when UDP is off). */
  udpFlow(address: string, port: number): Flow {
    return this.udp.flow(address, port);
  }

  /** Opens an outbound TCP connection; it is registered, framed and delivered like an accepted one. */
  connectTcp(host: string, port: number): Promise<Flow> {
    return connectTcp(this, host, port);
  }

  // ListenerContext: called by the listeners.

  deliver(data: Buffer, flow: Flow): void {
    try {
      this.handler.onMessage(data, flow);
    } catch (err) {
      this.handlerFailed(err);
    }
  }

  deliverMalformed(head: Buffer, flow: Flow, error: SipError): void {
    try {
      if (this.handler.onMalformedFrame) this.handler.onMalformedFrame(head, flow, error);
      else this.drop('framing');
    } catch (err) {
      this.handlerFailed(err);
    }
  }

  drop(reason: TransportDropReason): void {
    let c = this.dropCounters.get(reason);
    if (c === undefined) {
      c = this.metrics.drops.labels(reason);
      this.dropCounters.set(reason, c);
    }
    c.inc();
  }

  nextId(kind: TransportKind): string {
    return `${kind}:${++this.nextConnId}`;
  }

  opened(conn: Connection, inbound: boolean): void {
    this.conns.set(conn.id, conn);
    this.openGauge[conn.transport].inc();
    if (inbound) this.acceptedTotal[conn.transport].inc();
    this.logger.debug({ event: 'transport.flow.open', flow: conn.id, remote: `${conn.remoteAddress}:${conn.remotePort}` });
  }

  closed(conn: Connection): void {
    this.conns.delete(conn.id);
    this.openGauge[conn.transport].dec();
    this.logger.debug({ event: 'transport.flow.closed', flow: conn.id });
    try {
      this.handler.onFlowClosed(conn);
    } catch (err) {
      this.handlerFailed(err);
    }
    if (this.conns.size === 0 && this.allClosed !== undefined) {
      const done = this.allClosed;
      this.allClosed = undefined;
      done();
    }
  }

  /** The handler is meant never to throw; if it does, count it and log once (no message content). */
  private handlerFailed(err: unknown): void {
    this.drop('handler-error');
    if (this.handlerErrorLogged) return;
    this.handlerErrorLogged = true;
    this.logger.warn({ event: 'transport.handler.error', err: err instanceof Error ? err.name : typeof err });
  }
}

function bindAddress(value: string): { host: string; port: number } | undefined {
  if (value === 'off') return undefined;
  return parseHostPort(value);
}
