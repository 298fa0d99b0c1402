// Whether the Redis store can serve: a probe connection reads the marker key every second (under
// redis.commandTimeoutMs), and the main connection's close and stalls (connection.ts watchCommands) are watched.
// Outside an outage the main connection is open; during one it is closed, so every command fails at once
// (StoreUnavailable -> 503) instead of waiting on a frozen server, and it is opened again only once the probe finds
// this store's marker. One log line when an outage starts (and a loud one when Redis lost its data), one when it ends
// with its length and the requests refused meanwhile.
import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type { StoreStatus } from '../types.ts';
import { closeRedis, dropConnection, STALLED } from './connection.ts';
import { MARKER_KEY, recordLoss } from './marker.ts';

/** How often the probe reads the marker; ms. */
const PROBE_MS = 1000;

/** Why the store cannot serve (the metric label of sipedge_store_outages_total). */
type OutageKind = 'unreachable' | 'empty' | 'replaced';

export interface RedisHealthDeps {
  main: Redis;
  probe: Redis;
  /** This store's marker id (marker.ts), as found or written at open. */
  marker: string;
  /** Generated secrets this node holds (MetaStore), put back when Redis lost its data. */
  held: ReadonlyMap<string, string>;
  clock: Clock;
  logger?: Logger;
  metrics?: Metrics;
}

export class RedisHealth {
  private outage: { kind: OutageKind; reason: string; since: number; refusedBefore: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly d: RedisHealthDeps) {
    d.metrics?.storeUp.set(1);
    d.main.on(STALLED, () => {
      this.begin('unreachable', 'Redis does not answer (no reply within redis.commandTimeoutMs)');
      void this.check();
    });
    d.main.on('close', () => {
      if (this.closed || this.outage !== undefined) return;
      this.begin('unreachable', 'the connection to Redis closed');
      void this.check();
    });
  }

  /** Starts probing (every PROBE_MS). */
  start(): void {
    this.timer = setInterval(() => void this.check(), PROBE_MS);
    this.timer.unref();
  }

  status(): StoreStatus {
    return this.outage === undefined ? { ok: true } : { ok: false, reason: this.outage.reason };
  }

  /** One probe: read the marker, then start, change or end the outage by what it says. Concurrent calls share one. */
  private check(): Promise<void> {
    this.checking ??= this.probeOnce().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** Stops probing and closes the probe connection (the main one is the store's to close). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await closeRedis(this.d.probe);
  }

  private async probeOnce(): Promise<void> {
    let found: string | null;
    try {
      // A probe that gave up (with Sentinel: no sentinel named a reachable primary yet) starts over.
      if (this.d.probe.status === 'end') await this.d.probe.connect();
      found = await this.d.probe.get(MARKER_KEY);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.d.logger?.debug({ event: 'store.probe.failed', err: why, status: this.d.probe.status });
      this.begin('unreachable', `Redis does not answer (${why})`);
      return;
    }
    if (found === this.d.marker) {
      await this.end();
      return;
    }
    if (found !== null) {
      this.begin('replaced', `the store was initialised again (marker ${found}, this node opened ${this.d.marker}); restart this node`);
      return;
    }
    try {
      if (!(await recordLoss(this.d.probe, this.d.marker, this.d.held))) return;
    } catch {
      return; // Unreachable again: the next probe says so.
    }
    this.begin('empty', `Redis lost its data (marker ${MARKER_KEY} missing): restore it, or re-import and rename store-lost to store-id (README "Redis outages")`);
  }

  /**
   * Starts an outage (store.outage.start), or changes what it is: Redis came back without its data (store.empty) or
   * with another store's (store.replaced), logged as errors since only an operator can end those.
   */
  private begin(kind: OutageKind, reason: string): void {
    if (this.closed) return;
    const was = this.outage;
    if (was?.kind === kind) return;
    if (was === undefined) {
      this.outage = { kind, reason, since: this.d.clock.now(), refusedBefore: this.refusedTotal() };
      this.d.metrics?.storeUp.set(0);
    } else {
      this.outage = { ...was, kind, reason };
    }
    this.d.metrics?.storeOutages.labels(kind).inc();
    dropConnection(this.d.main);
    const line = { event: was === undefined ? 'store.outage.start' : `store.${kind}`, kind, reason };
    if (kind === 'unreachable') this.d.logger?.warn(line);
    else this.d.logger?.error(line);
  }

  private async end(): Promise<void> {
    const was = this.outage;
    if (was === undefined || this.closed) return;
    if (this.d.main.status !== 'ready') {
      try {
        await this.d.main.connect();
      } catch {
        return; // Still not reachable from the main connection: stay in the outage, the next probe tries again.
      }
    }
    this.outage = undefined;
    const lengthMs = Math.max(0, this.d.clock.now() - was.since);
    const refused = this.refusedTotal() - was.refusedBefore;
    this.d.metrics?.storeUp.set(1);
    this.d.metrics?.storeOutageSeconds.inc(lengthMs / 1000);
    this.d.logger?.warn({ event: 'store.outage.end', kind: was.kind, lengthMs, refused });
  }

  private refusedTotal(): number {
    return this.d.metrics?.storeRefused.total() ?? 0;
  }
}
