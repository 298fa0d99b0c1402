// Micro-benchmark of the Redis client's cost per command on the edge, as the REGISTER path uses it: requests of five
// reads issued in one event-loop turn (ban, tenant, trust and locks, account, bindings), 20 requests started per
// turn. (a) ioredis with enableAutoPipelining and commandTimeout, as the main connection was configured before;
// (b) the store's main connection (src/store/redis/connection.ts connectRedis: one write per turn by corking the
// socket, one timeout timer per connection). Interleaved, three times each; prints the edge-side CPU µs per command
// (this process's user + system time). Starts a redis-server of its own. Run with `npx tsx load-tests/micro/redis-client.bench.ts`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { closeRedis, connectRedis } from '../../src/store/redis/connection.ts';
import { freeTcpPort } from '../lib/edge-process.ts';

const REQUESTS = 20_000;
const PER_TURN = 20;
const READS = 5;

async function requests(redis: Redis): Promise<number> {
  const request = (): Promise<unknown> =>
    Promise.all([redis.get('ban:192.0.2.1'), redis.get('tenant:acme'), redis.mget('trust:a', 'lock:a', 'lock:b'), redis.hget('ext:acme', '1000'), redis.hmget('aor:1000@acme', 'v', 'b')]);
  const before = process.cpuUsage();
  let started = 0;
  await new Promise<void>((resolve) => {
    let done = 0;
    const turn = (): void => {
      for (let i = 0; i < PER_TURN && started < REQUESTS; i++, started++) void request().then(() => ++done === REQUESTS && resolve());
      if (started < REQUESTS) setImmediate(turn);
    };
    turn();
  });
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / (REQUESTS * READS);
}

const dir = mkdtempSync(join(tmpdir(), 'sipedge-redis-bench-'));
const port = await freeTcpPort();
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
try {
  const cfg = { url, keyPrefix: 'bench:', commandTimeoutMs: 1000 };
  const before = new Redis(url, { keyPrefix: cfg.keyPrefix, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, enableAutoPipelining: true, commandTimeout: 1000, retryStrategy: () => null });
  before.on('error', () => {});
  for (let i = 0; ; i++) {
    try {
      await before.connect();
      break;
    } catch (e) {
      if (i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const now = await connectRedis(cfg);
  await before.hset('aor:1000@acme', 'v', '1', 'b', JSON.stringify([{ contact: 'sip:1000@192.0.2.10:5060', expiresAt: 1e13, node: 'n1' }]));
  await requests(before); // warm-up
  await requests(now);
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < 3; round++) {
    a.push(await requests(before));
    b.push(await requests(now));
  }
  const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(', ');
  console.log(`CPU µs per command, ${REQUESTS} requests of ${READS} reads, ${PER_TURN} per turn:`);
  console.log(`  (a) ioredis enableAutoPipelining + commandTimeout  ${fmt(a)}`);
  console.log(`  (b) connectRedis (one write per turn, one timer)   ${fmt(b)}`);
  before.disconnect();
  await closeRedis(now);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
