// Server transaction state (RFC 3261 §17.2, RFC 6026): the small table row kept per transaction, and the handle the TU gets.
// The transitions on arrivals and timers are in transaction-layer.ts; matching keys in transaction-key.ts.
import type { ResponseOptions, SipMessage } from '../sip/types.ts';
import type { Flow } from '../transport/flow.ts';
import type { KeptRef, Slab } from './kept-responses.ts';
import type { ServerTransaction } from './types.ts';

/** RFC 3261 §17.1.1.1 / table 4: RTT estimate, ms. */
export const T1 = 500;
/** Longest retransmit interval for non-INVITE requests and INVITE responses, ms. */
export const T2 = 4000;
/** Longest time a message stays in the network, ms. */
export const T4 = 5000;
/** Timer H (wait for ACK), Timer J (non-INVITE Completed on unreliable), Timer L (RFC 6026 Accepted): 64*T1. */
export const TIMER_64T1 = 64 * T1;
/** A non-INVITE the TU never answers is forgotten after this long (the client's Timer F has fired, §17.1.2.2). */
export const NON_INVITE_UNANSWERED_MS = 64 * T1;
/** An INVITE the TU never answers is forgotten after this long (a proxy answers by Timer C, > 3 min, §16.6 step 11). */
export const INVITE_UNANSWERED_MS = 210_000;

/**
 * States of §17.2.1 (INVITE) and §17.2.2 (non-INVITE); Accepted is RFC 6026 §7.1. Trying is the non-INVITE state
 * before any response, and the INVITE's Proceeding state before any provisional: nothing to resend yet.
 */
export const TxState = {
  Trying: 0,
  Proceeding: 1,
  Completed: 2,
  Confirmed: 3,
  Accepted: 4,
  /** drop(): silent; retransmissions are dropped too until the entry expires. */
  Dropped: 5,
  Terminated: 6,
} as const;
export type TxStateValue = (typeof TxState)[keyof typeof TxState];

/**
 * One row of the transaction table. Kept small because ~800 k of them live at 12 k REGISTER/s with a 32 s Timer J:
 * no request, no closure, no timer handle, no Buffer object (the kept response's bytes are in a shared slab, see
 * kept-responses.ts); the flow and TU handle only for INVITEs (Timer G, CANCEL lookup).
 */
export class TxEntry implements KeptRef {
  state: TxStateValue = TxState.Trying;
  /**
   * Where the last response sent is kept: resent on a retransmitted request (§17.2.1, §17.2.2) and by Timer G.
   * keptSlab is undefined when nothing is kept.
   */
  keptSlab: Slab | undefined = undefined;
  keptOffset = 0;
  keptLength = 0;
  /** INVITE only: where Timer G retransmissions go. */
  flow: Flow | undefined = undefined;
  /** INVITE only, until its final response: the TU's handle, for CANCEL matching (§9.2). */
  tx: ServerTx | undefined = undefined;
  /** Slot on the coarse wheel (unanswered limit, Timer H/I/J/L); -1 when none. */
  longSlot = -1;
  /** Slot on the fine wheel (Timer G); -1 when none. */
  shortSlot = -1;
  /** Current Timer G interval, ms. */
  timerG = 0;

  constructor(
    readonly key: string,
    readonly isInvite: boolean,
    readonly isReliable: boolean,
  ) {}
}

/** What a ServerTx needs from the layer that owns it. */
export interface TxOwner {
  /** Builds and sends a response, then moves the entry as §17.2.1 / §17.2.2 say. */
  respond(tx: ServerTx, entry: TxEntry, status: number, reason: string, opts: ResponseOptions | undefined): void;
  /** Sends bytes already built as the response, then moves the entry as respond() does. */
  send(tx: ServerTx, entry: TxEntry, status: number, buf: Buffer): void;
  /** Marks the entry silent (retransmissions dropped) until it expires. */
  drop(entry: TxEntry): void;
}

/** What a StatelessTx needs from the layer that owns it. */
export interface StatelessOwner {
  /** Builds and sends a final response, keeping nothing. */
  respondStateless(tx: StatelessTx, status: number, reason: string, opts: ResponseOptions | undefined): void;
  /** Sends bytes already built as the final response, keeping nothing. */
  sendStateless(tx: StatelessTx, status: number, buf: Buffer): void;
}

/**
 * The TU's handle on a request answered by a stateless UAS (RFC 3261 §8.2.7): no table entry, no kept response, no
 * timer. §8.2.7: a stateless UAS MUST NOT send provisional responses (ignored here) and MUST NOT retransmit; a
 * retransmitted request is processed again and "regenerates the response ... as if it were replying to the first
 * instance". Its To tag is given by the owner, the same for the same request (§8.2.7).
 */
export class StatelessTx implements ServerTransaction {
  private completed = false;
  /** When the request was taken (performance.now(), ms): sipedge_sip_response_seconds measures from here. */
  readonly startedAt = performance.now();

  constructor(
    private readonly owner: StatelessOwner,
    readonly request: SipMessage,
    readonly flow: Flow,
  ) {}

  get isCompleted(): boolean {
    return this.completed;
  }

  respond(status: number, reason: string, opts?: ResponseOptions): void {
    if (this.completed || !(status >= 200 && status <= 699)) return;
    this.completed = true;
    this.owner.respondStateless(this, status, reason, opts);
  }

  relay(status: number, bytes: Buffer): void {
    if (this.completed || !(status >= 200 && status <= 699)) return;
    this.completed = true;
    this.owner.sendStateless(this, status, bytes);
  }

  drop(): void {
    this.completed = true;
  }
}

/** The TU's handle on one server transaction; short-lived (the table keeps only the TxEntry). */
export class ServerTx implements ServerTransaction {
  private completed = false;
  /** When the request was taken (performance.now(), ms): sipedge_sip_response_seconds measures from here. */
  readonly startedAt = performance.now();

  constructor(
    private readonly owner: TxOwner,
    private readonly entry: TxEntry,
    readonly request: SipMessage,
    readonly flow: Flow,
  ) {}

  get isCompleted(): boolean {
    return this.completed;
  }

  respond(status: number, reason: string, opts?: ResponseOptions): void {
    if (this.completed || !(status >= 100 && status <= 699)) return;
    if (status >= 200) this.completed = true;
    this.owner.respond(this, this.entry, status, reason, opts);
  }

  relay(status: number, bytes: Buffer): void {
    if (!(status >= 100 && status <= 699)) return;
    if (this.completed) {
      if (status >= 200 && status < 300 && this.request.method === 'INVITE') this.flow.send(bytes);
      return;
    }
    if (status >= 200) this.completed = true;
    this.owner.send(this, this.entry, status, bytes);
  }

  drop(): void {
    if (this.completed) return;
    this.completed = true;
    this.owner.drop(this.entry);
  }
}
