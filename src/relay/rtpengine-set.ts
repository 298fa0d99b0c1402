// The configured rtpengines (media.rtpengine): their NG clients, health from pings and from the commands themselves
// (hysteresis as for upstreams), and which one a new call goes to (by weight, stable per Call-ID). What a call asks of
// its rtpengine, and keeping it there, is media-relay.ts's; the wire is ng-client.ts's.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Clock } from '../clock.ts';
import { parseNgAddress, type Config, type RtpengineConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { NgClient, replyKeys, type NgCommandDict, type NgFailure, type NgOutcome } from './ng-client.ts';

/** 'unknown' until the first ping decides; new calls go to 'up' ones (or, before any answered, to 'unknown' ones). */
export type RtpengineState = 'unknown' | 'up' | 'down';

/** NG commands the edge sends (metric label `command`, closed set). */
export type NgCommand = 'ping' | 'offer' | 'answer' | 'delete' | 'query';

/** The `command` entry of each, built once (a command is sent as parts: this, its own entries, constant flags). */
const COMMAND_ENTRY: Record<NgCommand, NgCommandDict> = {
  ping: { command: 'ping' },
  offer: { command: 'offer' },
  answer: { command: 'answer' },
  delete: { command: 'delete' },
  query: { command: 'query' },
};

/** One configured rtpengine. */
export class Rtpengine {
  state: RtpengineState = 'unknown';
  failures = 0;
  successes = 0;
  /** Created by start() once the host is resolved; undefined while it cannot be (the rtpengine counts as down). */
  client: NgClient | undefined;
  pinging = false;
  readonly up: { set(v: number): void };
  readonly errors = new Map<string, { inc(): void }>();

  constructor(
    /** As configured, `udp:host:port` (also the metric label and the log field `rtpengine`). */
    readonly address: string,
    readonly host: string,
    readonly port: number,
    readonly weight: number,
    private readonly metrics: Metrics,
  ) {
    this.up = metrics.rtpengineUp.labels(address);
    this.up.set(0);
  }

  /** The bound error counter of one command and reason. */
  errorCounter(command: NgCommand, reason: NgFailure): { inc(): void } {
    const key = command + ' ' + reason;
    let c = this.errors.get(key);
    if (c === undefined) this.errors.set(key, (c = this.metrics.rtpengineErrors.labels(this.address, command, reason)));
    return c;
  }
}

export interface RtpengineSetOptions {
  rtpengines: readonly RtpengineConfig[];
  probe: Config['media']['rtpengineProbe'];
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Health, as for upstreams (README "WebRTC media"): the first answered ping marks an rtpengine up; then
 * `failuresToDown` consecutive failures (pings, or commands that time out or are refused: a killed rtpengine shows on
 * the next call's command, not only at the next ping) mark it down, and `successesToUp` answered pings mark it up again.
 * A reply saying `error` proves it alive (it refused one call, for its own reason).
 */
export class RtpengineSet {
  readonly members: Rtpengine[];
  private readonly timeoutMs: number;
  private readonly retransmitMs: number;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly latency = new Map<NgCommand, { observe(v: number): void }>();

  constructor(private readonly o: RtpengineSetOptions) {
    this.timeoutMs = o.probe.timeoutSeconds * 1000;
    this.retransmitMs = this.timeoutMs / 5;
    this.intervalMs = o.probe.intervalSeconds * 1000;
    this.members = o.rtpengines.map((r) => {
      // The schema has checked the address; a failure here is a caller that bypassed loadConfig (setup-time throw).
      const where = parseNgAddress(r.address);
      if (where === undefined) throw new Error(`rtpengine ${r.address} is not udp:host:port`);
      return new Rtpengine(r.address, where.host, where.port, r.weight, o.metrics);
    });
  }

  /** True when at least one rtpengine is configured. */
  get configured(): boolean {
    return this.members.length > 0;
  }

  /** Resolves host names, makes the NG clients, pings now and then every intervalSeconds. */
  async start(): Promise<void> {
    await Promise.all(this.members.map((m) => this.connect(m)));
    if (this.members.length === 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.pingAll(), this.intervalMs);
    this.timer.unref();
    void this.pingAll();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const m of this.members) m.client?.close();
  }

  /**
   * The rtpengine for a new call: among those up (else those not yet proven), by weight, the same one for the same
   * Call-ID (a retransmitted INVITE meets its own call), leaving out `tried`. Undefined when none can take it.
   */
  pick(callId: string, tried?: ReadonlySet<Rtpengine>): Rtpengine | undefined {
    const usable = (m: Rtpengine, state: RtpengineState): boolean => m.state === state && m.client !== undefined && tried?.has(m) !== true;
    let pool = this.members.filter((m) => usable(m, 'up'));
    if (pool.length === 0) pool = this.members.filter((m) => usable(m, 'unknown'));
    if (pool.length === 0) return undefined;
    let total = 0;
    for (const m of pool) total += m.weight;
    if (total === 0) return pool[0];
    let slot = fnv1a(callId) % total;
    for (const m of pool) {
      if (slot < m.weight) return m;
      slot -= m.weight;
    }
    return pool[pool.length - 1];
  }

  /**
   * Sends one command to m: counts its latency or its failure, and lets a timeout or refusal count against m's health.
   * `parts` and `keep` as NgClient.command's.
   */
  async command(m: Rtpengine, name: NgCommand, parts: readonly NgCommandDict[], keep?: ReadonlySet<string>): Promise<NgOutcome> {
    if (m.client === undefined) return { ok: false, reason: 'closed', detail: `${m.address} is not resolved` };
    const sent = this.o.clock.now();
    const out = await m.client.command([COMMAND_ENTRY[name], ...parts], keep);
    if (out.ok || out.reason === 'error') {
      let h = this.latency.get(name);
      if (h === undefined) this.latency.set(name, (h = this.o.metrics.rtpengineCommandSeconds.labels(name)));
      h.observe((this.o.clock.now() - sent) / 1000);
    }
    if (!out.ok) {
      m.errorCounter(name, out.reason).inc();
      if (out.reason !== 'error') this.failed(m, out.reason, name);
    }
    return out;
  }

  /** One ping to every rtpengine without one in flight (the interval calls it; tests too). Never rejects. */
  async pingAll(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        if (m.pinging) return;
        if (m.client === undefined) {
          await this.connect(m);
          if (m.client === undefined) return;
        }
        m.pinging = true;
        try {
          const out = await this.command(m, 'ping', [], PING_REPLY);
          if (out.ok || out.reason === 'error') this.succeeded(m);
        } finally {
          m.pinging = false;
        }
      }),
    );
  }

  private async connect(m: Rtpengine): Promise<void> {
    let host = m.host;
    if (isIP(host) === 0) {
      try {
        host = (await lookup(host)).address;
      } catch (e) {
        this.failed(m, 'unresolved', 'ping', (e as Error).message);
        return;
      }
    }
    m.client = new NgClient({ host, port: m.port, timeoutMs: this.timeoutMs, retransmitMs: this.retransmitMs, clock: this.o.clock });
  }

  private succeeded(m: Rtpengine): void {
    m.failures = 0;
    if (m.state === 'up') return;
    m.successes++;
    if (m.state === 'unknown' || m.successes >= this.o.probe.successesToUp) {
      const from = m.state;
      this.mark(m, 'up');
      this.o.logger.info({ event: 'rtpengine.up', rtpengine: m.address, from });
    }
  }

  private failed(m: Rtpengine, reason: NgFailure | 'unresolved', command: NgCommand, detail?: string): void {
    m.successes = 0;
    if (m.state === 'down') return;
    m.failures++;
    if (m.failures >= this.o.probe.failuresToDown) {
      const from = m.state;
      this.mark(m, 'down');
      this.o.logger.warn({ event: 'rtpengine.down', rtpengine: m.address, reason, command, from, ...(detail ? { detail } : {}) });
    }
  }

  private mark(m: Rtpengine, state: 'up' | 'down'): void {
    m.state = state;
    m.failures = 0;
    m.successes = 0;
    m.up.set(state === 'up' ? 1 : 0);
  }
}

/** A ping's reply is read for its outcome only. */
const PING_REPLY = replyKeys();

/** FNV-1a 32-bit of s (Call-IDs are ASCII). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
