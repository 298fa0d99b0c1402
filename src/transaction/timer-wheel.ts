// A bucketed timer wheel: timers round up to the next bucket, one unref'd interval per wheel, no closure per timer.
// Owners keep the slot that schedule() returns and ignore stale fires; what a timer means is the owner's business.
import type { Clock } from '../clock.ts';

export interface TimerWheelOptions<T> {
  clock: Clock;
  /** Bucket width in ms: a timer fires up to this late, never early. */
  resolutionMs: number;
  /**
   * Called once per scheduled (item, slot) when its bucket is due. The owner compares `slot` with the slot it kept:
   * a mismatch means the timer was rescheduled or cancelled (lazy deletion, as in Kamailio's wheel).
   */
  onExpire: (item: T, slot: number) => void;
  /** Called after each tick that reached a new bucket (e.g. to refresh a gauge). */
  onTick?: () => void;
  /** Called when onExpire throws; the wheel itself never throws from its interval. */
  onError?: (err: unknown) => void;
}

/** Largest slot gap walked one slot at a time; longer jumps (a suspended host, a fake clock) visit occupied slots only. */
const MAX_WALK = 100_000;

/**
 * Cost: schedule is a Map lookup and an array push; a tick visits each elapsed bucket once. A cancelled timer costs
 * one array slot until its bucket comes due. The interval runs only while timers are pending.
 */
export class TimerWheel<T> {
  private readonly buckets = new Map<number, T[]>();
  private readonly clock: Clock;
  private readonly resolutionMs: number;
  private readonly onExpire: (item: T, slot: number) => void;
  private readonly onTick: (() => void) | undefined;
  private readonly onError: (err: unknown) => void;
  /** Slots count from here, so they stay small integers. */
  private readonly origin: number;
  /** The last slot processed. */
  private last: number;
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: TimerWheelOptions<T>) {
    this.clock = opts.clock;
    this.resolutionMs = opts.resolutionMs;
    this.onExpire = opts.onExpire;
    this.onTick = opts.onTick;
    this.onError = opts.onError ?? (() => undefined);
    this.origin = this.clock.now();
    this.last = 0;
  }

  /** Timers waiting in buckets, cancelled ones included until their bucket comes due. */
  get size(): number {
    return this.pending;
  }

  /** Schedules item to fire after delayMs (rounded up to a bucket); returns its slot. */
  schedule(item: T, delayMs: number): number {
    let slot = Math.ceil((this.clock.now() + delayMs - this.origin) / this.resolutionMs);
    if (slot <= this.last) slot = this.last + 1;
    let bucket = this.buckets.get(slot);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(slot, bucket);
    }
    bucket.push(item);
    this.pending++;
    if (this.timer === undefined && !this.closed) {
      this.timer = setInterval(() => this.tick(), this.resolutionMs);
      this.timer.unref();
    }
    return slot;
  }

  /** Like schedule, but keeps `slot` (no second entry) when the new time falls in the same bucket. */
  reschedule(item: T, slot: number, delayMs: number): number {
    const next = Math.ceil((this.clock.now() + delayMs - this.origin) / this.resolutionMs);
    if (next === slot && slot > this.last) return slot;
    return this.schedule(item, delayMs);
  }

  /** Fires every bucket that is due at clock.now(), oldest first; returns how many items were handed to onExpire. */
  tick(): number {
    const target = Math.floor((this.clock.now() - this.origin) / this.resolutionMs);
    if (target <= this.last) return 0;
    let fired = 0;
    if (target - this.last <= MAX_WALK) {
      // Timers scheduled while firing land in slot last+1 or later, so this walk also fires those that are due.
      while (this.last < target) fired += this.fire(++this.last);
    } else {
      for (let slot = this.nextOccupied(target); slot !== -1; slot = this.nextOccupied(target)) {
        this.last = slot;
        fired += this.fire(slot);
      }
      this.last = target;
    }
    if (this.pending === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.onTick?.();
    return fired;
  }

  /** Stops the interval; pending timers are forgotten. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.buckets.clear();
    this.pending = 0;
  }

  private fire(slot: number): number {
    const bucket = this.buckets.get(slot);
    if (bucket === undefined) return 0;
    this.buckets.delete(slot);
    this.pending -= bucket.length;
    for (let i = 0; i < bucket.length; i++) {
      try {
        this.onExpire(bucket[i], slot);
      } catch (err) {
        this.onError(err);
      }
    }
    return bucket.length;
  }

  /** The smallest occupied slot <= target, or -1. */
  private nextOccupied(target: number): number {
    let best = -1;
    for (const slot of this.buckets.keys()) if (slot <= target && (best === -1 || slot < best)) best = slot;
    return best;
  }
}
