// SIP over TCP (RFC 3261 §18.3): the listener, and one Connection (a Flow) per socket, inbound or outbound. The same
// classes carry SIP over TLS (§26): tls.ts makes the TLS server and sockets. Framing is stream-framer.ts's; ids, registry
// and metrics are the context's.
import net, { type AddressInfo } from 'node:net';
import type { SipError } from '../sip/types.ts';
import { LISTEN_BACKLOG, type Connection, type ListenerContext } from './listener-context.ts';
import { StreamFramer, type FrameSink } from './stream-framer.ts';

/** A peer that reads slower than we write is cut off once this much is queued. */
const MAX_WRITE_BACKLOG_BYTES = 4 * 1024 * 1024;
/** A message that started arriving must be complete within this long (bounds a slow drip); capped by the idle timeout. */
const MESSAGE_DEADLINE_MS = 30_000;
/** How long close() waits for queued writes (e.g. a 513 answer) to flush before it destroys the socket. */
const CLOSE_FLUSH_MS = 2000;
const PONG = Buffer.from('\r\n', 'latin1');

/** Stream transports: plain TCP, or TLS over it. */
export type StreamKind = 'tcp' | 'tls';

/** One TCP (or TLS) connection: framing in, writes out, idle timeout, exactly one close notification. */
export class TcpConnection implements Connection, FrameSink {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  private readonly framer: StreamFramer;
  private open = true;
  /** Date.now() when the current partial message began; 0 when none is pending. */
  private partialSince = 0;
  private readonly messageDeadlineMs: number;

  constructor(
    private readonly ctx: ListenerContext,
    private readonly socket: net.Socket,
    readonly id: string,
    readonly transport: StreamKind = 'tcp',
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.framer = new StreamFramer(ctx.maxMessageBytes);
    const idle = ctx.idleTimeoutMs;
    this.messageDeadlineMs = idle > 0 ? Math.min(idle, MESSAGE_DEADLINE_MS) : MESSAGE_DEADLINE_MS;
    socket.setNoDelay(true);
    if (idle > 0) socket.setTimeout(idle);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => {
      ctx.logger.debug({ event: 'transport.tcp.idle', flow: id, transport });
      socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => ctx.logger.debug({ event: 'transport.tcp.error', flow: id, transport, code: err.code }));
    socket.on('close', () => this.onClose());
  }

  get isReliable(): boolean {
    return true;
  }
  get isOpen(): boolean {
    return this.open;
  }

  send(data: Buffer | string): boolean {
    if (!this.open || this.socket.destroyed || !this.socket.writable) return false;
    try {
      this.socket.write(data);
    } catch {
      return false;
    }
    if (this.socket.writableLength > MAX_WRITE_BACKLOG_BYTES) {
      this.ctx.drop('slow-reader');
      this.socket.destroy();
    }
    return true;
  }

  close(): void {
    if (!this.open) return;
    const socket = this.socket;
    socket.pause();
    socket.end(() => socket.destroy());
    // A peer that never reads would keep the flush (and the socket) pending forever.
    setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS).unref();
  }

  /** Tears down at once, without flushing (shutdown). */
  destroy(): void {
    this.socket.destroy();
  }

  onFrame(frame: Buffer): void {
    this.ctx.deliver(frame, this);
  }

  onPing(): void {
    // RFC 5626 §4.4.1: a CRLFCRLF ping is answered with a single CRLF pong.
    this.send(PONG);
  }

  onMalformedFrame(head: Buffer, error: SipError): void {
    this.ctx.deliverMalformed(head, this, error);
  }

  private onData(chunk: Buffer): void {
    if (!this.open) return;
    const failure = this.framer.push(chunk, this);
    if (failure !== undefined) {
      this.ctx.drop('framing');
      this.ctx.logger.debug({ event: 'transport.tcp.framing', flow: this.id, failure });
      this.close(); // after any answer the sink wrote: end() flushes it first
      return;
    }
    if (!this.framer.hasPartialMessage) {
      this.partialSince = 0;
      return;
    }
    const now = Date.now();
    if (this.partialSince === 0) this.partialSince = now;
    else if (now - this.partialSince > this.messageDeadlineMs) {
      this.ctx.drop('slow-sender');
      this.socket.destroy();
    }
  }

  private onClose(): void {
    if (!this.open) return;
    this.open = false;
    this.ctx.closed(this);
  }
}

/** Makes the listening server; it calls `accept` with each connected (for TLS: handshaken) socket. */
export type StreamServerFactory = (accept: (socket: net.Socket) => void) => net.Server;

const plainServer: StreamServerFactory = (accept) => net.createServer(accept);

/** The TCP (or TLS) listening socket; accepted connections register with the context. */
export class TcpListener {
  private server: net.Server | undefined;

  constructor(
    private readonly ctx: ListenerContext,
    private readonly kind: StreamKind = 'tcp',
    private readonly createServer: StreamServerFactory = plainServer,
  ) {}

  /** With reusePort (sip.reusePort), other processes of this user may listen on the same port (SO_REUSEPORT). */
  listen(host: string, port: number, reusePort = false): Promise<AddressInfo> {
    const server = this.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, backlog: LISTEN_BACKLOG, reusePort }, () => {
        server.off('error', reject);
        server.on('error', (err: NodeJS.ErrnoException) => this.ctx.logger.warn({ event: 'transport.tcp.error', transport: this.kind, code: err.code }));
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; open connections are closed by the transport layer. */
  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    if (socket.remoteAddress === undefined) {
      socket.destroy(); // already reset by the peer
      return;
    }
    const conn = new TcpConnection(this.ctx, socket, this.ctx.nextId(this.kind), this.kind);
    this.ctx.opened(conn, true);
  }
}

/** Opens an outbound TCP connection (RFC 3261 §18.1.1); it frames and delivers like an accepted one. */
export function connectTcp(ctx: ListenerContext, host: string, port: number): Promise<TcpConnection> {
  return connectStream(ctx, 'tcp', net.connect({ host, port }), 'connect');
}

/** How long an outbound connection (and its TLS handshake) may take; ms. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Resolves with the registered connection once `socket` emits `ready` ('connect', or 'secureConnect' for TLS). */
export function connectStream(ctx: ListenerContext, kind: StreamKind, socket: net.Socket, ready: 'connect' | 'secureConnect'): Promise<TcpConnection> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    const onTimeout = (): void => onError(Object.assign(new Error(`${kind} connect timed out`), { code: 'ETIMEDOUT' }));
    socket.once('error', onError);
    socket.setTimeout(CONNECT_TIMEOUT_MS);
    socket.once('timeout', onTimeout);
    socket.once(ready, () => {
      socket.off('error', onError);
      socket.off('timeout', onTimeout);
      socket.setTimeout(0);
      const conn = new TcpConnection(ctx, socket, ctx.nextId(kind), kind);
      ctx.opened(conn, false);
      resolve(conn);
    });
  });
}
