// CPU-time micro-benchmark harness shared by load-tests/micro/*.bench.ts: the VM is shared, so wall time would
// measure the neighbours; user + system CPU of this process is what a benchmark reports.

/** CPU microseconds (user + system) this process has used. */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Runs fn for about `ms` of CPU time per round after a warm-up of 50,000 calls (and at least `minOps` calls in all);
 * prints the best of 5 rounds as µs CPU per op and ops per CPU-second, and returns ops per CPU-second.
 */
export function benchCpu(name: string, fn: () => unknown, ms = 400, minOps = 0): number {
  for (let i = 0; i < 50_000; i++) fn();
  let best = 0;
  let total = 0;
  for (let round = 0; round < 5 || total < minOps; round++) {
    let ops = 0;
    const start = cpuMicros();
    let used = 0;
    while (used < ms * 1000) {
      for (let i = 0; i < 2000; i++) fn();
      ops += 2000;
      used = cpuMicros() - start;
    }
    total += ops;
    best = Math.max(best, ops / (used / 1e6));
  }
  const us = (1e6 / best).toFixed(2);
  console.log(`${name.padEnd(62)} ${us.padStart(7)} µs/op ${Math.round(best).toLocaleString('en-US').padStart(11)} ops/s`);
  return best;
}
