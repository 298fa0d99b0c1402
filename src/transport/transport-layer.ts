// The transport layer: binds the configured UDP, TCP, TLS, WS and WSS listeners, keeps the registry of open connections.
// Everything above bytes (parsing, transactions) is the handler's; each listener's socket work is in its own file.
import type { AddressInfo } from 'node:net';
import { parseHostPort, type Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SipError } from '../sip/types.ts';
import { listenError } from '../errors.ts';
import type { Flow, TransportHandler, TransportKind } from './flow.ts';
import type { Connection, FramingErrorHandler, ListenerContext, TransportDropReason } from './listener-context.ts';
import type { CredentialSource } from './certificates.ts';
import { TcpListener, connectTcp } from './tcp.ts';
import { connectTls, tlsServer, type TlsClientOptions } from './tls.ts';
import { UdpListener } from './udp.ts';
import { nativeUdp, nativeUdpError } from './native-udp.ts';
import { WsListener } from './ws.ts';
import type { FloodGuard } from './flood-guard.ts';

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
  /** The certificate of the TLS and WSS listeners (certificates.ts); needed when sip.tls or sip.wss is not "off". */
  certificates?: CredentialSource;
  /** How TLS peers the edge connects to are checked; default: Node's public roots, verified. */
  tlsClient?: TlsClientOptions;
  /** Per-source budgets and bans checked before a message is parsed; without one every message is admitted. */
  flood?: FloodGuard;
  /** cluster.listen: a SIP-over-TCP listener of this node's own for the internal hop (never shared); default "off". */
  hopListen?: string;
}

