// Client transactions (RFC 3261 §17.1): retransmit a request we send, time it out, match its responses, ACK non-2xx
// finals to INVITE. Choosing the destination, the branch and what a response means are the TU's (proxy/); bytes are transport/'s.
import { buildAck as buildHopAck } from '../sip/forward.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import { parseMessage } from '../sip/parser.ts';
import { buildRequest } from '../sip/request.ts';
import { SipError, type SipMessage } from '../sip/types.ts';
import type { Flow } from '../transport/flow.ts';
import { T1, T2, T4 } from './server-transaction.ts';
import { TimerWheel } from './timer-wheel.ts';

/** Timer B (INVITE) and Timer F (non-INVITE): 64*T1, ms. */
const TIMER_B = 64 * T1;
const TIMER_F = 64 * T1;
/** Timer D: wait for final-response retransmissions after ACKing a non-2xx, unreliable transports, ms (§17.1.1.2: at least 32 s). */
const TIMER_D = 32_000;
/** Timer K: absorb final-response retransmissions of a non-INVITE, unreliable transports, ms (§17.1.2.2: T4). */
const TIMER_K = T4;

/** Bucket widths, as for the server side: fine for T1-scale retransmits (Timers A, E), coarse for B, D, F, K. */
const SHORT_RESOLUTION_MS = 50;
const LONG_RESOLUTION_MS = 500;

/** What the TU hears from one client transaction; each is called at most once, except onResponse for provisionals. */
export interface ClientTransactionHandlers {
  /** Every provisional, and the final response once; retransmitted finals are absorbed (§17.1.1.2, §17.1.2.2). */
  onResponse(res: SipMessage): void;
  /** Timer B (INVITE, still in Calling) or Timer F (non-INVITE) fired with no final response (§8.1.3.1: act as on 408). */
  onTimeout(): void;
  /** The flow refused the request (closed connection, §17.1.1.2 / §17.1.2.2 transport error); absent: onTimeout is called. */
  onTransportError?(): void;
}

/** What send() needs besides the bytes. */
export interface ClientTransactionMeta {
  /** The request's method (CSeq method); 'INVITE' selects the §17.1.1 machine, anything else §17.1.2. */
  method: string;
  /** The branch of the request's top Via (§8.1.1.7), already written into the bytes. */
  branch: string;
  /** Where the request, its retransmissions and any ACK go. */
  flow: Flow;
  /** The top Via sent-by as "host:port" (port 0 when absent), lower-case host; given, it saves parsing the request. */
  sentBy?: string;
}

/** The TU's grip on a live client transaction. */
export interface ClientTransactionHandle {
  readonly method: string;
  readonly branch: string;
  /** True once a final response arrived, or the transaction timed out or was cancelled. */
  readonly isCompleted: boolean;
  /**
   * Stops retransmissions and timeouts and forgets the transaction: no handler is called again, and later responses
   * go to the TU's onStrayResponse. For a TU that gives up on its own (e.g. §16.6 step 11 Timer C has run out).
   */
  cancelTimers(): void;
}

/**
 * States of §17.1.1.2 (INVITE: Calling, Proceeding, Completed) and §17.1.2.2 (non-INVITE: Trying, Proceeding,
 * Completed). Calling and Trying share a value: the state before any response.
 */
const State = { Calling: 0, Proceeding: 1, Completed: 2, Terminated: 3 } as const;
type StateValue = (typeof State)[keyof typeof State];

class ClientTx implements ClientTransactionHandle {
  state: StateValue = State.Calling;
  /** Current Timer A / Timer E interval, ms. */
  interval = T1;
  /** Slot on the fine wheel (Timer A/E); -1 when none. */
  shortSlot = -1;
  /** Slot on the coarse wheel (Timer B/D/F/K); -1 when none. */
  longSlot = -1;
  /** INVITE only: the ACK for a 300-699 final, kept for the final's retransmissions (§17.1.1.2 Completed). */
  ack: Buffer | undefined = undefined;

