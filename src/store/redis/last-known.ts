// What Redis last answered to a read, kept so that the read can still be answered while Redis cannot be reached
// (registered phones keep receiving calls during an outage). Never consulted while Redis answers. Which reads keep
// one is the store files' choice; how long is redis.outageCacheSeconds.
// Every read under load replaces its entry, and what an entry holds lives until the key's next read, long enough to
// be moved to V8's old generation: the store files keep Redis's answer as it came (the JSON string, not the objects
// parsed from it) and an entry is updated in place, so what the collector has to move and mark stays one string
// per key (README "On Redis").
import { StoreUnavailable } from '../../errors.ts';
import type { CounterCell } from '../../observability/fast-counter.ts';

/** Entries older than this many writes are swept once (bounded work per write, no timer). */
const SWEEP_EVERY = 4096;

export interface LastKnownOptions {
  /** ms an answer stays usable after it was read; 0 keeps nothing. */
  keepMs: number;
  /** Counts the answers given from here (sipedge_store_outage_cache_answers_total). */
  answers?: CounterCell;
}

export class LastKnown<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private readonly keepMs: number;
  private readonly answers: CounterCell | undefined;
  private writes = 0;

  constructor(opts: LastKnownOptions = { keepMs: 0 }) {
    this.keepMs = opts.keepMs;
    this.answers = opts.answers;
  }

  /** Remembers `value` for `key`, read at `now`, usable until now + keepMs (or `expiresAt`, when sooner). */
  remember(key: string, value: V, now: number, expiresAt = Infinity): void {
    if (this.keepMs === 0) return;
    const until = Math.min(now + this.keepMs, expiresAt);
    if (until <= now) {
      this.entries.delete(key);
      return;
    }
    const entry = this.entries.get(key);
    if (entry === undefined) this.entries.set(key, { value, until });
    else {
      entry.value = value;
      entry.until = until;
    }
    if (++this.writes % SWEEP_EVERY === 0) {
      for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
    }
  }

  /**
   * `load()`'s answer, remembered (until `expiresAt(value)` at the latest); when Redis cannot be reached, the value
   * remembered for `key` instead, if any is still usable at `now`.
   */
  async read(key: string, now: number, load: () => Promise<V>, expiresAt?: (value: V) => number): Promise<V> {
    let value: V;
    try {
      value = await load();
    } catch (e) {
      const known = e instanceof StoreUnavailable ? this.recall(key, now) : undefined;
      if (known === undefined) throw e;
      return known.value;
    }
    this.remember(key, value, now, expiresAt?.(value));
    return value;
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  /** The value remembered for `key` if still usable at `now`. */
  private recall(key: string, now: number): { value: V } | undefined {
    const e = this.entries.get(key);
    if (e === undefined || e.until <= now) return undefined;
    this.answers?.inc();
    return { value: e.value };
  }
}
