// The entry point for every SIP message: parse, answer or count malformed ones, hand requests to the transaction table.
// State machines are in server-transaction-table.ts and client-transaction.ts; sockets and framing are transport/'s; the message model is sip/'s.
import type { Clock } from '../clock.ts';
import { cellsByFinalClass } from '../observability/fast-histogram.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { parseMessage, validateRequest } from '../sip/parser.ts';
import { SipError, type SipMessage } from '../sip/types.ts';
import { salvageResponse } from '../sip/salvage.ts';
import type { Flow, TransportHandler, TransportKind } from '../transport/flow.ts';
import type { FramingErrorHandler } from '../transport/transport-layer.ts';
import { ClientTransactions } from './client-transaction.ts';
import { ResponseBuilder } from './response-builder.ts';
import { ServerTransactionTable } from './server-transaction-table.ts';
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

/** Methods named in sipedge_sip_requests_total and sipedge_sip_response_seconds; others are "other" (closed label set). */
const METHODS = ['REGISTER', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'MESSAGE', 'NOTIFY', 'SUBSCRIBE', 'REFER', 'INFO', 'UPDATE', 'PRACK', 'PUBLISH'];
const TRANSPORTS: TransportKind[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];
/** Unexpected errors are logged at warn at most this often (every one is counted in the drops metric). */
const WARN_INTERVAL_MS = 60_000;

type Inc = { inc(): void };

/**
 * A REGISTER without credentials is answered by a stateless UAS (RFC 3261 §8.2.7), as Kamailio's auth module does:
 * §8.2.7 names this as the stateless role's main use ("to handle unauthenticated requests for which a challenge
 * response is issued"), so that a flood of them creates no transaction state (§26.1.5). Its answer never depends on
 * an earlier copy: the registrar refuses it (401 with a fresh nonce bound to the source, or 4xx) or drops it (a banned
 * source), so a retransmission gets a new challenge instead of the first one's bytes, and the phone answers either.
 * A REGISTER with credentials changes bindings and stays transactional (§8.2.7 rules out stateless registrars).
 */
function isStateless(msg: SipMessage): boolean {
  return msg.method === 'REGISTER' && !msg.has('authorization');
}

/**
 * Construct it first and give it to TransportLayer as the handler: it needs no transport, since every response
 * goes back on the Flow its request came from.
 */
export class TransactionLayer implements TransportHandler, FramingErrorHandler {
  private readonly tu: TransactionUser;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly responses: ResponseBuilder;
  private readonly transactions: ServerTransactionTable;
  /** Client transactions (§17.1) for requests the edge sends; responses are matched to them before the TU sees strays. */
  readonly clients: ClientTransactions;
  // Label sets bound once (STYLE §5).
  private readonly messageCounters: Record<TransportKind, { request: Inc; response: Inc }>;
  private readonly methodCounters = new Map<string, Inc>();
  private readonly otherMethod: Inc;
  private readonly answered: Inc;
  private readonly dropped: Inc;
  private readonly internalError: Inc;
  private readonly liveGauge: { set(v: number): void };
  private lastWarn = -Infinity;

  constructor(opts: TransactionLayerOptions) {
    this.tu = opts.tu;
    this.logger = opts.logger;
    this.clock = opts.clock;
    this.responses = new ResponseBuilder(opts.serverHeader);
    const m = opts.metrics;
    this.messageCounters = Object.fromEntries(
      TRANSPORTS.map((t) => [t, { request: m.sipMessages.labels(t, 'request'), response: m.sipMessages.labels(t, 'response') }]),
    ) as Record<TransportKind, { request: Inc; response: Inc }>;
    for (const method of METHODS) this.methodCounters.set(method, m.sipRequests.labels(method));
    this.otherMethod = m.sipRequests.labels('other');
    this.answered = m.parseErrors.labels('answered');
    this.dropped = m.parseErrors.labels('dropped');
    this.internalError = m.drops.labels('internal-error');
    this.liveGauge = m.transactions;
    this.transactions = new ServerTransactionTable({
      tu: this.tu,
      logger: this.logger,
      clock: this.clock,
      responses: this.responses,
      retransmissions: m.retransmissions,
      responseTimes: new Map(METHODS.map((method) => [method, cellsByFinalClass(m.sipResponseSeconds, method)])),
      otherResponseTimes: cellsByFinalClass(m.sipResponseSeconds, 'other'),
      onSize: (size, kept, keptBytes) => {
        this.liveGauge.set(size);
        m.keptResponses.set(kept);
        m.keptResponseBytes.set(keptBytes);
      },
      onError: (err) => this.unexpected(err),
    });
    this.clients = new ClientTransactions({
      clock: this.clock,
      logger: this.logger,
      retransmissions: m.retransmissions,
      onError: (err) => this.unexpected(err),
      onSize: (size) => m.clientTransactions.set(size),
    });
  }

