// Micro-benchmark of the embedded store's hot path: bindings get+replace, recordFailure, nonce checkAndSet.
// Prints ops/s; run with `npx tsx load-tests/micro/store.bench.ts`. Redis numbers need a server; not measured here.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/clock.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';
import { chain, type MaybePromise } from '../../src/store/maybe-promise.ts';
import type { Binding } from '../../src/store/types.ts';

const AORS = 10_000;
const OPS = 500_000;

/** Runs fn `ops` times; a promise is awaited, a value (the embedded store's answer) is not. */
async function measure(name: string, ops: number, fn: (i: number) => MaybePromise<unknown>): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    const r = fn(i); // warm-up
    if (r instanceof Promise) await r;
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const r = fn(i);
    if (r instanceof Promise) await r;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`${name.padEnd(34)} ${Math.round(ops / seconds).toLocaleString('en-US').padStart(12)} ops/s`);
}

const dir = fs.mkdtempSync(join(tmpdir(), 'sipedge-bench-'));
const stores = await openMemoryStores(join(dir, 'store'), { role: 'edge', clock: systemClock });
const now = Date.now();
const aors = Array.from({ length: AORS }, (_, i) => `${1000 + i}@acme`);
const bindingOf = (i: number, t: number): Binding => ({
  contact: `sip:${1000 + i}@192.0.2.${i % 250}:5060`,
  callId: `c${i}`,
  cseq: 1,
  expiresAt: t + 3_600_000,
  registeredAt: t,
  path: [],
  transport: 'udp',
  sourceAddress: `192.0.2.${i % 250}`,
  sourcePort: 5060,
  nodeId: 'n1',
});

try {
  await measure('bindings get+replace (1 contact)', OPS, (i) => {
    const aor = aors[i % AORS] as string;
    const t = now + i;
    return chain(stores.bindings.get(aor, t), (set) => stores.bindings.replace(aor, [bindingOf(i % AORS, t)], set.version, t));
  });
  const policy = { maxFailures: 5, windowMs: 300_000, lockMs: 900_000 };
  await measure('lockouts recordFailure', OPS, (i) => stores.lockouts.recordFailure(aors[i % AORS] as string, now + i, policy));
  await measure('nonces checkAndSet', OPS, (i) => stores.nonces.checkAndSet(`nonce-${i % AORS}`, i, now + i, 300_000));
} finally {
  await stores.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
