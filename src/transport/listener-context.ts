// What the UDP, TCP/TLS and WS/WSS listeners share: the handler, limits, metrics, and the registry of open connections.
// transport-layer.ts implements ListenerContext; the listeners never see each other.
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SipError } from '../sip/types.ts';
import type { Flow, TransportHandler, TransportKind } from './flow.ts';

/**
 * Optional extension of TransportHandler: a stream message whose header section is complete but whose framing is
 * broken (missing, malformed or too large Content-Length). The handler may answer it (status from `error`).
 * When the handler lacks it, such frames are dropped and counted.
 */
export interface FramingErrorHandler {
  onMalformedFrame(head: Buffer, flow: Flow, error: SipError): void;
}

/** A connection-oriented flow the transport layer can close. */
export interface Connection extends Flow {
  /** Closes gracefully (pending writes flushed); onFlowClosed follows once. */
  close(): void;
  /** Tears down at once without flushing (shutdown); onFlowClosed follows once. */
  destroy(): void;
}

/**
 * Closed set of `reason` labels for metrics.drops that the transport layer uses ('overload': read from the UDP socket
 * but over its source's share of the messages waiting to be handled, udp.ts).
 */
export type TransportDropReason = 'oversize' | 'framing' | 'slow-sender' | 'slow-reader' | 'handler-error' | 'overload';

export interface ListenerContext {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly maxMessageBytes: number;
  /** 0 disables the idle timeout. */
  readonly idleTimeoutMs: number;
  /**
   * Whether one message from `address` may be read any further (the flood guard's budget and bans); false = drop it
   * now, before copying or parsing it (counted by the guard). UDP asks before copying a datagram; deliver() asks for
   * stream messages.
   */
  admit(address: string, transport: TransportKind): boolean;
  /** Hands one message to the handler; never throws. */
  deliver(data: Buffer, flow: Flow): void;
  /** Hands a mis-framed stream message to the handler (or counts a drop); never throws. */
  deliverMalformed(head: Buffer, flow: Flow, error: SipError): void;
  /** Counts a dropped message or connection. */
  drop(reason: TransportDropReason): void;
  /** Counts a TLS handshake that failed or timed out on an inbound connection. */
  handshakeFailed(transport: 'tls' | 'wss', err: Error & { code?: string }): void;
  /** A unique connection id: 'tcp:<n>', 'ws:<n>'. */
  nextId(kind: TransportKind): string;
  /** Registers an open connection (getFlow, close on shutdown) and counts it; inbound ones count in connectionsTotal. */
  opened(conn: Connection, inbound: boolean): void;
  /** Unregisters a connection and tells the handler; the connection calls it exactly once. */
  closed(conn: Connection): void;
}

/**
 * Accept queue of the TCP, TLS, WS and WSS listeners (listen(2) backlog; Linux caps it at net.core.somaxconn, 4096 by
 * default). Node's 511 overflowed while 300 WebSocket phones/s connected to a busy edge: the kernel then drops the
 * handshake's last ACK and the phone sees ECONNRESET (load-tests/run-ws-clients.ts counted 566 of 5,000, and 0 with
 * 4096; at 500/s on the loaded VM it still overflowed: README, "Many WebSocket phones").
 */
export const LISTEN_BACKLOG = 4096;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/** True for a CRLF keep-alive or any all-whitespace message (phones send CRLFCRLF over UDP and WS too); also for empty. */
export function isKeepAlive(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b !== CR && b !== LF && b !== SP && b !== HT) return false;
  }
  return true;
}
