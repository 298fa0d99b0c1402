// Timer wheel behaviour with a FakeClock: never early, at most one bucket late, in order, stale slots ignored.
// No sleeping: time moves by clock.advance() and wheel.tick().
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { TimerWheel } from '../../src/transaction/timer-wheel.ts';

interface Item {
  name: string;
  slot: number;
}

const wheels: TimerWheel<Item>[] = [];
afterEach(() => {
  for (const w of wheels.splice(0)) w.close();
});

function setup(resolutionMs = 500): { clock: FakeClock; wheel: TimerWheel<Item>; fired: string[] } {
  const clock = new FakeClock();
  const fired: string[] = [];
  const wheel = new TimerWheel<Item>({
    clock,
    resolutionMs,
    onExpire: (item, slot) => {
      if (item.slot === slot) fired.push(item.name);
    },
  });
  wheels.push(wheel);
  return { clock, wheel, fired };
}

function step(clock: FakeClock, wheel: TimerWheel<Item>, ms: number, by = 100): void {
  for (let t = 0; t < ms; t += by) {
    clock.advance(by);
    wheel.tick();
  }
}

describe('TimerWheel', () => {
  it('fires a timer no earlier than its delay and at most one bucket later', () => {
    const { clock, wheel, fired } = setup(500);
    clock.advance(120); // not on a bucket boundary
    const j: Item = { name: 'timerJ', slot: 0 };
    j.slot = wheel.schedule(j, 32_000);
    step(clock, wheel, 31_900);
    expect(fired).toEqual([]);
    step(clock, wheel, 600);
    expect(fired).toEqual(['timerJ']);
  });

  it('fires timers in due order across buckets', () => {
    const { clock, wheel, fired } = setup(100);
    for (const [name, ms] of [['c', 3000], ['a', 1000], ['b', 2000]] as const) {
      const it: Item = { name, slot: 0 };
      it.slot = wheel.schedule(it, ms);
    }
    clock.advance(5000);
    wheel.tick();
    expect(fired).toEqual(['a', 'b', 'c']);
  });

  it('ignores a cancelled timer (the owner forgot its slot) and a rescheduled one at its old time', () => {
    const { clock, wheel, fired } = setup(500);
    const cancelled: Item = { name: 'cancelled', slot: 0 };
    cancelled.slot = wheel.schedule(cancelled, 1000);
    cancelled.slot = -1;
    const moved: Item = { name: 'moved', slot: 0 };
    moved.slot = wheel.schedule(moved, 1000);
    moved.slot = wheel.reschedule(moved, moved.slot, 5000);
    step(clock, wheel, 2000);
    expect(fired).toEqual([]);
    step(clock, wheel, 3500);
    expect(fired).toEqual(['moved']);
  });

  it('keeps one entry when a reschedule lands in the same bucket', () => {
    const { wheel } = setup(500);
    const item: Item = { name: 'x', slot: 0 };
    item.slot = wheel.schedule(item, 1000);
    expect(wheel.reschedule(item, item.slot, 900)).toBe(item.slot);
    expect(wheel.size).toBe(1);
  });

  it('runs a doubling retransmit chain (Timer G style) rescheduled from its own callback', () => {
    const clock = new FakeClock();
    const start = clock.now();
    const fired: number[] = [];
    const g = { interval: 500, slot: 0 };
    const wheel: TimerWheel<typeof g> = new TimerWheel({
      clock,
      resolutionMs: 50,
      onExpire: (it, slot) => {
        if (slot !== it.slot) return;
        fired.push(clock.now() - start);
        it.interval = Math.min(it.interval * 2, 4000);
        it.slot = wheel.schedule(it, it.interval);
      },
    });
    g.slot = wheel.schedule(g, g.interval);
    for (let t = 0; t < 16_000; t += 50) {
      clock.advance(50);
      wheel.tick();
    }
    wheel.close();
    expect(fired).toEqual([500, 1500, 3500, 7500, 11_500, 15_500]);
  });

  it('handles a clock jump of days by visiting only the occupied buckets', () => {
    const { clock, wheel, fired } = setup(500);
    const a: Item = { name: 'a', slot: 0 };
    a.slot = wheel.schedule(a, 60_000);
    clock.advance(5 * 86_400_000);
    expect(wheel.tick()).toBe(1);
    expect(fired).toEqual(['a']);
    expect(wheel.size).toBe(0);
  });

  it('keeps firing when a callback throws, and reports the error', () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const fired: string[] = [];
    const wheel = new TimerWheel<string>({
      clock,
      resolutionMs: 100,
      onExpire: (name) => {
        if (name === 'bad') throw new Error('boom');
        fired.push(name);
      },
      onError: (e) => errors.push(e),
    });
    wheels.push(wheel as unknown as TimerWheel<Item>);
    wheel.schedule('bad', 100);
    wheel.schedule('good', 100);
    clock.advance(200);
    wheel.tick();
    expect(fired).toEqual(['good']);
    expect(errors).toHaveLength(1);
  });
});
