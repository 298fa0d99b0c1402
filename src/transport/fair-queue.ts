// Messages read from a socket but not yet handled, one queue per source address, served in turn (round robin): what
// lets udp.ts read the socket faster than it handles messages without one busy source delaying the others.
/**
 * Items waiting per source, taken one per source in turn. Bounded: a source may hold at most its fair share of
 * `capacity` (capacity / sources waiting, at least one), and at most `capacity` sources wait at once, so the queue
 * holds fewer than 2 x capacity items however the sources come and go; push refuses what is over.
 */
export class FairQueue<T> {
  /** Sources with something waiting, in serving order (one served is moved to the end). */
  private readonly bySource = new Map<string, T[]>();
  private count = 0;

  constructor(private readonly capacity: number) {}

  /** Items waiting. */
  get size(): number {
    return this.count;
  }

  /**
   * Whether push would queue an item for `source` now (its share is not used up, not too many sources wait): asked
   * before a datagram is copied; push checks the same itself, in one Map read.
   */
  accepts(source: string): boolean {
    const q = this.bySource.get(source);
    return q === undefined ? this.bySource.size < this.capacity : q.length < Math.max(1, this.capacity / this.bySource.size);
  }

  /** Queues `item` for `source`; false (not queued) when the source has its share already or too many sources wait. */
  push(source: string, item: T): boolean {
    const q = this.bySource.get(source);
    if (q === undefined) {
      if (this.bySource.size >= this.capacity) return false;
      this.bySource.set(source, [item]);
    } else {
      if (q.length >= Math.max(1, this.capacity / this.bySource.size)) return false;
      q.push(item);
    }
    this.count++;
    return true;
  }

  /** Hands up to `max` items to `handle`, one per source in turn, oldest first within a source. */
  serve(max: number, handle: (item: T) => void): void {
    // A Map's iteration also visits entries set during it: a source moved to the end comes round again.
    for (const [source, q] of this.bySource) {
      if (max-- <= 0) return;
      const item = q.shift() as T;
      this.count--;
      this.bySource.delete(source);
      if (q.length > 0) this.bySource.set(source, q);
      handle(item);
    }
  }
}
