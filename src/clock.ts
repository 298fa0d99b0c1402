// The Clock every expiring thing reads: real time in production, a fake one in tests.
// Nothing here schedules work; timers live with their owners (transaction timer wheel, sweeps).

/** Milliseconds since the epoch, like Date.now(). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * The real clock for pacing (hold-music RTP every 20 ms): epoch milliseconds like systemClock, but monotonic and finer
 * than a millisecond (performance.timeOrigin + performance.now()), so a step of the wall clock (NTP) neither stalls
 * nor bursts the streams. It drifts from Date.now() over days: use it for intervals, not for times other nodes read.
 */
export const monotonicClock: Clock = { now: () => performance.timeOrigin + performance.now() };

/** A clock tests move by hand: `advance(15 * 60_000)` instead of sleeping. */
export class FakeClock implements Clock {
  constructor(private t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
