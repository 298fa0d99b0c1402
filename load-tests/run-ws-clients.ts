// Many registered SIP-over-WebSocket phones (npm run bench -- --ws-clients N): worker processes (lib/ws-client-worker.ts)
// each hold a slice of phones bound to sources spread over 127.0.0.0/8, started at a bounded rate, registering with an
// MD5 digest and refreshing every --refresh-seconds with jitter. Prints the curve (phones registered against the edge's
// RSS from /proc/<pid>/status and its event-loop lag from /metrics), refresh latency percentiles and phones dropped.
// It starts its own edge, or --nodes N edges on a redis-server of its own sharing the WebSocket port (sip.reusePort: the
// kernel spreads the phones' connections over them), or attaches to one (--target); the edge itself is src/'s. Its report (load-tests/lib/report.ts)
// draws the curve: each printed row is a step placed at its phones registered.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freeTcpPort, REPO_ROOT, startEdge, type RunningEdge } from './lib/edge-process.ts';
import { startRedis, type RunningRedis } from './lib/redis-server.ts';
import { metricValue } from './lib/metrics-text.ts';
import { pssBytes, rssBytes } from './lib/proc-cpu.ts';
import { latencySummary, LoadReport, REPORT_OPTION, reportUsage } from './lib/report.ts';
import { writeUserFiles } from './lib/users.ts';
import type { WorkerPlan, WorkerReport } from './lib/ws-client-worker.ts';

const USAGE = `usage: tsx load-tests/run-ws-clients.ts [options]

  --clients N          phones to register (default 1000)
  --sources S          source addresses in 127.0.0.0/8 they are spread over (default: one per 200 phones)
  --rate R             phones started per second, all workers together (default 500)
  --refresh-seconds S  each phone refreshes its registration every S seconds, x (1 ± jitter) (default 300)
  --jitter J           (default 0.1)
  --hold-seconds S     how long the phones stay after the last one started (default: one refresh interval x (1 + jitter)
                       + 5 s, so that every phone refreshes at least once)
  --workers W          worker processes (default: one per 15 000 phones, at least 2)
  --nodes N            edge processes (default: 1 while one holds every phone under the open-file limit, else one per
                       17 000 phones). With N > 1: a redis-server of its own, the users provisioned in it once, N edges
                       on it (store redis) sharing one WebSocket port (sip.reusePort), each with its own internal hop
                       listener (cluster.listen); the curve's RSS is the edges' sum, redis-server's beside it
  --semi-space MB      the edges' V8 young generation (node --max-semi-space-size; default 64 as every launcher of the
                       edge with one node, 16 with several: each carries 1/N of the load, and a busy 64 MB one holds
                       up to 128 MB of RSS per process)
  --json               end with one JSON line of the summary
  --keep               after the summary, keep every phone registered until stdin ends (a test reads the edge meanwhile)
${reportUsage(23)}
 To use an edge that is already running instead of starting one (its ws listener, users and /metrics):
  --target URL         ws://host:port of its WebSocket listener
  --users FILE         its users as a \`sipedge import\` CSV (tenant,extension,voip_password)
  --domain D           their tenant's SIP domain
  --metrics URL        its /metrics
  --edge-pid PID       its process, for the RSS (optional)
  -h, --help`;

const TENANT = { code: 'wsload', domain: 'wsload.example.com' };
const PHONES_PER_WORKER = 15_000;
/** Phones per edge process by default when one process cannot hold them all (under the 20,000 open files here). */
const PHONES_PER_NODE = 17_000;
/** File descriptors a process needs beside its sockets (node, listeners, the store, pipes). */
const SPARE_FDS = 1_000;
const WORKER = join(REPO_ROOT, 'load-tests', 'lib', 'ws-client-worker.ts');

/** The 127.0.0.0/8 source of index i (< MAX_SOURCES): 127.10.0.1, 127.10.0.2, ... 250 per /24, never .0 or .255. */
function sourceAddress(i: number): string {
  return `127.10.${Math.floor(i / 250)}.${1 + (i % 250)}`;
}
const MAX_SOURCES = 256 * 250;

