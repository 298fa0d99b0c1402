// The live server transactions (RFC 3261 §17.2, RFC 6026): the keyed table, the two timer wheels, every state transition;
// and the stateless UAS (§8.2.7) for requests that get no transaction.
// Parsing and answering malformed messages happen before, in transaction-layer.ts; what a request means is the TU's.
import type { Clock } from '../clock.ts';
import { finalClassIndex, type HistogramCell } from '../observability/fast-histogram.ts';
import type { Logger } from '../observability/logger.ts';
import { newTag } from '../sip/random.ts';
import type { ResponseOptions, SipMessage } from '../sip/types.ts';
import type { Flow } from '../transport/flow.ts';
import { KeptResponses } from './kept-responses.ts';
import type { ResponseBuilder } from './response-builder.ts';
import {
  INVITE_UNANSWERED_MS,
  NON_INVITE_UNANSWERED_MS,
  ServerTx,
  StatelessTx,
  type StatelessOwner,
  T1,
  T2,
  T4,
  TIMER_64T1,
  TxEntry,
  TxState,
  type TxOwner,
} from './server-transaction.ts';
import { TimerWheel } from './timer-wheel.ts';
import { transactionKey } from './transaction-key.ts';
import type { ServerTransaction, TransactionUser } from './types.ts';

/** Bucket widths: coarse for 32 s-scale expiries, fine for T1-scale retransmits (Timer G fires within 50 ms of due). */
const LONG_RESOLUTION_MS = 500;
const SHORT_RESOLUTION_MS = 50;

export interface ServerTransactionTableOptions {
  tu: TransactionUser;
  logger: Logger;
  clock: Clock;
  responses: ResponseBuilder;
  /** Counts each absorbed retransmission (metrics.retransmissions). */
  retransmissions: { inc(): void };
  /**
   * Request-to-final-response time cells by method (cellsByFinalClass of metrics.sipResponseSeconds); methods not in
   * the map use `otherResponseTimes`.
   */
  responseTimes: Map<string, HistogramCell[]>;
  otherResponseTimes: HistogramCell[];
  /** Called after each coarse tick with the live count and the kept responses (metrics.transactions, keptResponses). */
  onSize: (size: number, kept: number, keptBytes: number) => void;
  /** Anything unexpected (a bug): the owner counts and logs it. */
  onError: (err: unknown) => void;
}

/**
 * Memory per transaction is one TxEntry (key, slots, where its kept response is) plus a Map and a wheel slot, and the
 * kept response's bytes in a shared slab (kept-responses.ts): no closure, no Buffer and no setTimeout per transaction.
 * load-tests/micro/transaction.bench.ts measures it at ~800 k live entries.
 */
export class ServerTransactionTable implements TxOwner, StatelessOwner {
  private readonly tu: TransactionUser;
  private readonly logger: Logger;
  private readonly responses: ResponseBuilder;
  private readonly retransmissions: { inc(): void };
  private readonly responseTimes: Map<string, HistogramCell[]>;
  private readonly otherResponseTimes: HistogramCell[];
  private readonly onError: (err: unknown) => void;
  private readonly table = new Map<string, TxEntry>();
  private readonly kept = new KeptResponses();
  private readonly long: TimerWheel<TxEntry>;
  private readonly short: TimerWheel<TxEntry>;
  /** The fixed part of the To tags of stateless responses (statelessTag). */
  private readonly tagPrefix = newTag();

  constructor(opts: ServerTransactionTableOptions) {
    this.tu = opts.tu;
    this.logger = opts.logger;
    this.responses = opts.responses;
    this.retransmissions = opts.retransmissions;
    this.responseTimes = opts.responseTimes;
    this.otherResponseTimes = opts.otherResponseTimes;
    this.onError = opts.onError;
    const onSize = opts.onSize;
    this.long = new TimerWheel<TxEntry>({
      clock: opts.clock,
      resolutionMs: LONG_RESOLUTION_MS,
      onExpire: (entry, slot) => this.onLongTimer(entry, slot),
      onTick: () => onSize(this.table.size, this.kept.count, this.kept.bytes),
      onError: this.onError,
    });
    this.short = new TimerWheel<TxEntry>({
      clock: opts.clock,
      resolutionMs: SHORT_RESOLUTION_MS,
      onExpire: (entry, slot) => this.onTimerG(entry, slot),
      onError: this.onError,
    });
  }

