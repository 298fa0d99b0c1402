// Coarse expiry index for the volatile maps: keys grouped by the second they may expire, drained by the sweep.
// Whether a key really expired (it may have been refreshed since) is the owning map's decision, made in `drain`.

/** Bucket width; ms. */
const BUCKET_MS = 1_000;

/**
 * A bucketed sweep (Kamailio/undici style) instead of a timer per entry: `add` is an array push, and the sweep
 * only visits keys whose bucket has passed, so its cost follows the number of expiries, not the map size.
 * A key refreshed later sits in several buckets; the owner re-checks its real expiry when drained.
 */
export class ExpiryBuckets {
  private readonly buckets = new Map<number, string[]>();
  private lastIndex = Number.NaN;
  private lastKeys: string[] = [];

  /** Notes that `key` may expire at `expiresAt` (ms epoch). */
  add(key: string, expiresAt: number): void {
    const index = Math.floor(expiresAt / BUCKET_MS);
    if (index !== this.lastIndex) {
      let keys = this.buckets.get(index);
      if (keys === undefined) {
        keys = [];
        this.buckets.set(index, keys);
      }
      this.lastIndex = index;
      this.lastKeys = keys;
    }
    this.lastKeys.push(key);
  }

  /** Calls `check` once per key noted in a bucket that ended at or before `now`, and forgets those buckets. */
  drain(now: number, check: (key: string) => void): void {
    const limit = Math.floor(now / BUCKET_MS);
    for (const [index, keys] of this.buckets) {
      if (index >= limit) continue;
      this.buckets.delete(index);
      if (index === this.lastIndex) this.lastIndex = Number.NaN;
      for (const k of keys) check(k);
    }
  }

  clear(): void {
    this.buckets.clear();
    this.lastIndex = Number.NaN;
  }
}
