// releaseMemory gives a grown heap back: what the edge runs once a flood is over (transport/flood-guard.ts afterAttack).
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { releaseMemory } from '../../src/observability/heap.ts';

describe('releaseMemory', () => {
  it('shrinks the V8 heap after garbage from a burst, without putting gc() on the global object', () => {
    let burst: { i: number; s: string }[] | null = [];
    for (let i = 0; i < 1_000_000; i++) burst.push({ i, s: `x${i}` });
    const grown = v8.getHeapStatistics().total_heap_size;
    burst = null;
    const { before, after } = releaseMemory();
    expect(before).toBeGreaterThanOrEqual(grown * 0.9);
    expect(after).toBeLessThan(before / 2);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