  constructor(
    private readonly owner: ClientTransactions,
    readonly key: string,
    readonly method: string,
    readonly branch: string,
    readonly isInvite: boolean,
    readonly flow: Flow,
    /** Kept until a response stops retransmission (INVITE: also until the ACK is built). */
    public request: Buffer | undefined,
    /** Top Via sent-by of the request, "host:port" (port 0 when absent), checked on each response. */
    readonly sentBy: string,
    /** Dropped on terminate (see ClientTransactions.terminate). */
    public handlers: ClientTransactionHandlers,
  ) {}

  get isCompleted(): boolean {
    return this.state >= State.Completed;
  }

  cancelTimers(): void {
    this.owner.terminate(this);
  }
}

export interface ClientTransactionsOptions {
  clock: Clock;
  logger: Logger;
  /** Counts each absorbed retransmitted final response (metrics.retransmissions). */
  retransmissions: { inc(): void };
  /** Anything unexpected (a handler that throws): the owner counts and logs it. */
  onError: (err: unknown) => void;
  /** Called after each coarse tick with the live count (metrics.clientTransactions). */
  onSize?: (size: number) => void;
}

/**
 * The live client transactions, keyed by branch and CSeq method (§17.1.3). Per transaction: one ClientTx, a Map entry
 * and wheel slots; the request bytes only while they may be retransmitted (or, for INVITE, until the ACK is built).
 */
export class ClientTransactions {
  private readonly logger: Logger;
  private readonly retransmissions: { inc(): void };
  private readonly onError: (err: unknown) => void;
  private readonly table = new Map<string, ClientTx>();
  private readonly short: TimerWheel<ClientTx>;
  private readonly long: TimerWheel<ClientTx>;

  constructor(opts: ClientTransactionsOptions) {
    this.logger = opts.logger;
    this.retransmissions = opts.retransmissions;
    this.onError = opts.onError;
    this.short = new TimerWheel<ClientTx>({
      clock: opts.clock,
      resolutionMs: SHORT_RESOLUTION_MS,
      onExpire: (tx, slot) => this.onRetransmitTimer(tx, slot),
      onError: this.onError,
    });
    this.long = new TimerWheel<ClientTx>({
      clock: opts.clock,
      resolutionMs: LONG_RESOLUTION_MS,
      onExpire: (tx, slot) => this.onLongTimer(tx, slot),
      onTick: opts.onSize === undefined ? undefined : () => opts.onSize!(this.table.size),
      onError: this.onError,
    });
  }

  /** Live client transactions. */
  get size(): number {
    return this.table.size;
  }

  tick(): void {
    this.short.tick();
    this.long.tick();
  }

  /** Stops the timers and forgets every transaction without calling any handler. */
  close(): void {
    this.short.close();
    this.long.close();
    for (const tx of this.table.values()) tx.state = State.Terminated;
    this.table.clear();
  }

  /**
   * Starts a client transaction: sends `request` (serialized, top Via branch = meta.branch) on meta.flow now.
   * A flow that refuses it reports onTransportError on a microtask, after send() has returned the handle.
   * Throws SipError when the request has no parsable top Via or CSeq (a bug in the caller, not a network event).
   */
  send(request: Buffer, meta: ClientTransactionMeta, handlers: ClientTransactionHandlers): ClientTransactionHandle {
    let sentBy = meta.sentBy;
    if (sentBy === undefined) {
      const via = parseMessage(request).topVia;
      sentBy = via.host + ':' + via.port;
    }
    const isInvite = meta.method === 'INVITE';
    const key = clientKey(meta.branch, meta.method);
    const tx = new ClientTx(this, key, meta.method, meta.branch, isInvite, meta.flow, request, sentBy, handlers);
    // A branch is unique per transaction (§8.1.1.7); a reused one replaces the older transaction silently.
    const older = this.table.get(key);
    if (older !== undefined) this.terminate(older);
    this.table.set(key, tx);
    if (!meta.flow.send(request)) {
      const h = this.terminate(tx);
      queueMicrotask(() => this.transportError(h));
      return tx;
    }
    // §17.1.1.2 Calling: Timer A = T1 on unreliable transports; Timer B = 64*T1 always.
    // §17.1.2.2 Trying: Timer E = T1 on unreliable transports; Timer F = 64*T1 always.
    if (!meta.flow.isReliable) tx.shortSlot = this.short.schedule(tx, T1);
    else tx.request = isInvite ? request : undefined;
    tx.longSlot = this.long.schedule(tx, isInvite ? TIMER_B : TIMER_F);
    return tx;
  }