  get size(): number {
    return this.table.size;
  }

  tick(): void {
    this.short.tick();
    this.long.tick();
  }

  close(): void {
    this.long.close();
    this.short.close();
    this.table.clear();
    this.kept.clear();
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2: same §17.2.3 matching, method INVITE), while unanswered. */
  matchInvite(cancel: SipMessage): ServerTransaction | undefined {
    try {
      return this.table.get(transactionKey(cancel, 'INVITE'))?.tx;
    } catch {
      return undefined;
    }
  }

  /**
   * A well-formed request the TU answers as a stateless UAS (RFC 3261 §8.2.7): no transaction is created or matched,
   * and a retransmission reaches the TU again. For requests whose answer does not depend on having seen them before.
   */
  receiveStateless(msg: SipMessage, flow: Flow): void {
    const tx = new StatelessTx(this, msg, flow);
    try {
      this.tu.onRequest(tx);
    } catch (err) {
      this.onError(err);
      if (!tx.isCompleted) tx.respond(500, 'Server Internal Error');
    }
  }

  /** A well-formed request other than ACK, with its §17.2.3 key: a retransmission, or a new transaction for the TU. */
  receiveRequest(msg: SipMessage, key: string, flow: Flow): void {
    const found = this.table.get(key);
    if (found !== undefined) {
      this.retransmission(found, flow);
      return;
    }
    const isInvite = msg.method === 'INVITE';
    const entry = new TxEntry(key, isInvite, flow.isReliable);
    this.table.set(key, entry);
    entry.longSlot = this.long.schedule(entry, isInvite ? INVITE_UNANSWERED_MS : NON_INVITE_UNANSWERED_MS);
    const tx = new ServerTx(this, entry, msg, flow);
    if (isInvite) {
      entry.tx = tx;
      entry.flow = flow;
    }
    try {
      this.tu.onRequest(tx);
    } catch (err) {
      this.onError(err);
      if (!tx.isCompleted) tx.respond(500, 'Server Internal Error');
    }
  }

  /** A well-formed ACK, keyed for the INVITE transaction it may acknowledge. */
  receiveAck(ack: SipMessage, key: string, flow: Flow): void {
    const entry = this.table.get(key);
    if (entry === undefined || !entry.isInvite) {
      // §17.2.1: the ACK for a 2xx has its own branch and matches nothing; it belongs to the dialog (TU).
      this.tu.onStrayAck?.(ack, flow);
      return;
    }
    switch (entry.state) {
      case TxState.Completed:
        // §17.2.1: ACK in Completed -> Confirmed; Timer G stops; Timer I = T4 on unreliable, zero on reliable.
        entry.state = TxState.Confirmed;
        entry.shortSlot = -1;
        this.kept.release(entry);
        entry.flow = undefined;
        if (entry.isReliable) this.terminate(entry);
        else entry.longSlot = this.long.reschedule(entry, entry.longSlot, T4);
        return;
      case TxState.Confirmed:
        // §17.2.1: further ACKs are absorbed in Confirmed.
        this.retransmissions.inc();
        return;
      case TxState.Accepted:
        // RFC 6026 §7.1: an ACK matching an Accepted transaction is passed to the TU.
        this.tu.onStrayAck?.(ack, flow);
        return;
      default:
        // Trying/Proceeding (no final to acknowledge yet) or Dropped: nothing to do.
        return;
    }
  }

  /** A request that matched a live transaction (§17.2.3): it never reaches the TU. */
  private retransmission(entry: TxEntry, flow: Flow): void {
    this.retransmissions.inc();
    switch (entry.state) {
      case TxState.Proceeding:
      // §17.2.1 / §17.2.2 Proceeding: a retransmission gets the most recent provisional response again.
      case TxState.Completed: {
        // §17.2.1 / §17.2.2 Completed: a retransmission gets the final response again.
        const bytes = this.kept.copy(entry);
        if (bytes !== undefined) flow.send(bytes);
        return;
      }
      default:
        // §17.2.2 Trying: discarded. §17.2.1 Confirmed: absorbed. RFC 6026 §7.1 Accepted: not passed to the TU.
        // Dropped: silent, like the original.
        return;
    }
  }

