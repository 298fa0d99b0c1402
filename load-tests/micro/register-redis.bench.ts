// The REGISTER path in one process without SIP sockets, on the memory store and on Redis, for REGISTER/401/REGISTER/200
// with an MD5 digest: the edge's CPU per registration on each store, and their ratio. Unlike register-path.bench.ts
// (one registration at a time), WAVE registrations are in flight together, each leg's REGISTERs handed to the edge in
// one event-loop turn as a busy edge's receive loop does, so the Redis store's per-turn batching works as under load.
// The two edges run in interleaved rounds, so other load on the machine falls on both alike. Starts a redis-server of
// its own (on --redis-cpus' core when given, so it does not share the measured process's). CPU is this process's
// (user + system) over a round, minus the client's own work (requests and digests, measured alone beforehand).
// Usage: npx tsx load-tests/micro/register-redis.bench.ts  (BENCH_N registrations per round, BENCH_ROUNDS, BENCH_WAVE,
// BENCH_ARMS, BENCH_REDIS_CPUS)
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { Provisioning } from '../../src/auth/provisioning.ts';
import { systemClock } from '../../src/clock.ts';
import type { Flow, TransportHandler } from '../../src/transport/flow.ts';
import { registerRequest } from './register-request.ts';
import { freeTcpPort } from '../lib/edge-process.ts';

const USERS = 4000;
const N = Number(process.env.BENCH_N ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const WAVE = Number(process.env.BENCH_WAVE ?? 50);
const REDIS_CPUS = process.env.BENCH_REDIS_CPUS ?? '1';
/** BENCH_ARMS=redis (or memory) runs one edge only, e.g. under --cpu-prof. */
const ARMS = (process.env.BENCH_ARMS ?? 'memory,redis').split(',') as ('memory' | 'redis')[];

const redisDir = mkdtempSync(join(tmpdir(), 'sipedge-bench-redis-'));
const port = await freeTcpPort();
const redisArgs = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir];
const server = REDIS_CPUS === ''
  ? spawn('redis-server', redisArgs, { stdio: 'ignore' })
  : spawn('taskset', ['-c', REDIS_CPUS, 'redis-server', ...redisArgs], { stdio: 'ignore' });

/** Responses by Call-ID, and who waits for them. */
const waiting = new Map<string, (text: string) => void>();
const flow: Flow = {
  id: 'udp:5060:127.0.0.1:40000', transport: 'udp', isReliable: false, remoteAddress: '127.0.0.1', remotePort: 40000,
  localAddress: '127.0.0.1', localPort: 5060, isOpen: true,
  send(d) {
    const text = typeof d === 'string' ? d : d.toString('latin1');
    const at = text.indexOf('Call-ID: ') + 9;
    const callId = text.slice(at, text.indexOf('\r\n', at));
    waiting.get(callId)?.(text);
    return true;
  },
};

