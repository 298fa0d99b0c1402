// The whole REGISTER path in one process without sockets: transaction layer -> dispatcher -> auth -> registrar ->
// memory store -> response bytes, for REGISTER/401/REGISTER/200 pairs. Prints registrations/s per CPU-second.
// Two edges in one process, measured in interleaved rounds (so that other load on the machine falls on both alike):
// one as shipped, one whose latency histograms are no-ops, to show what they cost on this path.
// Usage: npx tsx load-tests/micro/register-path.bench.ts  (BENCH_N registrations per edge, BENCH_ROUNDS rounds)
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import type { FastHistogram, HistogramCell } from '../../src/observability/fast-histogram.ts';
import { Provisioning } from '../../src/auth/provisioning.ts';
import { systemClock } from '../../src/clock.ts';
import type { Flow, TransportHandler } from '../../src/transport/flow.ts';
import { registerRequest } from './register-request.ts';

const USERS = 2000;
const NOOP_CELL: HistogramCell = { observe() {} };
const noopHistogram = { labels: () => NOOP_CELL };
/** The edge's metrics with every latency histogram replaced by one whose cells do nothing. */
class WithoutLatencyHistograms extends Metrics {
  override readonly sipResponseSeconds = noopHistogram as unknown as FastHistogram<'method' | 'status_class'>;
  override readonly proxyInviteProvisionalSeconds = noopHistogram as unknown as FastHistogram;
  override readonly proxyInviteFinalSeconds = noopHistogram as unknown as FastHistogram<'status_class'>;
  override readonly httpRequestSeconds = noopHistogram as unknown as FastHistogram<'method' | 'route' | 'status_class'>;
}

async function makeEdge(metrics: Metrics) {
  const dir = mkdtempSync(join(tmpdir(), 'sipedge-bench-'));
  const config = loadConfig({ env: {}, overrides: { dataDir: dir, sip: { udp: 'off', tcp: 'off', ws: 'off', tls: 'off', wss: 'off' }, http: { listen: 'off', https: 'off' }, log: { level: 'silent' } } });
  const app = await createApp(config, { logger: silentLogger(), metrics });
  const p = new Provisioning(app.stores, config.auth, systemClock);
  await p.addTenant('acme', 'acme.example.com');
  const lines = ['tenant,extension,voip_password'];
  for (let i = 0; i < USERS; i++) lines.push(`acme,${1000 + i},pw-${i}-abcdefghijkl`);
  await p.importCsv(lines.join('\n'));
  // Reach the transaction layer the way the transport does.
  return { app, dir, handler: app.transactions as TransportHandler };
}
const edges = [
  { name: 'with latency histograms', ...(await makeEdge(new Metrics())), us: [] as number[] },
  { name: 'without (no-op cells)', ...(await makeEdge(new WithoutLatencyHistograms())), us: [] as number[] },
];

let last = '';
const flow: Flow = {
  id: 'udp:5060:127.0.0.1:40000', transport: 'udp', isReliable: false, remoteAddress: '127.0.0.1', remotePort: 40000,
  localAddress: '127.0.0.1', localPort: 5060, isOpen: true,
  send(d) { last = typeof d === 'string' ? d : d.toString('latin1'); return true; },
};
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
/**
 * Under `valgrind --tool=callgrind --callgrind-out-file=DIR/cg.%p` with BENCH_CALLGRIND=DIR: dumps the counters at the
 * start and end of the measured loop, so DIR's "dump end" file holds the instructions of the loop alone (plus ~20 M
 * for the dump requests themselves): a figure that other load on the machine does not change.
 */