  // TxOwner: called by ServerTx.

  respond(tx: ServerTx, entry: TxEntry, status: number, reason: string, opts: ResponseOptions | undefined): void {
    let buf: Buffer;
    try {
      buf = this.responses.build(tx.request, status, reason, opts);
    } catch (err) {
      this.onError(err);
      return;
    }
    if (isChallengeWithoutCredentials(entry, status, tx.request)) {
      // The edge's own challenge to an INVITE that carried no credentials ends the transaction at once, as a stateless
      // UAS's would (§8.2.7: "to handle unauthenticated requests for which a challenge response is issued"; Kamailio's
      // auth_challenge answers so): no Timer G resending it, no entry held for Timer H. A flood of unauthenticated
      // INVITEs from sources that never ACK otherwise kept a transaction each for 32 s and got eleven 407s back per
      // INVITE (load-tests/run-flood.ts --timeline: ~14,000 live transactions after a flood's first second, their
      // resent 407s 13.6 % of the edge's CPU). A lost 407 brings the INVITE again, which gets a fresh challenge; the
      // ACK for a 407 then matches nothing and goes to the TU, which drops an ACK that names no route of ours.
      tx.flow.send(buf);
      this.observe(tx, status);
      this.terminate(entry);
      return;
    }
    this.send(tx, entry, status, buf);
  }

  send(tx: ServerTx, entry: TxEntry, status: number, buf: Buffer): void {
    // §18.2.2 / RFC 3581: responses go back where the request came from (source address and port, as if rport were
    // always asked for: an edge's phones sit behind NAT). TODO(§18.2.2): when a TCP connection closed before the
    // response, open a new one to received/sent-by; today the response is lost and the phone's retransmission or
    // re-registration recovers, which is acceptable for an edge whose stream clients keep their connection (RFC 5626).
    tx.flow.send(buf);
    // A response after the entry expired unanswered is still sent, but nothing is kept for it.
    if (entry.state >= TxState.Completed) return;
    if (status < 200) {
      // §17.2.1 / §17.2.2: a provisional response moves to (or stays in) Proceeding and is kept for retransmissions.
      entry.state = TxState.Proceeding;
      this.keep(entry, buf);
      return;
    }
    this.observe(tx, status);
    entry.tx = undefined;
    if (!entry.isInvite) {
      // §17.2.2: final -> Completed; Timer J = 64*T1 on unreliable transports, zero on reliable ones.
      entry.state = TxState.Completed;
      if (entry.isReliable) this.terminate(entry);
      else {
        this.keep(entry, buf);
        entry.longSlot = this.long.reschedule(entry, entry.longSlot, TIMER_64T1);
      }
    } else if (status < 300) {
      // §17.2.1 as updated by RFC 6026 §7.1: 2xx -> Accepted for Timer L = 64*T1; the TU retransmits the 2xx itself,
      // INVITE retransmissions are absorbed, ACKs go to the TU.
      entry.state = TxState.Accepted;
      this.kept.release(entry);
      entry.flow = undefined;
      entry.longSlot = this.long.reschedule(entry, entry.longSlot, TIMER_64T1);
    } else {
      // §17.2.1: 300-699 -> Completed; Timer H = 64*T1 always; Timer G = T1 on unreliable transports.
      entry.state = TxState.Completed;
      this.keep(entry, buf);
      entry.longSlot = this.long.reschedule(entry, entry.longSlot, TIMER_64T1);
      if (!entry.isReliable) {
        entry.timerG = T1;
        entry.shortSlot = this.short.schedule(entry, T1);
      } else {
        entry.flow = undefined;
      }
    }
  }

  // StatelessOwner: called by StatelessTx.

