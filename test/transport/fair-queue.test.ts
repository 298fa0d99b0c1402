// The UDP listener's queue of messages read but not yet handled: one source in turn, each source's order kept, and a
// busy source held to its share so a quiet one still gets in.
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../src/transport/fair-queue.ts';

function take<T>(q: FairQueue<T>, max: number): T[] {
  const out: T[] = [];
  q.serve(max, (item) => out.push(item));
  return out;
}

describe('fair queue', () => {
  it('serves one message per source in turn, each source in its own order', () => {
    const q = new FairQueue<string>(100);
    for (let i = 1; i <= 4; i++) q.push('flood', `f${i}`);
    q.push('phone', 'p1');
    q.push('phone', 'p2');
    expect(take(q, 3)).toEqual(['f1', 'p1', 'f2']);
    expect(q.size).toBe(3);
    expect(take(q, 10)).toEqual(['p2', 'f3', 'f4']);
    expect(q.size).toBe(0);
    expect(take(q, 10)).toEqual([]);
  });

  it('holds a busy source to its share of the capacity, so a new source is still queued', () => {
    const q = new FairQueue<number>(8);
    let queued = 0;
    for (let i = 0; i < 20; i++) if (q.push('flood', i)) queued++;
    expect(queued).toBe(8); // alone, a source may fill it
    expect(q.accepts('phone')).toBe(true);
    expect(q.push('phone', -1)).toBe(true);
    expect(q.accepts('flood')).toBe(false); // asked before a datagram is copied: what push would answer
    expect(q.push('flood', 99)).toBe(false); // now over its share (8 / 2)
    expect(take(q, 2)).toEqual([0, -1]);
  });

  it('refuses a new source when as many sources as its capacity wait', () => {
    const q = new FairQueue<number>(3);
    expect([1, 2, 3, 4].map((s) => q.push(`s${s}`, s))).toEqual([true, true, true, false]);
    take(q, 1);
    expect(q.push('s4', 4)).toBe(true);
  });
});
