// Per-source flood control before any parsing, as Kamailio's pike and htable bans do: a token bucket per source address
// and transport, a ban for a source that stays over its budget, and a larger budget for proven sources and upstreams.
// Who is proven (a password proved, a configured upstream) is decided above transport (app.ts wires it in).
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { TransportKind } from './flow.ts';

/** Why a source is banned: its own flood, a scanner User-Agent, or failures on many extensions (auth/lockout.ts). */
export type FloodBanReason = 'flood' | 'scanner' | 'auth';

/** One source on one transport: its bucket and its over-budget drops in the current window. */
interface Bucket {
  tokens: number;
  /** When tokens was last brought up to date; ms (the guard's clock). */
  at: number;
  /** Budget multiplier: 1, or provenFactor for proven sources and upstreams (fixed when the bucket is made or proven). */
  factor: number;
  drops: number;
  dropsSince: number;
}

export interface FloodGuardOptions {
  config: Config['flood'];
  metrics: Metrics;
  /** How long a source stays proven after markProven; ms. */
  provenMs: number;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
}

const KINDS: readonly TransportKind[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];
/** How often idle buckets, ended bans and old proven marks are given back; ms. */
const SWEEP_MS = 10_000;
/**
 * Messages dropped (by the guard, or by the transports: overload, oversize, ...) within one sweep period that make it
 * an attack: 100/s on average. A phone's occasional dropped message is not one.
 */
export const ATTACK_DROPS = 1_000;

/**
 * The flood guard of one edge (each node keeps its own, like pike). admit() is called once per received message before
 * it is parsed: one Map read and a few additions for a known source. Every table is capped at config.maxSources: a
 * full table forgets its oldest entry (a forgotten source starts again with a full bucket, so the cap never blocks a
 * new phone), and the sweep gives the memory back once the sources are idle.
 */
export class FloodGuard {
  private readonly config: Config['flood'];
  private readonly provenMs: number;
  private readonly now: () => number;
  private buckets: Record<TransportKind, Map<string, Bucket>>;
  /** Source address -> ban end (ms, the guard's clock); for every transport. */
  private banned = new Map<string, number>();
  /** Source address -> end of its larger budget. */
  private proven = new Map<string, number>();
  /** Addresses that always get the larger budget (configured upstreams); asked when a bucket is made. */
  isUpstream: (address: string) => boolean = () => false;
  /**
   * Called by the sweep once an attack is over: a sweep period with ATTACK_DROPS or more drops, then one with none.
   * app.ts gives the memory the attack made the process grow back here (observability/heap.ts).
   */
  afterAttack: () => void = () => {};
  /** Drops counted at the last sweep (sipedge_flood_dropped_total + sipedge_sip_dropped_total). */
  private dropsAtSweep = 0;
  private underAttack = false;
  private readonly rate: Record<TransportKind, number>;
  private readonly burst: Record<TransportKind, number>;
  private readonly overBudget: Record<TransportKind, { inc(): void }>;
  private readonly bannedDrops: Record<TransportKind, { inc(): void }>;
  private readonly bans: Record<FloodBanReason, { inc(): void }>;
  private readonly metrics: Metrics;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(opts: FloodGuardOptions) {
    this.config = opts.config;
    this.provenMs = opts.provenMs;
    this.now = opts.now ?? (() => performance.now());
    this.metrics = opts.metrics;
    this.buckets = newTables();
    this.rate = perKind((k) => opts.config[k].rate / 1000);
    this.burst = perKind((k) => opts.config[k].burst);
    this.overBudget = perKind((k) => opts.metrics.floodDrops.labels(k, 'over-budget'));
    this.bannedDrops = perKind((k) => opts.metrics.floodDrops.labels(k, 'banned'));
    this.bans = { flood: opts.metrics.floodBans.labels('flood'), scanner: opts.metrics.floodBans.labels('scanner'), auth: opts.metrics.floodBans.labels('auth') };
  }