/** This process's open-file limit (soft, hard), from prlimit(1). */
function fileLimit(): { soft: number; hard: number } {
  const out = execFileSync('prlimit', ['--pid', String(process.pid), '--nofile', '--raw', '--noheadings', '--output', 'SOFT,HARD'], { encoding: 'utf8' });
  const [soft, hard] = out.trim().split(/\s+/).map((v) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v)));
  return { soft: soft!, hard: hard! };
}

/**
 * The prlimit(1) prefix that gives a child `need` open files, or [] when ours are enough. Raising the hard limit needs
 * CAP_SYS_RESOURCE (root outside a restricted container): checked here so that the run fails before it starts.
 */
function withFiles(need: number): string[] {
  const { soft, hard } = fileLimit();
  if (need <= soft) return [];
  const args = [`--nofile=${need}:${Math.max(need, hard)}`];
  try {
    execFileSync('prlimit', [...args, 'true'], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(
      `a process here needs ${need} open files, above this machine's hard limit of ${hard}, and raising it ` +
        `failed (${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? String(e)}): it needs CAP_SYS_RESOURCE. ` +
        `Run as root outside a restricted container, raise the limit first (ulimit -Hn), or ask for fewer --clients.`,
    );
  }
  return ['prlimit', ...args];
}

/** --nodes by default: 1 while one edge holds every phone under the hard open-file limit, else one per 17,000 phones. */
function defaultNodes(clients: number): number {
  return clients + SPARE_FDS <= fileLimit().hard ? 1 : Math.ceil(clients / PHONES_PER_NODE);
}

function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One edge process the run reads: its /metrics and its pid (for the RSS). */
interface EdgeView {
  metricsUrl: string;
  pid: number | undefined;
}

interface Target {
  url: string;
  domain: string;
  phones: Array<{ extension: string; password: string }>;
  edges: EdgeView[];
  /** The redis-server of a --nodes run. */
  redisPid: number | undefined;
}

/** The summed RSS (or PSS) of these processes (NaN when none could be read). */
function rssSum(pids: Array<number | undefined>, of: (pid: number | undefined) => number = rssBytes): number {
  let sum = 0;
  let read = false;
  for (const pid of pids) {
    const r = of(pid);
    if (Number.isFinite(r)) {
      sum += r;
      read = true;
    }
  }
  return read ? sum : Number.NaN;
}

/** The edge's figures the curve needs, from one /metrics scrape (the lag histogram restarts at each scrape). */
async function scrape(
  url: string,
): Promise<
  { lagP99: number; lagMax: number; registrations: number; wsOpen: number; registered200: number; heapMb: number; externalMb: number } | undefined
> {
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
    return {
      lagP99: metricValue(text, 'sipedge_nodejs_eventloop_lag_p99_seconds') * 1000,
      lagMax: metricValue(text, 'sipedge_nodejs_eventloop_lag_max_seconds') * 1000,
      registrations: metricValue(text, 'sipedge_registrations_active'),
      wsOpen: metricValue(text, 'sipedge_connections_open', { transport: 'ws' }),
      registered200: metricValue(text, 'sipedge_register_responses_total', { status: '200' }),
      heapMb: metricValue(text, 'sipedge_nodejs_heap_size_used_bytes') / 1024 / 1024,
      externalMb: metricValue(text, 'sipedge_nodejs_external_memory_bytes') / 1024 / 1024,
    };
  } catch {
    return undefined;
  }
}