  /**
   * Hands a response to the client transaction it belongs to (§17.1.3: top Via branch and CSeq method, and the
   * sent-by we wrote). Returns false when none matches: the layer passes it to the TU as a stray response.
   */
  matchResponse(res: SipMessage, _flow: Flow): boolean {
    let tx: ClientTx | undefined;
    try {
      const via = res.topVia;
      tx = this.table.get(clientKey(via.branch, res.cseq.method));
      if (tx === undefined || via.host + ':' + via.port !== tx.sentBy) return false;
    } catch {
      // A response without a usable top Via or CSeq matches nothing; the stray path decides what to do with it.
      return false;
    }
    const status = res.status;
    if (tx.state === State.Completed) {
      // §17.1.1.2 Completed: a retransmitted final re-sends the ACK and is not passed up. §17.1.2.2 Completed: absorbed.
      if (tx.ack !== undefined && status >= 300) tx.flow.send(tx.ack);
      this.retransmissions.inc();
      return true;
    }
    if (status < 200) this.provisional(tx, res);
    else if (tx.isInvite) this.inviteFinal(tx, res);
    else this.nonInviteFinal(tx, res);
    return true;
  }

  private provisional(tx: ClientTx, res: SipMessage): void {
    if (tx.isInvite) {
      // §17.1.1.2: a provisional in Calling -> Proceeding; the request SHOULD NOT be retransmitted any longer, and
      // Timer B applies only in Calling. The TU bounds Proceeding itself (§16.6 step 11 Timer C) and calls cancelTimers().
      if (tx.state === State.Calling) {
        tx.state = State.Proceeding;
        tx.shortSlot = -1;
        tx.longSlot = -1;
      }
    } else if (tx.state === State.Calling) {
      // §17.1.2.2: a provisional in Trying -> Proceeding; Timer E keeps running, reset to T2 when it next fires.
      tx.state = State.Proceeding;
    }
    this.deliver(tx.handlers, res);
  }

  private inviteFinal(tx: ClientTx, res: SipMessage): void {
    if (res.status < 300) {
      // §17.1.1.2: a 2xx in Calling or Proceeding goes to the TU and the transaction ends; the TU sends the ACK for
      // the 2xx and gets its retransmissions as stray responses (§13.2.2.4).
      this.deliver(this.terminate(tx), res);
      return;
    }
    // §17.1.1.2: 300-699 -> Completed; the ACK is sent (§17.1.1.3) and Timer D = 32 s on unreliable, zero on reliable.
    tx.state = State.Completed;
    tx.shortSlot = -1;
    try {
      tx.ack = buildAck(tx.request!, res);
    } catch (err) {
      // Our own request is always well-formed; a response To we cannot copy is counted and the ACK skipped.
      this.onError(err);
    }
    tx.request = undefined;
    if (tx.ack !== undefined) tx.flow.send(tx.ack);
    const handlers = tx.handlers;
    if (tx.flow.isReliable) this.terminate(tx);
    else tx.longSlot = this.long.schedule(tx, TIMER_D);
    this.deliver(handlers, res);
  }

