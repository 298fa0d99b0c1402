// SIP over WebSocket (RFC 7118): subprotocol `sip`, one SIP message per WS message, pings to find dead peers; plain (ws)
// or over TLS (wss, RFC 7118 §3). The HTTP upgrade and WS framing are the `ws` package's; the certificate is
// certificates.ts's; ids, registry and metrics are the context's.
import type { AddressInfo } from 'node:net';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { CredentialSource } from './certificates.ts';
import { isKeepAlive, LISTEN_BACKLOG, type Connection, type ListenerContext } from './listener-context.ts';
import { followCertificate, secureServerOptions } from './tls.ts';

/** WebSocket listeners: plain, or over TLS. */
export type WsKind = 'ws' | 'wss';

const SUBPROTOCOL = 'sip';
/** RFC 6455 §7.4.1: 1002 protocol error; used when the client did not offer `sip` (RFC 7118 §4.1). */
const CLOSE_PROTOCOL_ERROR = 1002;
const MAX_WRITE_BACKLOG_BYTES = 4 * 1024 * 1024;
const SEND_TEXT = { binary: false } as const;
const SEND_BINARY = { binary: true } as const;
const PONG = '\r\n';
/**
 * The ping sweep visits a slice of the connections every tick, so that each is pinged about once per interval without
 * one turn of the event loop writing a ping to every connection (a pass is linear in the connections, and the edge is
 * meant to hold 100,000 of them: README, "Many WebSocket phones").
 */
const SWEEP_TICK_MS = 100;

function isPing(buf: Buffer): boolean {
  return buf.length === 4 && buf[0] === 13 && buf[1] === 10 && buf[2] === 13 && buf[3] === 10;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * The WsConnection of a `ws` socket. Every connection shares the four listeners below (EventEmitter calls them with the
 * socket as `this`) instead of holding closures of its own: at 100,000 phones each closure, its context and a once()
 * wrapper are memory the edge holds for every idle peer (README, "Many WebSocket phones").
 */
const CONNECTION = Symbol('sipedge.wsConnection');
type TaggedWs = WebSocket & { [CONNECTION]: WsConnection };

function onWsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as TaggedWs)[CONNECTION].onWsMessage(data, isBinary);
}
function onWsPong(this: WebSocket): void {
  (this as TaggedWs)[CONNECTION].isAlive = true;
}
function onWsError(this: WebSocket, err: Error & { code?: string }): void {
  (this as TaggedWs)[CONNECTION].onError(err);
}
function onWsClose(this: WebSocket): void {
  (this as TaggedWs)[CONNECTION].onClose();
}

/** One WebSocket peer. Replies use the frame type (text or binary) the client last used. */
class WsConnection implements Connection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  private open = true;
  private binary = false;
  /** Set by each pong or message; the ping sweep terminates peers that stayed silent for a whole interval. */
  isAlive = true;
  /** Date.now() of the last SIP message (or keep-alive) from the peer. */
  lastActivity = Date.now();

  constructor(
    private readonly ctx: ListenerContext,
    private readonly ws: WebSocket,
    req: IncomingMessage,
    readonly id: string,
    readonly transport: WsKind,
    /** The listener's open connections; this one leaves it when it closes. */
    private readonly registry: Set<WsConnection>,
  ) {
    this.remoteAddress = req.socket.remoteAddress ?? '';
    this.remotePort = req.socket.remotePort ?? 0;
    this.localAddress = req.socket.localAddress ?? '';
    this.localPort = req.socket.localPort ?? 0;
    (ws as TaggedWs)[CONNECTION] = this;
    ws.on('message', onWsMessage);
    ws.on('pong', onWsPong);
    ws.on('error', onWsError);
    ws.on('close', onWsClose);
  }

  get isReliable(): boolean {
    return true;
  }
  get isOpen(): boolean {
    return this.open;
  }

  send(data: Buffer | string): boolean {
    if (!this.open || this.ws.readyState !== WebSocket.OPEN) return false;
    try {
      this.ws.send(data, this.binary ? SEND_BINARY : SEND_TEXT);
    } catch {
      return false;
    }
    if (this.ws.bufferedAmount > MAX_WRITE_BACKLOG_BYTES) {
      this.ctx.drop('slow-reader');
      this.ws.terminate();
    }
    return true;
  }

  close(): void {
    if (this.open) this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }

  /** Called by the ping sweep: returns false when the peer is dead or idle and was terminated. */
  sweep(now: number, idleTimeoutMs: number): boolean {
    if (!this.isAlive || (idleTimeoutMs > 0 && now - this.lastActivity > idleTimeoutMs)) {
      this.ws.terminate();
      return false;
    }
    this.isAlive = false;
    try {
      this.ws.ping();
    } catch {
      this.ws.terminate();
    }
    return true;
  }

  onWsMessage(data: RawData, isBinary: boolean): void {
    this.isAlive = true;
    this.lastActivity = Date.now();
    this.binary = isBinary;
    const buf = toBuffer(data);
    if (isKeepAlive(buf)) {
      // RFC 5626 §4.4.1 style keep-alive inside a WS message: CRLFCRLF gets a CRLF pong; other whitespace is ignored.
      if (isPing(buf)) this.send(PONG);
      return;
    }
    this.ctx.deliver(buf, this);
  }

  onError(err: Error & { code?: string }): void {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.ctx.drop('oversize');
    this.ctx.logger.debug({ event: 'transport.ws.error', flow: this.id, code: err.code });
  }

  onClose(): void {
    this.registry.delete(this);
    if (!this.open) return;
    this.open = false;
    this.ctx.closed(this);
  }
}

