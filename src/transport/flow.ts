// Flow: the way back to one peer (a UDP address:port on a listening socket, or one TCP/WS connection).
// Listeners and connection handling live in udp.ts, tcp.ts, ws.ts; the manager in transport-layer.ts.

export type TransportKind = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export interface Flow {
  /** Unique and stable for the flow's life: 'udp:<local>:<ip>:<port>' for UDP, a counter-based id for connections. */
  readonly id: string;
  readonly transport: TransportKind;
  /** True for TCP/TLS/WS/WSS. */
  readonly isReliable: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** False once the connection closed (always true for UDP). */
  readonly isOpen: boolean;
  /** Sends one complete SIP message; returns false when the flow is closed. Never throws. */
  send(data: Buffer | string): boolean;
}

export interface TransportHandler {
  /** One complete SIP message (a datagram, a framed stream message or a WS message) from a flow. */
  onMessage(data: Buffer, flow: Flow): void;
  /** A connection-oriented flow closed (either side, or idle timeout). */
  onFlowClosed(flow: Flow): void;
}
