// The contract between the transaction layer and the services above it (registrar, proxy, media).
// transaction-layer.ts implements it; app.ts picks which TransactionUser gets a request.
import type { SipMessage, ResponseOptions } from '../sip/types.ts';
import type { Flow } from '../transport/flow.ts';

export interface ServerTransaction {
  readonly request: SipMessage;
  /** The flow the request arrived on; responses go back on it (UDP: to received/rport). */
  readonly flow: Flow;
  /**
   * Sends a response. 1xx may be sent several times; the first final response completes the transaction
   * and is kept to answer retransmissions (RFC 3261 §17.2.2 / §17.2.1). Calls after the final one are ignored.
   */
  respond(status: number, reason: string, opts?: ResponseOptions): void;
  /**
   * Sends a response built elsewhere (a proxy relaying a downstream response, RFC 3261 §16.7 step 8): the same state
   * moves and retransmission keeping as respond(). After the final response only a further 2xx to an INVITE is sent
   * (§16.7 step 9: every 2xx is forwarded), without state; anything else is ignored.
   */
  relay(status: number, bytes: Buffer): void;
  /** Ends the transaction without a response (a silent drop, e.g. a banned source); retransmissions are dropped too. */
  drop(): void;
  readonly isCompleted: boolean;
}

export interface TransactionUser {
  /**
   * A new request (never a retransmission) whose Via, From, To, Call-ID, CSeq and Max-Forwards are well-formed.
   * May respond synchronously or later (after a store round trip).
   */
  onRequest(tx: ServerTransaction): void;
  /** An ACK that matches no server transaction (ACK for a 2xx, §17.2.1): dialog level, for the proxy. */
  onStrayAck?(ack: SipMessage, flow: Flow): void;
  /** A response that matches no client transaction. */
  onStrayResponse?(res: SipMessage, flow: Flow): void;
  /** A connection-oriented flow closed. */
  onFlowClosed?(flow: Flow): void;
}

/**
 * A service on the edge that answers requests itself as a UAS (hold music). app.ts's dispatcher asks each
 * local service before routing a request to the proxy: an out-of-dialog request it owns goes through the proxy's
 * admission (request from a configured upstream address, or an authenticated user) and then to onRequest; an
 * in-dialog request of one of its dialogs goes straight to onRequest.
 */
export interface LocalService {
  /** Sync and cheap: an out-of-dialog request addressed to this service, or an in-dialog request of one of its dialogs. */
  owns(req: SipMessage): boolean;
  /** Whether `req` (which owns() accepted) is in one of this service's dialogs (then no admission check). */
  inDialog(req: SipMessage): boolean;
  onRequest(tx: ServerTransaction): void;
  /** An ACK that matched no server transaction (ACK for a 2xx). True when it belonged to this service. */
  onAck?(ack: SipMessage, flow: Flow): boolean;
}