export interface WsLoadSummary {
  asked: number;
  sources: number;
  workers: number;
  registered: number;
  failed: number;
  dropped: number;
  /** Connections that failed before their phone's first registration and were made again (1-3 s later, at most 3). */
  reconnects: number;
  refreshes: number;
  refreshP50Ms: number;
  refreshP99Ms: number;
  refreshMaxMs: number;
  initialP50Ms: number;
  initialP99Ms: number;
  /** Edge processes (--nodes). */
  nodes: number;
  /** The edge's own figures at the end: sipedge_registrations_active (on Redis: every node's) and open ws connections (summed over the nodes). */
  edgeRegistrations: number;
  edgeWsConnections: number;
  /** Per node at the end: its open ws connections and the REGISTERs it answered 200 (first registrations and refreshes). */
  perNode: Array<{ wsConnections: number; register200: number; rssMb: number }>;
  /** RSS of the edges (summed over the nodes) plus redis-server's (--nodes > 1; else 0). */
  rssBeforeMb: number;
  rssEndMb: number;
  rssMaxMb: number;
  /** redis-server's RSS (included in the rss figures above), 0 without --nodes > 1. */
  redisRssBeforeMb: number;
  redisRssEndMb: number;
  /** PSS summed over the same processes at the end (shared pages counted once): what they hold together. */
  pssEndMb: number;
  /** The edges' V8 heap in use and their memory outside the heap (Buffers, typed arrays) at the end, summed over the nodes. */
  heapUsedMb: number;
  externalMb: number;
  /** (RSS at the end - RSS before the first phone) / phones registered; edges plus redis-server. */
  kbPerPhone: number;
  lagP99MaxMs: number;
  lagMaxMs: number;
  reasons: Record<string, number>;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '1000' },
      sources: { type: 'string' },
      rate: { type: 'string', default: '500' },
      'refresh-seconds': { type: 'string', default: '300' },
      jitter: { type: 'string', default: '0.1' },
      'hold-seconds': { type: 'string' },
      workers: { type: 'string' },
      nodes: { type: 'string' },
      'semi-space': { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      target: { type: 'string' },
      users: { type: 'string' },
      domain: { type: 'string' },
      metrics: { type: 'string' },
      'edge-pid': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...REPORT_OPTION,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const clients = Number(values.clients);
  const rate = Number(values.rate);
  const refreshSeconds = Number(values['refresh-seconds']);
  const jitter = Number(values.jitter);
  const problems: string[] = [];
  if (!Number.isInteger(clients) || clients < 1) problems.push(`--clients ${values.clients} must be a positive integer`);
  if (!(rate > 0)) problems.push(`--rate ${values.rate} must be a positive number`);
  if (!(refreshSeconds > 0)) problems.push(`--refresh-seconds ${values['refresh-seconds']} must be a positive number`);
  if (!(jitter >= 0 && jitter < 1)) problems.push(`--jitter ${values.jitter} must be in [0, 1)`);
  const sources = values.sources === undefined ? Math.ceil(clients / 200) : Number(values.sources);
  if (!Number.isInteger(sources) || sources < 1 || sources > MAX_SOURCES) problems.push(`--sources ${values.sources} must be an integer from 1 to ${MAX_SOURCES}`);
  const workerCount = values.workers === undefined ? Math.max(2, Math.ceil(clients / PHONES_PER_WORKER)) : Number(values.workers);
  if (!Number.isInteger(workerCount) || workerCount < 1) problems.push(`--workers ${values.workers} must be a positive integer`);
  const holdSeconds = values['hold-seconds'] === undefined ? refreshSeconds * (1 + jitter) + 5 : Number(values['hold-seconds']);
  if (!(holdSeconds >= 0)) problems.push(`--hold-seconds ${values['hold-seconds']} must be a number >= 0`);
  const nodeCount = values.nodes === undefined ? defaultNodes(clients) : Number(values.nodes);
  if (!Number.isInteger(nodeCount) || nodeCount < 1) problems.push(`--nodes ${values.nodes} must be a positive integer`);
  const attach = [values.target, values.users, values.domain, values.metrics];
  if (values.target !== undefined && values.nodes !== undefined) problems.push('--nodes starts its own edges: not with --target');
  const semiSpaceMb = values['semi-space'] === undefined ? (nodeCount > 1 ? 16 : 64) : Number(values['semi-space']);
  if (!Number.isInteger(semiSpaceMb) || semiSpaceMb < 1) problems.push(`--semi-space ${values['semi-space']} must be a positive integer (MB)`);
  if (attach.some((v) => v !== undefined) && attach.some((v) => v === undefined)) problems.push('--target, --users, --domain and --metrics go together');
  if (problems.length > 0) {
    console.error(`run-ws-clients: ${problems.join('; ')}\n${USAGE}`);
    return 2;
  }

  const attached = values.target !== undefined;
  const nodes = attached ? 1 : nodeCount;
  const edgesName = nodes > 1 ? `${nodes} edges + redis-server` : 'edge';
  const report = new LoadReport('ws-clients', `sipedge with ${clients} WebSocket phones`, values['report-dir']).describe('', {
    title: `${clients} WebSocket phones from ${sources} sources, ${rate}/s, refresh every ${refreshSeconds} s${nodes > 1 ? `, ${nodes} edge nodes sharing the port` : ''}`,
    xLabel: 'phones registered',
    rateUnit: 'phones',
    cpuLabel: 'µs CPU',
    latencyTitle: 'Refresh response time since the previous sample',
    latencyLabel: 'ms, refresh REGISTER to its 200',
    memoryTitle: nodes > 1 ? `RSS of the ${edgesName} against phones registered` : 'Edge RSS against phones registered',
    memoryLabel: nodes > 1 ? `MB, RSS summed over the ${edgesName} (/proc/<pid>/status VmRSS)` : 'MB, edge RSS (/proc/<pid>/status VmRSS)',
    extraCharts: [
      { id: 'lag', title: 'Edge event-loop lag against phones registered', yLabel: 'ms, highest of the /metrics windows since the previous sample', figures: ['lag p99', 'lag max'] },
    ],
  });
  report.figure('options', { clients, sources, rate, refreshSeconds, jitter, holdSeconds, workers: workerCount, nodes, semiSpaceMb, attached });
  const work = mkdtempSync(join(tmpdir(), 'sipedge-ws-load-'));
  const edges: RunningEdge[] = [];
  let redis: RunningRedis | undefined;
  const workers: ChildProcess[] = [];
  try {
    let target: Target;
    if (values.target !== undefined) {
      const rows = readFileSync(values.users!, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
      if (rows.length < clients) throw new Error(`${values.users} holds ${rows.length} users, fewer than --clients ${clients}`);
      target = {
        url: values.target,
        domain: values.domain!,
        phones: rows.slice(0, clients).map((r) => ({ extension: r[1]!, password: r[2]! })),
        edges: [{ metricsUrl: values.metrics!, pid: values['edge-pid'] === undefined ? undefined : Number(values['edge-pid']) }],
        redisPid: undefined,
      };
    } else if (nodes === 1) {
      const files = writeUserFiles({ count: clients, tenant: TENANT.code, domain: TENANT.domain, outDir: work });
      const wrapper = withFiles(clients + SPARE_FDS);
      const edge = await startEdge({
        tenants: [TENANT],
        importCsv: files.importCsv,
        ws: true,
        tcp: false,
        cliTimeoutMs: 600_000,
        semiSpaceMb,
        ...(wrapper.length > 0 ? { wrapper } : {}),
      });
      edges.push(edge);
      target = {
        url: `ws://127.0.0.1:${edge.wsPort}`,
        domain: TENANT.domain,
        phones: files.users.map((u) => ({ extension: u.extension, password: u.password })),
        edges: [{ metricsUrl: `${edge.httpBase}/metrics`, pid: edge.pid }],
        redisPid: undefined,
      };
    } else {
      // The kernel hands each connection to one of the nodes by a hash of its addresses: about clients / nodes each,
      // give or take a few standard deviations. Checked before anything starts.
      const share = Math.ceil(clients / nodes);
      const wrapper = withFiles(share + Math.ceil(4 * Math.sqrt(share)) + SPARE_FDS);
      const files = writeUserFiles({ count: clients, tenant: TENANT.code, domain: TENANT.domain, outDir: work });
      redis = await startRedis('', work);
      const wsPort = await freeTcpPort();
      for (let n = 0; n < nodes; n++) {
        const hopPort = await freeTcpPort();
        // The users are provisioned once, through the first node's CLI: every node reads them from Redis.
        const edge = await startEdge({
          tenants: n === 0 ? [TENANT] : [],
          importCsv: n === 0 ? files.importCsv : undefined,
          ws: true,
          wsPort,
          tcp: false,
          cliTimeoutMs: 600_000,
          env: {
            SIPEDGE_STORE: 'redis',
            SIPEDGE_REDIS_URL: redis.url,
            SIPEDGE_SIP__REUSE_PORT: 'true',
            SIPEDGE_CLUSTER__LISTEN: `127.0.0.1:${hopPort}`,
          },
          semiSpaceMb,
          ...(wrapper.length > 0 ? { wrapper } : {}),
        });
        edges.push(edge);
      }
      target = {
        url: `ws://127.0.0.1:${wsPort}`,
        domain: TENANT.domain,
        phones: files.users.map((u) => ({ extension: u.extension, password: u.password })),
        edges: edges.map((e) => ({ metricsUrl: `${e.httpBase}/metrics`, pid: e.pid })),
        redisPid: redis.pid,
      };
    }

    // Phones dealt round-robin over the sources, then in contiguous slices over the workers.
    const phones = target.phones.map((p, i) => ({ ...p, source: sourceAddress(i % sources) }));
    const perWorker = Math.ceil(clients / workerCount);
    const reports: Array<WorkerReport | undefined> = [];
    const refreshMs: number[] = [];
    /** The refreshes since the previous row: the curve's refresh percentiles. */
    let rowRefreshMs: number[] = [];
    const initialMs: number[] = [];
    const exits: Array<Promise<void>> = [];
    for (let w = 0; w < workerCount; w++) {
      const slice = phones.slice(w * perWorker, (w + 1) * perWorker);
      if (slice.length === 0) break;
      const wrapper = withFiles(slice.length + SPARE_FDS);
      const argv = [...wrapper, process.execPath, '--import', 'tsx', WORKER];
      const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(child);
      exits.push(new Promise((r) => child.once('exit', () => r())));
      child.on('message', (m: WorkerReport) => {
        reports[w] = m;
        for (const v of m.refreshMs) refreshMs.push(v);
        for (const v of m.refreshMs) rowRefreshMs.push(v);
        for (const v of m.initialMs) initialMs.push(v);
      });
      const plan: WorkerPlan = {
        url: target.url,
        domain: target.domain,
        phones: slice,
        rate: (rate * slice.length) / clients,
        refreshMs: refreshSeconds * 1000,
        jitter,
        expires: Math.max(60, Math.ceil(2 * refreshSeconds)),
      };
      child.send(plan);
    }
    const total = (k: 'started' | 'registered' | 'failed' | 'dropped' | 'reconnects' | 'refreshes') => reports.reduce((s, r) => s + (r?.[k] ?? 0), 0);

    const pids = [...target.edges.map((e) => e.pid), target.redisPid];
    const rssNow = (): number => rssSum(pids);
    const redisRss = (): number => (target.redisPid === undefined ? 0 : rssBytes(target.redisPid));
    const rssBefore = rssNow();
    const redisRssBefore = redisRss();
    let rssMax = rssBefore;
    let lagP99Max = 0;
    let lagMax = 0;
    /** The highest lag of the /metrics scrapes since the previous row (none when no scrape answered). */
    let window: { p99: number; max: number } | undefined;
    const holdRows = Math.ceil(holdSeconds / 30);
    let rows = 0;
    const t0 = Date.now();
    const mb = (b: number) => (b / 1024 / 1024).toFixed(0);
    console.log(
      `ws phones: ${clients} over ${sources} sources (127.10.0.1 ...) in ${workers.length} workers, ${rate}/s, refresh every ${refreshSeconds} s ± ${jitter * 100} %, hold ${holdSeconds} s`,
    );
    const multi = target.redisPid !== undefined;
    if (multi) {
      console.log(
        `${target.edges.length} edge nodes on one redis-server, sharing ${target.url} (sip.reusePort), --max-semi-space-size=${semiSpaceMb}; RSS = the edges' sum + redis-server's, lag = the worst node's`,
      );
      console.log(`RSS before the first phone: ${mb(rssBefore)} MB (redis-server ${mb(redisRssBefore)} MB)`);
    } else console.log(`edge RSS before the first phone: ${mb(rssBefore)} MB`);
    console.log(`     t  registered   ${multi ? 'RSS total' : ' edge RSS'}   KB/phone   loop lag p99 / max   refreshes  failed  dropped${multi ? '  redis RSS' : ''}`);
    const lagOf = (s: { lagP99: number; lagMax: number }) => {
      window = { p99: Math.max(window?.p99 ?? 0, s.lagP99), max: Math.max(window?.max ?? 0, s.lagMax) };
      lagP99Max = Math.max(lagP99Max, s.lagP99);
      lagMax = Math.max(lagMax, s.lagMax);
    };
    /** One sample of the curve: printed, and a step of the report at its phones registered. */
    const row = async (offered: string) => {
      report.progress(++rows, 10 + holdRows, offered);
      // A scrape of its own, so that every sample has the lag since the previous one.
      for (const s of await Promise.all(target.edges.map((e) => scrape(e.metricsUrl)))) if (s !== undefined) lagOf(s);
      const rss = rssNow();
      const redisMb = redisRss() / 2 ** 20;
      const registered = total('registered');
      const seconds = Math.round((Date.now() - t0) / 1000);
      const perPhone = registered > 0 ? (rss - rssBefore) / 1024 / registered : Number.NaN;
      const lag = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
      console.log(
        `${String(seconds).padStart(5)} s ${String(registered).padStart(10)} ${mb(rss).padStart(7)} MB ${perPhone.toFixed(1).padStart(10)} ` +
          `${lag(window?.p99).padStart(9)} / ${lag(window?.max).padEnd(7)} ms ${String(total('refreshes')).padStart(11)} ${String(total('failed')).padStart(7)} ${String(total('dropped')).padStart(8)}` +
          (multi ? ` ${redisMb.toFixed(0).padStart(7)} MB` : ''),
      );
      report.addStep({
        series: 'edge',
        x: `${registered} phones at ${seconds} s`,
        xValue: registered,
        latencyMs: latencySummary(rowRefreshMs),
        ...(Number.isFinite(rss) ? { memoryMb: rss / 2 ** 20 } : {}),
        ...(window === undefined ? {} : { extra: { 'lag p99': window.p99, 'lag max': window.max } }),
        row: { seconds, registered, rssMb: rss / 2 ** 20, ...(multi ? { redisRssMb: redisMb } : {}), kbPerPhone: perPhone, lagP99Ms: window?.p99, lagMaxMs: window?.max, refreshes: total('refreshes'), failed: total('failed'), dropped: total('dropped') },
      });
      window = undefined;
      rowRefreshMs = [];
    };
    let scraping = false;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, rssNow());
      if (scraping) return;
      scraping = true;
      void Promise.all(target.edges.map((e) => scrape(e.metricsUrl))).then((all) => {
        scraping = false;
        for (const s of all) if (s !== undefined) lagOf(s);
      });
    }, 2000);

    // The ramp: a row at each tenth of the phones, until every phone has registered or failed.
    const rampDeadline = Date.now() + (clients / rate) * 1000 + 120_000;
    let nextTenth = 1;
    while (total('registered') + total('failed') + total('dropped') < clients && Date.now() < rampDeadline) {
      await new Promise((r) => setTimeout(r, 500));
      if (nextTenth > 10 || total('registered') < (clients * nextTenth) / 10) continue;
      while (nextTenth <= 10 && total('registered') >= (clients * nextTenth) / 10) nextTenth++;
      await row(`${total('started')} phones`);
    }
    if (nextTenth <= 10) await row(`${total('started')} phones`);
    console.log(`ramp done after ${((Date.now() - t0) / 1000).toFixed(0)} s; holding ${holdSeconds} s`);
    // The hold: a row every 30 s (or at its end).
    const holdEnd = Date.now() + holdSeconds * 1000;
    while (Date.now() < holdEnd) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, holdEnd - Date.now())));
      await row(`${clients} phones`);
    }
    await new Promise((r) => setTimeout(r, 1500)); // every worker's last report
    clearInterval(sampler);
    const ends = await Promise.all(target.edges.map((e) => scrape(e.metricsUrl)));
    const sumOf = (k: 'wsOpen' | 'heapMb' | 'externalMb'): number => ends.reduce((s, e) => s + (e?.[k] ?? Number.NaN), 0);
    const rssEnd = rssNow();
    const redisRssEnd = redisRss();
    refreshMs.sort((a, b) => a - b);
    initialMs.sort((a, b) => a - b);
    const reasons: Record<string, number> = {};
    for (const r of reports) for (const [k, v] of Object.entries(r?.reasons ?? {})) reasons[k] = (reasons[k] ?? 0) + v;
    const summary: WsLoadSummary = {
      asked: clients,
      sources,
      workers: workers.length,
      registered: total('registered'),
      failed: total('failed'),
      dropped: total('dropped'),
      reconnects: total('reconnects'),
      refreshes: total('refreshes'),
      refreshP50Ms: percentile(refreshMs, 0.5),
      refreshP99Ms: percentile(refreshMs, 0.99),
      refreshMaxMs: refreshMs.at(-1) ?? Number.NaN,
      initialP50Ms: percentile(initialMs, 0.5),
      initialP99Ms: percentile(initialMs, 0.99),
      nodes: target.edges.length,
      // On Redis every node counts every node's registrations: the first node's answer is the system's.
      edgeRegistrations: ends[0]?.registrations ?? Number.NaN,
      edgeWsConnections: sumOf('wsOpen'),
      perNode: target.edges.map((e, i) => ({
        wsConnections: ends[i]?.wsOpen ?? Number.NaN,
        register200: ends[i]?.registered200 ?? Number.NaN,
        rssMb: rssBytes(e.pid) / 1024 / 1024,
      })),
      rssBeforeMb: rssBefore / 1024 / 1024,
      rssEndMb: rssEnd / 1024 / 1024,
      rssMaxMb: Math.max(rssMax, rssEnd) / 1024 / 1024,
      redisRssBeforeMb: redisRssBefore / 1024 / 1024,
      redisRssEndMb: redisRssEnd / 1024 / 1024,
      pssEndMb: rssSum(pids, pssBytes) / 1024 / 1024,
      heapUsedMb: sumOf('heapMb'),
      externalMb: sumOf('externalMb'),
      kbPerPhone: (rssEnd - rssBefore) / 1024 / Math.max(1, total('registered')),
      lagP99MaxMs: lagP99Max,
      lagMaxMs: lagMax,
      reasons,
    };
    const f = (v: number) => v.toFixed(1);
    console.log(
      `phones: ${summary.asked} asked, ${summary.registered} registered at the end, ${summary.failed} never registered, ${summary.dropped} dropped after registering; ${summary.reconnects} connections made again before a first registration`,
    );
    console.log(`refreshes: ${summary.refreshes}, p50 ${f(summary.refreshP50Ms)} ms, p99 ${f(summary.refreshP99Ms)} ms, max ${f(summary.refreshMaxMs)} ms`);
    console.log(`first registrations (REGISTER, 401, REGISTER, 200): p50 ${f(summary.initialP50Ms)} ms, p99 ${f(summary.initialP99Ms)} ms`);
    console.log(`edge: sipedge_registrations_active ${summary.edgeRegistrations}, ws connections open ${summary.edgeWsConnections}`);
    if (multi) {
      summary.perNode.forEach((n, i) =>
        console.log(`  node ${i + 1}: ${n.wsConnections} ws connections open, ${n.register200} REGISTERs answered 200, RSS ${f(n.rssMb)} MB`),
      );
    }
    console.log(
      `${multi ? `RSS of the ${summary.nodes} edges + redis-server (${f(summary.redisRssBeforeMb)} MB before, ${f(summary.redisRssEndMb)} MB at the end)` : 'edge RSS'}: ` +
        `${f(summary.rssBeforeMb)} MB before, ${f(summary.rssEndMb)} MB at the end (${f(summary.kbPerPhone)} KB per phone; PSS ${f(summary.pssEndMb)} MB), max ${f(summary.rssMaxMb)} MB; ` +
        `event-loop lag${multi ? ' (worst node)' : ''}: highest p99 of a 2 s window ${f(summary.lagP99MaxMs)} ms, max ${f(summary.lagMaxMs)} ms`,
    );
    console.log(`edge memory at the end${multi ? ' (summed over the nodes)' : ''}: V8 heap used ${f(summary.heapUsedMb)} MB, external (Buffers, typed arrays) ${f(summary.externalMb)} MB`);
    for (const [why, n] of Object.entries(reasons)) console.log(`  ${n} x ${why}`);
    if (values.json) console.log(JSON.stringify(summary));
    report.figure('summary', summary);
    if (values.keep) {
      process.stdin.resume();
      await new Promise((r) => process.stdin.once('end', r));
    }
    for (const w of workers) w.send({ type: 'stop' });
    await Promise.all(exits);
    await report.finish();
    return 0;
  } catch (e) {
    console.error(`run-ws-clients: ${(e as Error).message}`);
    report.figure('error', (e as Error).message);
    await report.finish().catch((f: Error) => console.error(`run-ws-clients: the report could not be written: ${f.message}`));
    return 1;
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    for (const e of edges) await e.stop();
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
