// Giving the process's memory back after a burst. The edge runs with V8's memory reducer off (bin/sipedge.js: its
// series of collections stalls the hold-music clock), so a heap that grew under a flood stays grown: V8 keeps the young
// generation at the size the burst needed and old-generation pages it has no pressure to return. One memory-reducing
// collection (what V8 runs for a low-memory notification: every space compacted, the young generation shrunk to its
// starting size, empty pages unmapped) gives it back. It stops the event loop for a full mark-compact (tens of ms on a
// heap of a few hundred MB), so it is run once, when a burst has ended, never on a timer.
import v8 from 'node:v8';
import vm from 'node:vm';

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
let gc: GcFunction | undefined;

/** Runs one memory-reducing garbage collection; returns the V8 heap's committed bytes before and after, and its ms. */
export function releaseMemory(): { before: number; after: number; ms: number } {
  if (gc === undefined) {
    // The gc() function is made by V8 for contexts created while --expose-gc is set; a fresh context made here has it,
    // without exposing gc() on the edge's own global object.
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as GcFunction;
    v8.setFlagsFromString('--no-expose-gc');
  }
  const before = v8.getHeapStatistics().total_heap_size;
  const start = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return { before, after: v8.getHeapStatistics().total_heap_size, ms: Math.round(performance.now() - start) };
}

/** Bytes as megabytes with one decimal, for log lines. */
export function toMb(bytes: number): number {
  return Math.round(bytes / 104_857.6) / 10;
}
