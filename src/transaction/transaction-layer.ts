// The entry point for every SIP message: parse, answer or count malformed ones, run RFC 3261 §17.2 server transactions.
// What a request means is the TransactionUser's; sockets and framing are transport/'s; the message model is sip/'s.
import type { Clock } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { parseMessage, validateRequest } from '../sip/parser.ts';
import { newTag } from '../sip/random.ts';
import { createResponse } from '../sip/response.ts';
import { SipError, type ResponseOptions, type SipMessage } from '../sip/types.ts';
import type { Flow, TransportHandler, TransportKind } from '../transport/flow.ts';
import type { FramingErrorHandler } from '../transport/transport-layer.ts';
import {
  INVITE_UNANSWERED_MS,
  NON_INVITE_UNANSWERED_MS,
  ServerTx,
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

export interface TransactionLayerOptions {
  tu: TransactionUser;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Value of the Server header added to every response (unless the TU passes one); none when absent. */
  serverHeader?: string;
}

/** Bucket widths: coarse for 32 s-scale expiries, fine for T1-scale retransmits (Timer G fires within 50 ms of due). */
const LONG_RESOLUTION_MS = 500;
const SHORT_RESOLUTION_MS = 50;
/** Methods counted by name in sipedge_sip_requests_total; others are "other" (closed label set). */
const METHODS = ['REGISTER', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'MESSAGE', 'NOTIFY', 'SUBSCRIBE', 'REFER', 'INFO', 'UPDATE', 'PRACK', 'PUBLISH'];
const TRANSPORTS: TransportKind[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];
/** Unexpected errors are logged at warn at most this often (the count is in the drops metric). */
const WARN_INTERVAL_MS = 60_000;

type Inc = { inc(): void };

export class TransactionLayer implements TransportHandler, FramingErrorHandler, TxOwner {
  private readonly tu: TransactionUser;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly serverLine: string | undefined;
  private readonly table = new Map<string, TxEntry>();
  private readonly long: TimerWheel<TxEntry>;
  private readonly short: TimerWheel<TxEntry>;
  // Label sets bound once (STYLE §5).
  private readonly messageCounters: Record<TransportKind, { request: Inc; response: Inc }>;
  private readonly methodCounters = new Map<string, Inc>();
  private readonly otherMethod: Inc;
  private readonly answered: Inc;
  private readonly dropped: Inc;
  private readonly internalError: Inc;
  private readonly retransmissions: Inc;
  private readonly liveGauge: { set(v: number): void };
  private lastWarn = -Infinity;

  constructor(opts: TransactionLayerOptions) {
    this.tu = opts.tu;
    this.logger = opts.logger;
    this.clock = opts.clock;
    this.serverLine = opts.serverHeader ? `Server: ${opts.serverHeader}` : undefined;
    const m = opts.metrics;
    this.messageCounters = Object.fromEntries(
      TRANSPORTS.map((t) => [t, { request: m.sipMessages.labels(t, 'request'), response: m.sipMessages.labels(t, 'response') }]),
    ) as Record<TransportKind, { request: Inc; response: Inc }>;
    for (const method of METHODS) this.methodCounters.set(method, m.sipRequests.labels(method));
    this.otherMethod = m.sipRequests.labels('other');
    this.answered = m.parseErrors.labels('answered');
    this.dropped = m.parseErrors.labels('dropped');
    this.internalError = m.drops.labels('internal-error');
    this.retransmissions = m.retransmissions;
    this.liveGauge = m.transactions;
    const onError = (err: unknown): void => this.unexpected(err);
    this.long = new TimerWheel<TxEntry>({
      clock: this.clock,
      resolutionMs: LONG_RESOLUTION_MS,
      onExpire: (entry, slot) => this.onLongTimer(entry, slot),
      onTick: () => this.liveGauge.set(this.table.size),
      onError,
    });
    this.short = new TimerWheel<TxEntry>({
      clock: this.clock,
      resolutionMs: SHORT_RESOLUTION_MS,
      onExpire: (entry, slot) => this.onTimerG(entry, slot),
      onError,
    });
  }

  /** Live server transactions (table rows). */
  get size(): number {
    return this.table.size;
  }

  /** Runs due timers now (the wheels also tick on their own unref'd intervals); tests call it after advancing a FakeClock. */
  tick(): void {
    this.short.tick();
    this.long.tick();
  }

  /** Stops the timers and forgets every transaction. */
  close(): void {
    this.long.close();
    this.short.close();
    this.table.clear();
    this.liveGauge.set(0);
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2: same §17.2.3 matching, method INVITE), while unanswered. */
  matchInvite(cancel: SipMessage): ServerTransaction | undefined {
    try {
      return this.table.get(transactionKey(cancel, 'INVITE'))?.tx;
    } catch {
      return undefined;
    }
  }

  // TransportHandler: nothing thrown here may reach a socket callback.

  onMessage(data: Buffer, flow: Flow): void {
    try {
      this.receive(data, flow);
    } catch (err) {
      this.unexpected(err);
    }
  }

  onFlowClosed(flow: Flow): void {
    try {
      this.tu.onFlowClosed?.(flow);
    } catch (err) {
      this.unexpected(err);
    }
  }

  /** A stream message with a complete header section but broken framing (transport/stream-framer.ts): answer it. */
  onMalformedFrame(head: Buffer, flow: Flow, error: SipError): void {
    try {
      let msg: SipMessage;
      try {
        msg = parseMessage(head);
      } catch (err) {
        if (!(err instanceof SipError)) throw err;
        this.dropped.inc();
        return;
      }
      this.setSource(msg, flow);
      this.reject(msg, flow, error);
    } catch (err) {
      this.unexpected(err);
    }
  }

  private receive(data: Buffer, flow: Flow): void {
    const counters = this.messageCounters[flow.transport];
    // "SIP/" starts every response; anything else is counted as a request before it is parsed.
    if (data[0] === 0x53 && data[1] === 0x49 && data[2] === 0x50 && data[3] === 0x2f) counters.response.inc();
    else counters.request.inc();
    let msg: SipMessage;
    try {
      msg = parseMessage(data);
    } catch (err) {
      if (!(err instanceof SipError)) throw err;
      // No message model: nothing to build a response from (start line or header structure broken).
      this.dropped.inc();
      return;
    }
    this.setSource(msg, flow);
    if (!msg.isRequest) {
      this.tu.onStrayResponse?.(msg, flow);
      return;
    }
    (this.methodCounters.get(msg.method) ?? this.otherMethod).inc();
    let key: string;
    try {
      validateRequest(msg);
      key = transactionKey(msg, msg.method === 'ACK' ? 'INVITE' : msg.method);
    } catch (err) {
      if (!(err instanceof SipError)) throw err;
      this.reject(msg, flow, err);
      return;
    }
    if (msg.method === 'ACK') this.receiveAck(msg, key, flow);
    else this.receiveRequest(msg, key, flow);
  }

  private setSource(msg: SipMessage, flow: Flow): void {
    msg.source = { address: flow.remoteAddress, port: flow.remotePort, transport: flow.transport, flowId: flow.id };
  }

  /** Answers a malformed request statelessly with the error's status; an ACK, or one without a Via, is only counted. */
  private reject(msg: SipMessage, flow: Flow, err: SipError): void {
    // §17.1.1.3: an ACK is never answered. Without a Via a response cannot be routed (§18.2.2).
    if (!msg.isRequest || msg.method === 'ACK' || !msg.has('via')) {
      this.dropped.inc();
      return;
    }
    let buf: Buffer;
    try {
      buf = createResponse(msg, err.status, err.reason, this.responseOptions(err.status, undefined));
    } catch {
      this.dropped.inc();
      return;
    }
    flow.send(buf);
    this.answered.inc();
  }

  private receiveRequest(msg: SipMessage, key: string, flow: Flow): void {
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
      this.unexpected(err);
      if (!tx.isCompleted) tx.respond(500, 'Server Internal Error');
    }
  }

  /** A request that matched a live transaction (§17.2.3): it never reaches the TU. */
  private retransmission(entry: TxEntry, flow: Flow): void {
    this.retransmissions.inc();
    switch (entry.state) {
      case TxState.Proceeding:
      // §17.2.1 / §17.2.2 Proceeding: a retransmission gets the most recent provisional response again.
      case TxState.Completed:
        // §17.2.1 / §17.2.2 Completed: a retransmission gets the final response again.
        if (entry.response !== undefined) flow.send(entry.response);
        return;
      default:
        // §17.2.2 Trying: discarded. §17.2.1 Confirmed: absorbed. RFC 6026 §7.1 Accepted: not passed to the TU.
        // Dropped: silent, like the original.
        return;
    }
  }

  private receiveAck(ack: SipMessage, key: string, flow: Flow): void {
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
        entry.response = undefined;
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

  // TxOwner: called by ServerTx.

  respond(tx: ServerTx, entry: TxEntry, status: number, reason: string, opts: ResponseOptions | undefined): void {
    let buf: Buffer;
    try {
      buf = createResponse(tx.request, status, reason, this.responseOptions(status, opts));
    } catch (err) {
      this.unexpected(err);
      return;
    }
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
      entry.response = buf;
      return;
    }
    entry.tx = undefined;
    if (!entry.isInvite) {
      // §17.2.2: final -> Completed; Timer J = 64*T1 on unreliable transports, zero on reliable ones.
      entry.state = TxState.Completed;
      entry.response = buf;
      if (entry.isReliable) this.terminate(entry);
      else entry.longSlot = this.long.reschedule(entry, entry.longSlot, TIMER_64T1);
    } else if (status < 300) {
      // §17.2.1 as updated by RFC 6026 §7.1: 2xx -> Accepted for Timer L = 64*T1; the TU retransmits the 2xx itself,
      // INVITE retransmissions are absorbed, ACKs go to the TU.
      entry.state = TxState.Accepted;
      entry.response = undefined;
      entry.flow = undefined;
      entry.longSlot = this.long.reschedule(entry, entry.longSlot, TIMER_64T1);
    } else {
      // §17.2.1: 300-699 -> Completed; Timer H = 64*T1 always; Timer G = T1 on unreliable transports.
      entry.state = TxState.Completed;
      entry.response = buf;
      entry.longSlot = this.long.reschedule(entry, entry.longSlot, TIMER_64T1);
      if (!entry.isReliable) {
        entry.timerG = T1;
        entry.shortSlot = this.short.schedule(entry, T1);
      } else {
        entry.flow = undefined;
      }
    }
  }

  drop(entry: TxEntry): void {
    if (entry.state === TxState.Terminated) return;
    entry.state = TxState.Dropped;
    entry.response = undefined;
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
    if (slot !== entry.shortSlot || entry.state !== TxState.Completed || entry.response === undefined) return;
    // §17.2.1 Timer G: retransmit the final response; the interval doubles up to T2.
    entry.flow?.send(entry.response);
    entry.timerG = Math.min(entry.timerG * 2, T2);
    entry.shortSlot = this.short.schedule(entry, entry.timerG);
  }

  private terminate(entry: TxEntry): void {
    if (this.table.get(entry.key) === entry) this.table.delete(entry.key);
    entry.state = TxState.Terminated;
    entry.response = undefined;
    entry.flow = undefined;
    entry.tx = undefined;
    entry.longSlot = -1;
    entry.shortSlot = -1;
  }

  /** Adds the Server header and, for final responses, a To tag when the TU gave none (§8.2.6.2: the UAS MUST add one). */
  private responseOptions(status: number, opts: ResponseOptions | undefined): ResponseOptions | undefined {
    const needsTag = status > 100 && opts?.toTag === undefined;
    const line = this.serverLine;
    const addServer = line !== undefined && !opts?.headers?.some((h) => h.length > 7 && h.slice(0, 7).toLowerCase() === 'server:');
    if (!needsTag && !addServer) return opts;
    const out: ResponseOptions = { ...opts };
    if (needsTag) out.toTag = newTag();
    if (addServer) out.headers = opts?.headers ? [...opts.headers, line] : [line];
    return out;
  }

  /** Anything but a SipError is a bug: count it, log at warn at most once a minute, never with message content. */
  private unexpected(err: unknown): void {
    this.internalError.inc();
    const now = this.clock.now();
    const level = now - this.lastWarn >= WARN_INTERVAL_MS ? 'warn' : 'debug';
    if (level === 'warn') this.lastWarn = now;
    const e = err instanceof Error ? err : undefined;
    this.logger[level]({ event: 'transaction.internal-error', err: e?.name ?? typeof err, stack: e?.stack?.split('\n').slice(1, 4).join(' | ') });
  }
}