  /** Starts the sweep that gives back idle entries (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.sweeper !== undefined || !this.config.enabled) return;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /**
   * Whether one message from `address` over `transport` may go on to be parsed; false = drop it (counted in
   * sipedge_flood_dropped_total by reason). A source that keeps exceeding its budget is banned (banDrops over-budget
   * drops within banWindowSeconds).
   */
  admit(address: string, transport: TransportKind): boolean {
    if (!this.config.enabled) return true;
    const now = this.now();
    if (this.banned.size > 0) {
      const until = this.banned.get(address);
      if (until !== undefined) {
        if (until > now) {
          this.bannedDrops[transport].inc();
          return false;
        }
        this.banned.delete(address);
      }
    }
    const table = this.buckets[transport];
    let b = table.get(address);
    if (b === undefined) {
      const factor = this.isProven(address, now) ? this.config.provenFactor : 1;
      b = { tokens: this.burst[transport] * factor, at: now, factor, drops: 0, dropsSince: now };
      if (table.size >= this.config.maxSources) table.delete(table.keys().next().value as string);
      table.set(address, b);
    } else {
      const cap = this.burst[transport] * b.factor;
      const tokens = b.tokens + (now - b.at) * this.rate[transport] * b.factor;
      b.tokens = tokens < cap ? tokens : cap;
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    this.overBudget[transport].inc();
    if (now - b.dropsSince > this.config.banWindowSeconds * 1000) {
      b.drops = 0;
      b.dropsSince = now;
    }
    if (++b.drops >= this.config.banDrops) this.ban(address, 'flood');
    return false;
  }

  /**
   * Drops everything from `address` for config.banSeconds on every transport: its own flood, a scanner User-Agent seen
   * above, or a ban the auth layer started (so the next messages are dropped before parsing, not after).
   */
  ban(address: string, reason: FloodBanReason): void {
    if (!this.config.enabled || this.config.banSeconds === 0) return;
    const now = this.now();
    const was = this.banned.get(address);
    if (was !== undefined && was > now) return;
    if (this.banned.size >= this.config.maxSources) this.banned.delete(this.banned.keys().next().value as string);
    this.banned.set(address, now + this.config.banSeconds * 1000);
    this.bans[reason].inc();
  }

  /**
   * Lifts a ban (the operator's unban) and forgets the source's buckets: it starts again as a new source. Kept, their
   * over-budget drops of the ban window would ban it again at its next message over budget.
   */
  unban(address: string): void {
    this.banned.delete(address);
    for (const k of KINDS) this.buckets[k].delete(address);
  }

  /** `address` proved a password: the larger budget (config.provenFactor) on every transport for provenMs. */
  markProven(address: string): void {
    if (!this.config.enabled) return;
    const proven = this.proven;
    if (!proven.has(address) && proven.size >= this.config.maxSources) proven.delete(proven.keys().next().value as string);
    proven.set(address, this.now() + this.provenMs);
    for (const k of KINDS) {
      const b = this.buckets[k].get(address);
      if (b !== undefined) b.factor = this.config.provenFactor;
    }
  }

  /** Entries held (buckets of every transport, bans, proven marks): bounded by 7 x config.maxSources. */
  get size(): number {
    let n = this.banned.size + this.proven.size;
    for (const k of KINDS) n += this.buckets[k].size;
    return n;
  }

  /**
   * Forgets buckets that have refilled (an idle source is the same as a new one), ended bans and proven marks; then
   * rebuilds the tables so that their memory is given back after an attack, not only their entries.
   */
  sweep(): void {
    const now = this.now();
    const windowMs = this.config.banWindowSeconds * 1000;
    const tables = newTables();
    for (const k of KINDS) {
      const rate = this.rate[k];
      const burst = this.burst[k];
      for (const [address, b] of this.buckets[k]) {
        const full = b.tokens + (now - b.at) * rate * b.factor >= burst * b.factor;
        if (!full || now - b.dropsSince <= windowMs) tables[k].set(address, b);
      }
    }
    this.buckets = tables;
    this.banned = keepLive(this.banned, now);
    this.proven = keepLive(this.proven, now);
    this.metrics.floodSources.set(this.size);
    const drops = this.metrics.floodDrops.total() + this.metrics.drops.total();
    const fresh = drops - this.dropsAtSweep;
    this.dropsAtSweep = drops;
    if (fresh >= ATTACK_DROPS) this.underAttack = true;
    else if (fresh === 0 && this.underAttack) {
      this.underAttack = false;
      this.afterAttack();
    }
  }

  private isProven(address: string, now: number): boolean {
    const until = this.proven.get(address);
    return (until !== undefined && until > now) || this.isUpstream(address);
  }
}

function newTables(): Record<TransportKind, Map<string, Bucket>> {
  return { udp: new Map(), tcp: new Map(), tls: new Map(), ws: new Map(), wss: new Map() };
}

function perKind<T>(f: (k: TransportKind) => T): Record<TransportKind, T> {
  return { udp: f('udp'), tcp: f('tcp'), tls: f('tls'), ws: f('ws'), wss: f('wss') };
}

/** A new map of the entries whose end is still ahead. */
function keepLive(m: Map<string, number>, now: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, until] of m) if (until > now) out.set(k, until);
  return out;
}