async function makeEdge(store: 'memory' | 'redis') {
  const dir = mkdtempSync(join(tmpdir(), 'sipedge-bench-'));
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir: dir, store, redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: 'bench:' }, flood: { enabled: false },
      sip: { udp: 'off', tcp: 'off', ws: 'off', tls: 'off', wss: 'off' }, http: { listen: 'off', https: 'off' }, log: { level: 'silent' },
    },
  });
  let app;
  for (let i = 0; ; i++) {
    try {
      app = await createApp(config, { logger: silentLogger(), metrics: new Metrics() });
      break;
    } catch (e) {
      if (i >= 50) throw e; // redis-server still starting
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const p = new Provisioning(app.stores, config.auth, systemClock);
  await p.addTenant('acme', 'acme.example.com');
  const lines = ['tenant,extension,voip_password'];
  for (let i = 0; i < USERS; i++) lines.push(`acme,${1000 + i},pw-${i}-abcdefghijkl`);
  await p.importCsv(lines.join('\n'));
  return { store, app, dir, handler: app.transactions as TransportHandler, us: [] as number[] };
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const HA2 = md5('REGISTER:sip:acme.example.com');
const HA1 = Array.from({ length: USERS }, (_, i) => md5(`${1000 + i}:acme.example.com:pw-${i}-abcdefghijkl`));
function second(ext: number, callId: string, challenge: string): Buffer {
  const nonce = /nonce="([^"]+)", algorithm=MD5/.exec(challenge)?.[1] ?? /nonce="([^"]+)"/.exec(challenge)![1]!;
  const resp = md5(`${HA1[ext - 1000]}:${nonce}:00000001:c0ffee:auth:${HA2}`);
  return registerRequest(ext, 2, callId, `Digest username="${ext}", realm="acme.example.com", nonce="${nonce}", uri="sip:acme.example.com", response="${resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"`);
}
const answer = (callId: string) => new Promise<string>((resolve) => waiting.set(callId, resolve));

/** One wave: WAVE first REGISTERs in one turn, then their WAVE answers in one turn. Returns the client's CPU µs. */
async function wave(handler: TransportHandler | undefined, start: number): Promise<number> {
  let client = 0;
  let c = process.cpuUsage();
  const calls = Array.from({ length: WAVE }, (_, j) => ({ ext: 1000 + ((start + j) % USERS), callId: `${start + j}-${randomBytes(4).toString('hex')}@bench` }));
  const firsts = calls.map((x) => registerRequest(x.ext, 1, x.callId));
  let d = process.cpuUsage(c);
  client += d.user + d.system;
  if (handler === undefined) {
    // The client's own work alone: what wave() does besides the edge's (the digests of the second leg included).
    c = process.cpuUsage();
    for (const x of calls) second(x.ext, x.callId, 'nonce="abc", algorithm=MD5');
    d = process.cpuUsage(c);
    return client + d.user + d.system;
  }
  const challenges = calls.map((x) => answer(x.callId));
  for (const b of firsts) handler.onMessage(b, flow);
  const got = await Promise.all(challenges);
  c = process.cpuUsage();
  const seconds = calls.map((x, j) => second(x.ext, x.callId, got[j]!));
  d = process.cpuUsage(c);
  client += d.user + d.system;
  const oks = calls.map((x) => answer(x.callId));
  for (const b of seconds) handler.onMessage(b, flow);
  const done = await Promise.all(oks);
  for (const x of calls) waiting.delete(x.callId);
  const bad = done.find((t) => !t.startsWith('SIP/2.0 200'));
  if (bad !== undefined) throw new Error(`a registration failed: ${bad.slice(0, 60)}`);
  return client;
}

try {
  const edges: Awaited<ReturnType<typeof makeEdge>>[] = [];
  for (const store of ARMS) edges.push(await makeEdge(store));
  const waves = Math.ceil(N / WAVE);
  for (const e of edges) for (let w = 0; w < 40; w++) await wave(e.handler, w * WAVE); // warm-up
  let clientUs = 0;
  for (let w = 0; w < waves; w++) clientUs += await wave(undefined, w * WAVE);
  const clientPerReg = clientUs / (waves * WAVE);
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of r % 2 === 0 ? edges : [...edges].reverse()) {
      const c = process.cpuUsage();
      let client = 0;
      for (let w = 0; w < waves; w++) client += await wave(e.handler, (r * waves + w) * WAVE);
      const d = process.cpuUsage(c);
      e.us.push((d.user + d.system - client) / (waves * WAVE));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`register on memory and on Redis: ${ROUNDS} interleaved rounds of ${waves * WAVE} registrations, ${WAVE} in flight (client's own work ${clientPerReg.toFixed(1)} µs/reg, excluded)`);
  for (const e of edges) console.log(`  ${e.store.padEnd(7)} median ${median(e.us).toFixed(1)} µs CPU per registration (rounds: ${e.us.map((u) => u.toFixed(1)).join(', ')})`);
  const ratios = edges.length < 2 ? [] : edges[0]!.us.map((m, i) => m / edges[1]!.us[i]!);
  if (ratios.length > 0) console.log(`  memory / redis CPU per registration: median ${median(ratios).toFixed(2)} (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')})`);
  for (const e of edges) {
    await e.app.stop();
    rmSync(e.dir, { recursive: true, force: true });
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(redisDir, { recursive: true, force: true });
}