  private nonInviteFinal(tx: ClientTx, res: SipMessage): void {
    // §17.1.2.2: a final in Trying or Proceeding -> Completed; Timer K = T4 on unreliable, zero on reliable.
    tx.state = State.Completed;
    tx.shortSlot = -1;
    tx.request = undefined;
    const handlers = tx.handlers;
    if (tx.flow.isReliable) this.terminate(tx);
    else tx.longSlot = this.long.schedule(tx, TIMER_K);
    this.deliver(handlers, res);
  }

  /** Timer A (INVITE, Calling) or Timer E (non-INVITE, Trying/Proceeding) fired: retransmit. */
  private onRetransmitTimer(tx: ClientTx, slot: number): void {
    if (slot !== tx.shortSlot || tx.request === undefined) return;
    if (tx.isInvite ? tx.state !== State.Calling : tx.state > State.Proceeding) return;
    if (!tx.flow.send(tx.request)) {
      this.transportError(this.terminate(tx));
      return;
    }
    if (tx.isInvite) {
      // §17.1.1.2 Timer A: retransmit and double the interval; no T2 cap for the INVITE request.
      tx.interval *= 2;
    } else if (tx.state === State.Calling) {
      // §17.1.2.2 Trying, Timer E: retransmit, next interval MIN(2*T1-interval, T2).
      tx.interval = Math.min(tx.interval * 2, T2);
    } else {
      // §17.1.2.2 Proceeding, Timer E: retransmit, next interval T2.
      tx.interval = T2;
    }
    tx.shortSlot = this.short.schedule(tx, tx.interval);
  }

  /** Timer B / F (timeout) or Timer D / K (end of Completed). */
  private onLongTimer(tx: ClientTx, slot: number): void {
    if (slot !== tx.longSlot) return;
    const timedOut = tx.state < State.Completed;
    const handlers = this.terminate(tx);
    if (!timedOut) return;
    // §17.1.1.2 Timer B in Calling / §17.1.2.2 Timer F in Trying or Proceeding: inform the TU of the timeout.
    this.logger.debug({ event: tx.isInvite ? 'transaction.timer-b' : 'transaction.timer-f', branch: tx.branch });
    try {
      handlers.onTimeout();
    } catch (err) {
      this.onError(err);
    }
  }

  private transportError(handlers: ClientTransactionHandlers): void {
    try {
      if (handlers.onTransportError !== undefined) handlers.onTransportError();
      else handlers.onTimeout();
    } catch (err) {
      this.onError(err);
    }
  }

  private deliver(handlers: ClientTransactionHandlers, res: SipMessage): void {
    try {
      handlers.onResponse(res);
    } catch (err) {
      this.onError(err);
    }
  }

  /**
   * Ends tx: out of the table, its wheel slots go stale, no handler runs again. Returns the handlers it had: they are
   * dropped from tx, because the wheels keep a stale entry until its bucket is due (Timer B's 32 s after a 2xx) and
   * the handlers hold the TU's whole request (proxy/'s branch and its request).
   */
  terminate(tx: ClientTx): ClientTransactionHandlers {
    if (this.table.get(tx.key) === tx) this.table.delete(tx.key);
    const handlers = tx.handlers;
    tx.handlers = DETACHED;
    tx.state = State.Terminated;
    tx.shortSlot = -1;
    tx.longSlot = -1;
    tx.request = undefined;
    tx.ack = undefined;
    return handlers;
  }
}

/** What a terminated transaction holds instead of its handlers (none of them is called again). */
const DETACHED: ClientTransactionHandlers = { onResponse: () => undefined, onTimeout: () => undefined };

/** §17.1.3: branch and CSeq method identify the client transaction (sent-by is checked after the lookup). */
function clientKey(branch: string, method: string): string {
  return branch + ' ' + method;
}

/**
 * The ACK for a 300-699 final to `invite` (§17.1.1.3): the INVITE's Request-URI, Call-ID, From and CSeq number, the
 * response's To (with its tag), only the INVITE's top Via, and the INVITE's Route headers.
 */
function buildAck(invite: Buffer, res: SipMessage): Buffer {
  return buildHopAck(parseMessage(invite), res);
}