function callgrindDump(tag: string): void {
  const dir = process.env.BENCH_CALLGRIND;
  if (!dir) return;
  const before = readdirSync(dir).length;
  spawn('callgrind_control', ['-d', tag, String(process.pid)], { stdio: 'ignore', detached: true }).unref();
  const t0 = Date.now();
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (readdirSync(dir).length === before && Date.now() - t0 < 60_000) Atomics.wait(cell, 0, 0, 2);
}
const tick = () => new Promise((r) => setImmediate(r));
/** CPU µs spent from handing a request to the edge until its response is out (the client's own work excluded). */
let serverUs = 0;
async function one(handler: TransportHandler, i: number): Promise<boolean> {
  const ext = 1000 + (i % USERS);
  const callId = `${i}-${randomBytes(4).toString('hex')}@bench`;
  const first = registerRequest(ext, 1, callId);
  let c = process.cpuUsage();
  handler.onMessage(first, flow);
  for (let k = 0; k < 20 && !last.includes(callId); k++) await tick();
  let d = process.cpuUsage(c);
  serverUs += d.user + d.system;
  const nonce = /nonce="([^"]+)"/.exec(last.slice(last.indexOf('algorithm=MD5') - 120))?.[1] ?? /nonce="([^"]+)"/.exec(last)![1]!;
  const ha1 = md5(`${ext}:acme.example.com:pw-${ext - 1000}-abcdefghijkl`);
  const ha2 = md5('REGISTER:sip:acme.example.com');
  const resp = md5(`${ha1}:${nonce}:00000001:c0ffee:auth:${ha2}`);
  last = '';
  const second = registerRequest(ext, 2, callId, `Digest username="${ext}", realm="acme.example.com", nonce="${nonce}", uri="sip:acme.example.com", response="${resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"`);
  c = process.cpuUsage();
  handler.onMessage(second, flow);
  for (let k = 0; k < 20 && !last.startsWith('SIP/2.0 200'); k++) await tick();
  d = process.cpuUsage(c);
  serverUs += d.user + d.system;
  return last.startsWith('SIP/2.0 200');
}
const WARM = Number(process.env.BENCH_WARM ?? 3000);
for (const e of edges) for (let i = 0; i < WARM; i++) if (!(await one(e.handler, i))) throw new Error(`registration ${i} failed: ${last.slice(0, 80)}`);
const N = Number(process.env.BENCH_N ?? 20000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const perRound = Math.ceil(N / ROUNDS);
callgrindDump('start');
for (let r = 0; r < ROUNDS; r++) {
  // Alternate which edge goes first, so that neither always runs right after a warm-up or a GC of the other.
  for (const e of r % 2 === 0 ? edges : [...edges].reverse()) {
    serverUs = 0;
    for (let i = 0; i < perRound; i++) await one(e.handler, r * perRound + i);
    e.us.push(serverUs / perRound / 2);
  }
}
callgrindDump('end');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`register path: ${ROUNDS} interleaved rounds of ${perRound} registrations (2 REGISTERs each) per edge`);
for (const e of edges) {
  console.log(`  ${e.name.padEnd(26)} median ${median(e.us).toFixed(1)} us CPU per REGISTER on the edge's side (rounds: ${e.us.map((u) => u.toFixed(1)).join(', ')})`);
}
const [on, off] = edges.map((e) => median(e.us));
console.log(`  latency histograms cost ${(((on! - off!) / off!) * 100).toFixed(1)} % of the REGISTER's edge-side CPU (median against median)`);
// What one timed response adds, alone (too small for the rounds above to resolve on a shared machine): the start
// stamp, the method lookup, the bucket search and three additions.
{
  const cells = new Map([['REGISTER', [new Metrics().sipResponseSeconds.labels('REGISTER', '2xx')]]]);
  const method = ['REGISTER'].map((m) => m.slice(0))[0]!;
  const K = 2_000_000;
  const t = performance.now();
  for (let i = 0; i < K; i++) {
    const started = performance.now();
    cells.get(method)![0]!.observe((performance.now() - started) / 1000);
  }
  console.log(`  one timed response alone: ${(((performance.now() - t) * 1e6) / K).toFixed(0)} ns (2 performance.now(), lookup, observe; ${K} in a loop)`);
}
for (const e of edges) {
  await e.app.stop();
  rmSync(e.dir, { recursive: true, force: true });
}