  /** Live server transactions. */
  get size(): number {
    return this.transactions.size;
  }

  /** Runs due timers now (the wheels also tick on their own unref'd intervals); tests call it after advancing a FakeClock. */
  tick(): void {
    this.transactions.tick();
    this.clients.tick();
  }

  /** Stops the timers and forgets every transaction. */
  close(): void {
    this.transactions.close();
    this.clients.close();
    this.liveGauge.set(0);
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), while it has no final response yet. */
  matchInvite(cancel: SipMessage): ServerTransaction | undefined {
    return this.transactions.matchInvite(cancel);
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
        this.salvage(head, flow, error);
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
      // No message model: answer from the raw lines when they still name a way back, else a counted drop.
      this.salvage(data, flow, err);
      return;
    }
    this.setSource(msg, flow);
    if (!msg.isRequest) {
      // §17.1.3: a response goes to its client transaction; one that matches none is the TU's (e.g. a 2xx retransmission).
      if (this.clients.matchResponse(msg, flow)) return;
      this.tu.onStrayResponse?.(msg, flow);
      return;
    }
    (this.methodCounters.get(msg.method) ?? this.otherMethod).inc();
    const isAck = msg.method === 'ACK';
    let key: string;
    try {
      validateRequest(msg);
      if (isStateless(msg)) {
        this.transactions.receiveStateless(msg, flow);
        return;
      }
      // §17.2.3: an ACK belongs to the INVITE transaction it acknowledges.
      key = transactionKey(msg, isAck ? 'INVITE' : msg.method);
    } catch (err) {
      if (!(err instanceof SipError)) throw err;
      this.reject(msg, flow, err);
      return;
    }
    if (isAck) this.transactions.receiveAck(msg, key, flow);
    else this.transactions.receiveRequest(msg, key, flow);
  }

  private setSource(msg: SipMessage, flow: Flow): void {
    msg.source = { address: flow.remoteAddress, port: flow.remotePort, transport: flow.transport, flowId: flow.id };
  }

  /** A request parseMessage refused: answered with the error's status when Via/From/To/Call-ID/CSeq can be found. */
  private salvage(data: Buffer, flow: Flow, err: SipError): void {
    const buf = salvageResponse(data, err.status, err.reason, {
      address: flow.remoteAddress,
      port: flow.remotePort,
      transport: flow.transport,
      flowId: flow.id,
    });
    if (buf === undefined) {
      this.dropped.inc();
      return;
    }
    flow.send(buf);
    this.answered.inc();
  }

  /** Answers a malformed request statelessly with the error's status and reason; ACKs and Via-less ones are counted only. */
  private reject(msg: SipMessage, flow: Flow, err: SipError): void {
    // §17.1.1.3: an ACK is never answered. Without a Via a response cannot be routed (§18.2.2).
    if (!msg.isRequest || msg.method === 'ACK' || !msg.has('via')) {
      this.dropped.inc();
      return;
    }
    let buf: Buffer;
    try {
      buf = this.responses.build(msg, err.status, err.reason);
    } catch {
      this.dropped.inc();
      return;
    }
    flow.send(buf);
    this.answered.inc();
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