  respondStateless(tx: StatelessTx, status: number, reason: string, opts: ResponseOptions | undefined): void {
    let buf: Buffer;
    try {
      const tagged =
        opts?.toTag !== undefined
          ? opts
          : { headers: opts?.headers, toTag: this.statelessTag(tx.request), body: opts?.body, contentType: opts?.contentType };
      buf = this.responses.build(tx.request, status, reason, tagged);
    } catch (err) {
      this.onError(err);
      return;
    }
    this.sendStateless(tx, status, buf);
  }

  sendStateless(tx: StatelessTx, status: number, buf: Buffer): void {
    tx.flow.send(buf);
    this.observe(tx, status);
  }

  /** The first final response: how long the request waited for it (a map lookup, a bucket search, three adds). */
  private observe(tx: ServerTx | StatelessTx, status: number): void {
    const times = this.responseTimes.get(tx.request.method) ?? this.otherResponseTimes;
    times[finalClassIndex(status)]!.observe((performance.now() - tx.startedAt) / 1000);
  }

  /**
   * RFC 3261 §8.2.7: a stateless UAS generates To tags "in a manner that will generate the same tag for the same
   * request consistently": this node's fixed prefix and a 32-bit FNV-1a hash of the top Via branch, Call-ID, From tag
   * and CSeq (what a retransmission repeats). Throws SipError when those headers are malformed (validated before).
   */
  private statelessTag(req: SipMessage): string {
    const s = req.topVia.branch + '\n' + req.callId + '\n' + (req.from.tag ?? '') + '\n' + req.cseq.seq;
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    return this.tagPrefix + '.' + (h >>> 0).toString(16);
  }

  drop(entry: TxEntry): void {
    if (entry.state === TxState.Terminated) return;
    entry.state = TxState.Dropped;
    this.kept.release(entry);
    entry.flow = undefined;
    entry.tx = undefined;
    entry.shortSlot = -1;
    // Retransmissions only come over unreliable transports; keep the silent entry as long as a Timer J would.
    if (entry.isReliable) this.terminate(entry);
    else entry.longSlot = this.long.reschedule(entry, entry.longSlot, TIMER_64T1);
  }

  private onLongTimer(entry: TxEntry, slot: number): void {
    if (slot !== entry.longSlot) return; // rescheduled or terminated since
    if (entry.state === TxState.Completed && entry.isInvite) {
      // §17.2.1 Timer H: no ACK arrived; the transaction ends.
      this.logger.debug({ event: 'transaction.timer-h', key: entry.key });
    } else if (entry.state <= TxState.Proceeding) {
      this.logger.debug({ event: 'transaction.unanswered', key: entry.key });
    }
    // Timer I (Confirmed), J (non-INVITE Completed), L (Accepted), the unanswered limit, or a Dropped entry's end.
    this.terminate(entry);
  }

  private onTimerG(entry: TxEntry, slot: number): void {
    if (slot !== entry.shortSlot || entry.state !== TxState.Completed) return;
    const bytes = this.kept.copy(entry);
    if (bytes === undefined) return;
    // §17.2.1 Timer G: retransmit the final response; the interval doubles up to T2.
    entry.flow?.send(bytes);
    entry.timerG = Math.min(entry.timerG * 2, T2);
    entry.shortSlot = this.short.schedule(entry, entry.timerG);
  }

  /** Keeps buf as the entry's last response, in place of any kept before (a provisional, §17.2.1 / §17.2.2). */
  private keep(entry: TxEntry, buf: Buffer): void {
    this.kept.release(entry);
    this.kept.keep(entry, buf);
  }

  private terminate(entry: TxEntry): void {
    if (this.table.get(entry.key) === entry) this.table.delete(entry.key);
    entry.state = TxState.Terminated;
    this.kept.release(entry);
    entry.flow = undefined;
    entry.tx = undefined;
    entry.longSlot = -1;
    entry.shortSlot = -1;
  }
}

/** A 401/407 the edge itself answers to an INVITE, still unanswered, that carried neither Authorization header. */
function isChallengeWithoutCredentials(entry: TxEntry, status: number, req: SipMessage): boolean {
  return (
    entry.isInvite &&
    (status === 407 || status === 401) &&
    entry.state < TxState.Completed &&
    !req.has('proxy-authorization') &&
    !req.has('authorization')
  );
}