/** A plain HTTP request on a WebSocket port: RFC 7231 §6.5.15 426, this port only speaks SIP over WebSocket. */
function upgradeRequired(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Type': 'text/plain' });
  res.end('SIP over WebSocket (RFC 7118, subprotocol sip) only\n');
}

/** The WebSocket listener: negotiates `sip`, refuses others with 1002, pings every interval. */
export class WsListener {
  private wss: WebSocketServer | undefined;
  private server: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly conns = new Set<WsConnection>();
  /** Where the ping sweep's pass stands. */
  private cursor: Iterator<WsConnection> | undefined;

  constructor(
    private readonly ctx: ListenerContext,
    private readonly pingIntervalMs: number,
    private readonly kind: WsKind = 'ws',
    /** The certificate of a wss listener. */
    private readonly certs?: CredentialSource,
  ) {}

  /** With reusePort (sip.reusePort), other processes of this user may listen on the same port (SO_REUSEPORT). */
  listen(host: string, port: number, reusePort = false): Promise<AddressInfo> {
    let server: http.Server;
    if (this.kind === 'wss') {
      if (this.certs === undefined) throw new Error('a wss listener needs a certificate');
      const secure = https.createServer(secureServerOptions(this.certs), upgradeRequired);
      followCertificate(secure, this.certs, this.ctx, 'wss');
      server = secure;
    } else server = http.createServer(upgradeRequired);
    this.server = server;
    const wss = new WebSocketServer({
      server,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: this.ctx.maxMessageBytes,
      // ws 8 passes a Set; returning false omits the header but the handshake still succeeds, hence the check below.
      handleProtocols: (protocols: Set<string>) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.wss = wss;
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.accept(ws, req));
    wss.on('error', () => undefined); // the server's own errors are reported below
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, backlog: LISTEN_BACKLOG, reusePort }, () => {
        server.off('error', reject);
        server.on('error', (err: NodeJS.ErrnoException) => this.ctx.logger.warn({ event: 'transport.ws.error', transport: this.kind, code: err.code }));
        const slices = Math.max(1, Math.floor(this.pingIntervalMs / SWEEP_TICK_MS));
        this.timer = setInterval(() => this.sweep(slices), this.pingIntervalMs / slices);
        this.timer.unref();
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting and pinging; open connections are closed by the transport layer. */
  close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const { wss, server } = this;
    this.wss = undefined;
    this.server = undefined;
    if (wss === undefined || server === undefined) return Promise.resolve();
    return new Promise((resolve) =>
      wss.close(() => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
    );
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    if (ws.protocol !== SUBPROTOCOL) {
      // RFC 7118 §4.1: the client MUST offer `sip`; without it this is not a SIP peer.
      ws.on('error', () => undefined);
      ws.close(CLOSE_PROTOCOL_ERROR, 'sip subprotocol required');
      return;
    }
    const conn = new WsConnection(this.ctx, ws, req, this.ctx.nextId(this.kind), this.kind, this.conns);
    this.conns.add(conn);
    this.ctx.opened(conn, true);
  }

  /** One tick: the next 1/slices of the connections (a pass ends early; the next tick starts the next pass). */
  private sweep(slices: number): void {
    const now = Date.now();
    for (let n = Math.ceil(this.conns.size / slices); n > 0; n--) {
      // A Set's iterator sees deletions and later additions, so the cursor stays valid across ticks.
      this.cursor ??= this.conns.values();
      const next = this.cursor.next();
      if (next.done === true) {
        this.cursor = undefined;
        return;
      }
      next.value.sweep(now, this.ctx.idleTimeoutMs);
    }
  }
}