/** The bound addresses; a listener configured "off" is absent. */
export interface ListenAddresses {
  udp?: AddressInfo;
  tcp?: AddressInfo;
  tls?: AddressInfo;
  ws?: AddressInfo;
  wss?: AddressInfo;
  /** The internal hop's own TCP listener (cluster.listen). */
  hop?: AddressInfo;
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
  /** cluster.listen's listener; its connections are plain SIP-over-TCP flows like sip.tcp's. */
  private readonly hop: TcpListener;
  private readonly hopListen: string;
  private readonly tls: TcpListener | undefined;
  private readonly ws: WsListener;
  private readonly wss: WsListener | undefined;
  private readonly certificates: CredentialSource | undefined;
  private readonly tlsClient: TlsClientOptions;
  private readonly flood: FloodGuard | undefined;
  private readonly conns = new Map<string, Connection>();
  private nextConnId = 0;
  private handlerErrorLogged = false;
  /** Set by close() while it waits for the last connection to report closed. */
  private allClosed: (() => void) | undefined;
  /** Label sets bound once (STYLE §5). */
  private readonly openGauge: Record<TransportKind, Gauge>;
  private readonly acceptedTotal: Record<TransportKind, { inc(): void }>;
  private readonly dropCounters = new Map<TransportDropReason, CounterHandle>();
  private readonly handshakeFailures: Record<'tls' | 'wss', { inc(): void }>;

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
    this.certificates = opts.certificates;
    this.tlsClient = opts.tlsClient ?? { verify: true };
    this.flood = opts.flood;
    const pingMs = opts.wsPingIntervalMs ?? 30_000;
    this.tcp = new TcpListener(this);
    this.hop = new TcpListener(this);
    this.hopListen = opts.hopListen ?? 'off';
    this.ws = new WsListener(this, pingMs);
    if (opts.certificates !== undefined) {
      this.tls = new TcpListener(this, 'tls', tlsServer(opts.certificates, this));
      this.wss = new WsListener(this, pingMs, 'wss', opts.certificates);
    } else if (opts.sip.tls !== 'off' || opts.sip.wss !== 'off') {
      throw new Error('sip.tls / sip.wss need a certificate (TransportLayerOptions.certificates)');
    }
    this.handshakeFailures = { tls: this.metrics.tlsHandshakeFailures.labels('tls'), wss: this.metrics.tlsHandshakeFailures.labels('wss') };
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
    // A bind failure names its key and address (SIPEDGE_ERR_LISTEN), e.g. "sip.tcp 0.0.0.0:5060: address in use".
    const bind = async <A>(key: string, value: string, listen: (host: string, port: number) => Promise<A>): Promise<A | undefined> => {
      const a = bindAddress(value);
      if (!a) return undefined;
      try {
        return await listen(a.host, a.port);
      } catch (e) {
        throw listenError(key, value, e);
      }
    };
    // sip.reusePort shares the stream listeners with the other nodes of this host; UDP never (config/schema.ts).
    const shared = this.sip.reusePort;
    try {
      out.udp = await bind('sip.udp', this.sip.udp, (h, p) => this.udp.listen(h, p));
      out.tcp = await bind('sip.tcp', this.sip.tcp, (h, p) => this.tcp.listen(h, p, shared));
      out.ws = await bind('sip.ws', this.sip.ws, (h, p) => this.ws.listen(h, p, shared));
      out.tls = await bind('sip.tls', this.sip.tls, (h, p) => this.tls!.listen(h, p, shared));
      out.wss = await bind('sip.wss', this.sip.wss, (h, p) => this.wss!.listen(h, p, shared));
      out.hop = await bind('cluster.listen', this.hopListen, (h, p) => this.hop.listen(h, p));
    } catch (err) {
      await this.close();
      throw err;
    }
    this.logger.info({
      event: 'transport.listening',
      udp: out.udp && `${out.udp.address}:${out.udp.port}`,
      tcp: out.tcp && `${out.tcp.address}:${out.tcp.port}`,
      ws: out.ws && `${out.ws.address}:${out.ws.port}`,
      tls: out.tls && `${out.tls.address}:${out.tls.port}`,
      wss: out.wss && `${out.wss.address}:${out.wss.port}`,
      hop: out.hop && `${out.hop.address}:${out.hop.port}`,
      reusePort: shared || undefined,
      udpIo: out.udp && this.udp.io,
      // Why not native (not built, no compiler, SIPEDGE_NATIVE_UDP=0, ...): an operator reading the start log sees it.
      udpIoReason: out.udp && this.udp.io === 'dgram' ? this.udpIoReason : undefined,
    });
    return out;
  }

  /** Stops accepting, destroys every connection (each one's onFlowClosed runs) and closes the UDP socket. */
  async close(): Promise<void> {
    const closing = [this.tcp.close(), this.hop.close(), this.ws.close(), this.udp.close()];
    if (this.tls !== undefined) closing.push(this.tls.close());
    if (this.wss !== undefined) closing.push(this.wss.close());
    if (this.conns.size > 0) {
      closing.push(new Promise((resolve) => (this.allClosed = resolve)));
      for (const conn of [...this.conns.values()]) conn.destroy();
    }
    await Promise.all(closing);
  }

  /** Open connections (TCP, TLS, WS, WSS), accepted and outbound. */
  get connectionCount(): number {
    return this.conns.size;
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

  /**
   * Opens an outbound TLS connection, its certificate checked against `host` (tlsClient); the edge's own certificate
   * is offered when the peer asks for one. Registered, framed and delivered like an accepted one.
   */
  connectTls(host: string, port: number): Promise<Flow> {
    return connectTls(this, host, port, this.tlsClient, this.certificates);
  }

  // ListenerContext: called by the listeners.

  admit(address: string, transport: TransportKind): boolean {
    return this.flood === undefined || this.flood.admit(address, transport);
  }

  deliver(data: Buffer, flow: Flow): void {
    // UDP datagrams were admitted before they were copied (udp.ts); a stream message is admitted here, once framed.
    if (flow.transport !== 'udp' && !this.admit(flow.remoteAddress, flow.transport)) return;
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

  handshakeFailed(transport: 'tls' | 'wss', err: Error & { code?: string }): void {
    this.handshakeFailures[transport].inc();
    this.logger.debug({ event: 'transport.tls.handshake_failed', transport, code: err.code, reason: err.message });
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
