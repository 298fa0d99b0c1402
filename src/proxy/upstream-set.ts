// The upstream set: configured PBXs, their OPTIONS health probes with hysteresis, and healthy() by priority.
// Choosing one upstream per extension and stickiness are the proxy's (later); retransmits and Timer F are transaction/'s.
import type { Clock } from '../clock.ts';
import { parseUpstreamUri, type Config, type UpstreamConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { newBranch, newCallId, newTag } from '../sip/random.ts';
import { buildRequest } from '../sip/request.ts';
import type { SipMessage } from '../sip/types.ts';
import type {
  ClientTransactionHandle,
  ClientTransactionHandlers,
  ClientTransactionMeta,
  ClientTransactions,
} from '../transaction/client-transaction.ts';
import type { Flow } from '../transport/flow.ts';
import { localAddresses, uriHost } from '../transport/local-address.ts';

/** One configured upstream PBX, with the host and port its uri names. */
export interface Upstream {
  /** As configured (also the `upstream` metric label and log field). */
  readonly uri: string;
  readonly host: string;
  /** Default 5060. */
  readonly port: number;
  /** Lower is preferred. */
  readonly priority: number;
  /** Relative share within one priority. */
  readonly weight: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
}

/** 'unknown' until the first probe outcome decides; healthy() returns only 'up'. */
export type UpstreamState = 'unknown' | 'up' | 'down';

/** Why a probe failed: the log field `reason` of upstream.down. */
export type ProbeFailure = 'timeout' | 'status-503' | 'status-408' | 'transport-error' | 'no-flow';

/** What the set needs to send a probe: client transactions (transaction/) and a Flow per upstream (transport/). */
export interface ProbeTransport {
  send(request: Buffer, meta: ClientTransactionMeta, handlers: ClientTransactionHandlers): ClientTransactionHandle;
  /** A flow to the upstream, or undefined (or a rejection) when none can be had now: the probe fails with 'no-flow'. */
  flowFor(upstream: Upstream): Flow | undefined | Promise<Flow | undefined>;
}

/** The production ProbeTransport: client transactions, over the flows the proxy uses too (upstream-flows.ts). */
export function probeTransportOf(clients: ClientTransactions, flows: Pick<ProbeTransport, 'flowFor'>): ProbeTransport {
  return {
    send: (request, meta, handlers) => clients.send(request, meta, handlers),
    flowFor: (u) => flows.flowFor(u),
  };
}

export interface UpstreamSetOptions {
  upstreams: readonly UpstreamConfig[];
  probe: Config['proxy']['probe'];
  transport: ProbeTransport;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** host[:port] for the probes' Via sent-by and From; empty: the flow's local address and port. */
  advertisedHost?: string;
  /** User-Agent header of the probes; none when absent. */
  userAgent?: string;
  /** How often start()'s interval calls tick(), ms; default 250 (the resolution of probe timeouts). */
  tickMs?: number;
}

interface Member {
  readonly upstream: Upstream;
  state: UpstreamState;
  failures: number;
  successes: number;
  /** The probe in flight; at most one per upstream. */
  pending: Pending | undefined;
  /** When it was last marked up; ms epoch (meaningful while state is 'up'). */
  upSince: number;
  readonly up: { set(v: number): void };
  readonly rtt: { observe(v: number): void };
}

interface Pending {
  readonly deadline: number;
  handle: ClientTransactionHandle | undefined;
  settle(outcome: { ok: true; status: number } | { ok: false; reason: ProbeFailure }): void;
}

/** A status that proves the host is alive unless it says otherwise (503 Service Unavailable, 408 Request Timeout). */
const FAILING_STATUS: Record<number, ProbeFailure> = { 503: 'status-503', 408: 'status-408' };

/**
 * Health of the configured upstreams. Decisions:
 * - Any final response but 503 and 408 proves the host alive (a 404 or 405 to OPTIONS is still a SIP stack answering).
 * - Start: 'unknown', counted as not healthy. The first answered probe marks it up at once, so the edge is usable one
 *   round trip after start; from then on hysteresis: `failuresToDown` consecutive failures mark it down and
 *   `successesToUp` consecutive successes mark it up again. An unknown upstream that fails `failuresToDown` times is
 *   marked down (and logged) too.
 * - A probe lasts at most `timeoutSeconds`; UDP retransmissions inside it are the client transaction's (Timer E), so a
 *   single lost datagram usually does not even fail a probe.
 * - One interval for all probes (unref'd), reading the injected Clock: it expires probes and starts a round when due.
 */
export class UpstreamSet {
  private readonly members: Member[];
  private readonly transport: ProbeTransport;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly failuresToDown: number;
  private readonly successesToUp: number;
  private readonly advertisedHost: string;
  private readonly userAgent: string | undefined;
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | undefined;
  private nextRoundAt = Infinity;
  private healthyCache: Upstream[] | undefined;
  /** Called after every state change (the proxy moves extensions off an upstream that went down lazily, per request). */
  onChange: ((u: Upstream, state: 'up' | 'down') => void) | undefined;

  constructor(opts: UpstreamSetOptions) {
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.intervalMs = opts.probe.intervalSeconds * 1000;
    this.timeoutMs = opts.probe.timeoutSeconds * 1000;
    this.failuresToDown = opts.probe.failuresToDown;
    this.successesToUp = opts.probe.successesToUp;
    this.advertisedHost = opts.advertisedHost ?? '';
    this.userAgent = opts.userAgent;
    this.tickMs = opts.tickMs ?? 250;
    this.members = opts.upstreams.map((c) => {
      const where = parseUpstreamUri(c.uri);
      // The schema has validated every uri; a failure here is a caller that bypassed loadConfig (setup-time throw).
      if (where === undefined) throw new Error(`upstream ${c.uri} is not a sip: URI with a host`);
      const upstream: Upstream = Object.freeze({ ...c, host: where.host, port: where.port });
      // Label sets bound once (STYLE §5); the label is the configured uri, a closed set.
      const up = opts.metrics.upstreamUp.labels(c.uri);
      up.set(0);
      return { upstream, state: 'unknown', failures: 0, successes: 0, pending: undefined, upSince: 0, up, rtt: opts.metrics.upstreamProbeSeconds.labels(c.uri) };
    });
  }

  /** Every configured upstream, in config order. */
  all(): Upstream[] {
    return this.members.map((m) => m.upstream);
  }

  /**
   * The upstreams currently up, by priority (lower first), then weight (higher first), then config order. The array
   * is rebuilt only when a state changes (the proxy asks on every request); callers must not modify it.
   */
  healthy(): readonly Upstream[] {
    if (this.healthyCache === undefined) {
      this.healthyCache = this.members
        .filter((m) => m.state === 'up')
        .map((m) => m.upstream)
        .sort((a, b) => a.priority - b.priority || b.weight - a.weight);
    }
    return this.healthyCache;
  }

  /** The configured upstream with this uri. */
  get(uri: string): Upstream | undefined {
    return this.members.find((m) => m.upstream.uri === uri)?.upstream;
  }

  /** When the upstream was last marked up (ms epoch), or -1 when it is not up now. */
  upSince(uri: string): number {
    const m = this.members.find((x) => x.upstream.uri === uri);
    return m === undefined || m.state !== 'up' ? -1 : m.upSince;
  }

  /** The state of one upstream by its configured uri; undefined when not configured. */
  stateOf(uri: string): UpstreamState | undefined {
    return this.members.find((m) => m.upstream.uri === uri)?.state;
  }

  /** Probes now and then every `intervalSeconds`, on one unref'd interval. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
    void this.probeAll();
  }

  /** Stops the interval and abandons probes in flight (no state change). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.nextRoundAt = Infinity;
    for (const m of this.members) {
      m.pending?.handle?.cancelTimers();
      m.pending = undefined;
    }
  }

  /** Fails probes past their timeout; when started, begins a round when one is due. The interval calls it; tests too. */
  tick(): void {
    const now = this.clock.now();
    for (const m of this.members) if (m.pending !== undefined && now >= m.pending.deadline) m.pending.settle({ ok: false, reason: 'timeout' });
    if (this.timer !== undefined && now >= this.nextRoundAt) void this.probeAll();
  }

  /**
   * One round: an OPTIONS to every upstream without a probe in flight. Resolves when each probe of the round has an
   * outcome (a final response, a transport error, or its timeout through tick()). Never rejects.
   */
  async probeAll(): Promise<void> {
    this.nextRoundAt = this.clock.now() + this.intervalMs;
    await Promise.all(this.members.filter((m) => m.pending === undefined).map((m) => this.probe(m)));
  }

  private probe(m: Member): Promise<void> {
    const sentAt = this.clock.now();
    return new Promise<void>((resolve) => {
      const pending: Pending = {
        deadline: sentAt + this.timeoutMs,
        handle: undefined,
        settle: (outcome) => {
          if (m.pending !== pending) return;
          m.pending = undefined;
          // Stop Timer E/F at once: the probe is over, a late answer is a stray response.
          pending.handle?.cancelTimers();
          if (outcome.ok) {
            m.rtt.observe((this.clock.now() - sentAt) / 1000);
            this.succeeded(m, outcome.status);
          } else this.failed(m, outcome.reason);
          resolve();
        },
      };
      m.pending = pending;
      void this.sendProbe(m, pending);
    });
  }

  private async sendProbe(m: Member, pending: Pending): Promise<void> {
    let flow: Flow | undefined;
    try {
      flow = await this.transport.flowFor(m.upstream);
    } catch {
      flow = undefined;
    }
    if (m.pending !== pending) return;
    if (flow === undefined) {
      pending.settle({ ok: false, reason: 'no-flow' });
      return;
    }
    const branch = newBranch();
    const request = this.options(m.upstream, flow, branch);
    pending.handle = this.transport.send(
      request,
      { method: 'OPTIONS', branch, flow },
      {
        onResponse: (res: SipMessage) => {
          if (res.status < 200) return;
          const failure = FAILING_STATUS[res.status];
          pending.settle(failure === undefined ? { ok: true, status: res.status } : { ok: false, reason: failure });
        },
        onTimeout: () => pending.settle({ ok: false, reason: 'timeout' }),
        onTransportError: () => pending.settle({ ok: false, reason: 'transport-error' }),
      },
    );
  }

  /** The OPTIONS probe (RFC 3261 §11.1: OPTIONS may be sent to a server to learn its capabilities, and liveness). */
  private options(u: Upstream, flow: Flow, branch: string): Buffer {
    const sentBy = this.advertisedHost !== '' ? this.advertisedHost : `${uriHost(localAddresses.forFlow(flow))}:${flow.localPort}`;
    const host = sentBy.startsWith('[') ? sentBy.slice(0, sentBy.indexOf(']') + 1) : sentBy.split(':')[0]!;
    const headers = [
      `Via: SIP/2.0/${u.transport.toUpperCase()} ${sentBy};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:sipedge@${host}>;tag=${newTag()}`,
      `To: <${u.uri}>`,
      `Call-ID: ${newCallId()}`,
      'CSeq: 1 OPTIONS',
      'Accept: application/sdp',
    ];
    if (this.userAgent !== undefined) headers.push(`User-Agent: ${this.userAgent}`);
    return buildRequest({ method: 'OPTIONS', uri: u.uri, headers });
  }

  private succeeded(m: Member, status: number): void {
    m.failures = 0;
    if (m.state === 'up') return;
    m.successes++;
    // Start: one answer is enough (the edge is usable quickly); after a down, hysteresis (successesToUp).
    if (m.state === 'unknown' || m.successes >= this.successesToUp) {
      const from = m.state;
      this.mark(m, 'up');
      this.logger.info({ event: 'upstream.up', upstream: m.upstream.uri, reason: `answered ${status}`, from });
    }
  }

  private failed(m: Member, reason: ProbeFailure): void {
    m.successes = 0;
    if (m.state === 'down') return;
    m.failures++;
    if (m.failures >= this.failuresToDown) {
      const from = m.state;
      const failures = m.failures;
      this.mark(m, 'down');
      this.logger.info({ event: 'upstream.down', upstream: m.upstream.uri, reason, failures, from });
    }
  }

  private mark(m: Member, state: 'up' | 'down'): void {
    m.state = state;
    m.failures = 0;
    m.successes = 0;
    if (state === 'up') m.upSince = this.clock.now();
    this.healthyCache = undefined;
    m.up.set(state === 'up' ? 1 : 0);
    this.onChange?.(m.upstream, state);
  }
}
