// The REGISTER load on the Redis store against the embedded store, in the same run: one redis-server of its own, one
// edge on the memory store, one edge on Redis and optionally N edges on that Redis (SIPp per edge, users split
// between them), the same SIPp REGISTER steps against each in turn, round after round; the highest rate each held
// (median over rounds), the ratios, edge and redis-server CPU per registration, and Redis commands and server reads
// per registration (INFO commandstats / INFO stats total_reads_processed). Its report (load-tests/lib/report.ts) draws
// the arms as series of the same charts, each point the median of the rounds.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { summariseProfileFile } from './lib/cpu-profile-summary.ts';
import { startEdge, type RunningEdge } from './lib/edge-process.ts';
import { startRedis } from './lib/redis-server.ts';
import { cpuSeconds, treeMemoryBytes } from './lib/proc-cpu.ts';
import { LoadReport, medianOverRounds, REPORT_OPTION, reportUsage, type Latency, type ReportStep } from './lib/report.ts';
import { requireSipp, rttLatency, runSipp, type SippResult } from './lib/sipp.ts';
import { writeUserFiles } from './lib/users.ts';

const USAGE = `usage: tsx load-tests/run-redis.ts [options]   (npm run bench -- --redis [options])

  --users N          users provisioned (default 3000)
  --rates LIST       completed registrations/s per step (SIPp calls/s: REGISTER, 401, REGISTER, 200), comma-separated
                     (default 1000,2000,3000,4000,5000,6000)
  --step-seconds S   traffic per step (default 5)
  --rounds R         rounds of the interleaved steps (default 2)
  --nodes N          also run N edges on the one Redis, SIPp split over them (default 1: no such arm)
  --edge-cpus LIST   taskset CPU list for the edges (default 0; "" = not pinned)
  --node-cpus LIST   with --nodes: the CPU of each node in turn, e.g. 0,1 (default: --edge-cpus for every node; the
                     first node, which the one-node arms use, is always on --edge-cpus)
  --sipp-cpus LIST   taskset CPU list for SIPp (default 1)
  --redis-cpus LIST  taskset CPU list for redis-server (default 1)
  --cpu-prof         run the one-node arms' edges under node --cpu-prof (memory/ and redis/ under --prof-dir) and
                     print each one's top functions at the end
  --prof-dir DIR     where --cpu-prof writes (default: a new temp dir, kept)
${reportUsage(21)}
  -h, --help

A step is held when fewer than 0.5 % of its calls failed and the achieved rate reached 95 % of the target.`;

const TENANT = { code: 'load', domain: 'load.sipedge.test' };
const MAX_FAILURE_RATIO = 0.005;
const MIN_ACHIEVED_RATIO = 0.95;

interface Options {
  users: number;
  rates: number[];
  stepSeconds: number;
  rounds: number;
  nodes: number;
  edgeCpus: string;
  nodeCpus: string[];
  sippCpus: string;
  redisCpus: string;
  profDir: string | undefined;
  reportDir: string | undefined;
}

/** One way of serving the load: its edges (SIPp sends each its share of the users and of the rate). */
interface Arm {
  name: string;
  edges: RunningEdge[];
  onRedis: boolean;
}

interface Step {
  arm: string;
  round: number;
  rate: number;
  ok: number;
  failed: number;
  /** Calls placed that did not complete, % (the held rule's failures). */
  failedPct: number;
  achieved: number;
  held: boolean;
  edgeUsPerReg: number | undefined;
  redisUsPerReg: number | undefined;
  commandsPerReg: number | undefined;
  readsPerReg: number | undefined;
  /** The arm's edges together (proportional set size) at the end of the step. */
  edgeMb: number | undefined;
  latencyMs: Latency | undefined;
  /** SIPp's files of the step (absolute paths). */
  traced: string[];
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '3000' },
      rates: { type: 'string', default: '1000,2000,3000,4000,5000,6000' },
      'step-seconds': { type: 'string', default: '5' },
      rounds: { type: 'string', default: '2' },
      nodes: { type: 'string', default: '1' },
      'edge-cpus': { type: 'string', default: '0' },
      'node-cpus': { type: 'string' },
      'sipp-cpus': { type: 'string', default: '1' },
      'redis-cpus': { type: 'string', default: '1' },
      'cpu-prof': { type: 'boolean', default: false },
      'prof-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      ...REPORT_OPTION,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const int = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${text} must be an integer >= ${min}`);
    return n;
  };
  return {
    users: int('users', values.users, 1),
    rates: values.rates.split(',').map((r) => int('rates', r.trim(), 1)),
    stepSeconds: int('step-seconds', values['step-seconds'], 1),
    rounds: int('rounds', values.rounds, 1),
    nodes: int('nodes', values.nodes, 1),
    edgeCpus: values['edge-cpus'],
    nodeCpus: values['node-cpus'] === undefined ? [] : values['node-cpus'].split(',').map((c) => c.trim()),
    sippCpus: values['sipp-cpus'],
    redisCpus: values['redis-cpus'],
    profDir: values['cpu-prof'] ? resolve(values['prof-dir'] ?? mkdtempSync(join(tmpdir(), 'sipedge-prof-'))) : undefined,
    reportDir: values['report-dir'],
  };
}

/** Total commands executed (INFO commandstats, scripts' inner commands included) and socket reads (INFO stats). */
async function redisCounters(admin: Redis): Promise<{ commands: number; reads: number }> {
  const stats = await admin.info('commandstats');
  let commands = 0;
  for (const m of stats.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) commands += Number(m[1]);
  const reads = Number(/total_reads_processed:(\d+)/.exec(await admin.info('stats'))?.[1] ?? NaN);
  return { commands, reads };
}

/** The SIPp injection file split in `n` parts (every n-th user), so each edge of an arm gets users of its own. */
function splitCsv(csv: string, n: number, dir: string): string[] {
  const [header, ...users] = readFileSync(csv, 'utf8').trim().split('\n');
  return Array.from({ length: n }, (_, i) => {
    const file = join(dir, `sipp-users-${n}-${i}.csv`);
    writeFileSync(file, [header, ...users.filter((_, j) => j % n === i)].join('\n') + '\n', { mode: 0o600 });
    return file;
  });
}

/** traceTo (report.sippTrace) keeps SIPp's files of the step, one pair per edge of the arm. */
async function runStep(
  o: Options,
  arm: Arm,
  csvs: string[],
  rate: number,
  seconds: number,
  redis: { pid: number; admin: Redis },
  traceTo?: string,
): Promise<Omit<Step, 'arm' | 'round'>> {
  const n = arm.edges.length;
  const calls = Math.max(1, Math.round((rate * seconds) / n));
  const edgeBefore = arm.edges.map((e) => e.cpuSeconds() ?? NaN);
  const redisCpuBefore = cpuSeconds(redis.pid);
  const countersBefore = await redisCounters(redis.admin);
  const results: SippResult[] = await Promise.all(
    arm.edges.map((e, i) =>
      runSipp({
        scenario: 'load-tests/sipp/register-auth.xml',
        target: e.sipTarget,
        inf: csvs[i],
        calls,
        rate: rate / n,
        transport: 'u1',
        authUri: TENANT.domain,
        maxConcurrent: Math.max(200, Math.ceil(rate / n)),
        recvTimeoutMs: 5000,
        timeoutMs: seconds * 3000 + 20_000,
        cpus: o.sippCpus === '' ? undefined : o.sippCpus,
        extraArgs: ['-buff_size', String(4 * 1024 * 1024)],
        traceTo: traceTo === undefined ? undefined : n === 1 ? traceTo : `${traceTo}-node${i + 1}`,
      }),
    ),
  );
  const countersAfter = await redisCounters(redis.admin);
  const memory = arm.edges.map((e) => treeMemoryBytes(e.pid));
  const redisCpu = (cpuSeconds(redis.pid) ?? NaN) - (redisCpuBefore ?? NaN);
  const edgeCpu = arm.edges.reduce((sum, e, i) => sum + (e.cpuSeconds() ?? NaN) - edgeBefore[i]!, 0);
  const ok = results.reduce((s, r) => s + r.successful, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  const elapsed = Math.max(...results.map((r) => r.elapsedSeconds));
  const achieved = elapsed > 0 ? ok / elapsed : 0;
  const placed = calls * n;
  const held =
    results.every((r) => !r.timedOut && r.created >= calls) &&
    (placed - ok) / placed < MAX_FAILURE_RATIO &&
    achieved >= MIN_ACHIEVED_RATIO * rate;
  const per = (x: number): number | undefined => (ok > 0 && Number.isFinite(x) ? x / ok : undefined);
  return {
    rate,
    ok,
    failed,
    failedPct: (100 * (placed - ok)) / placed,
    achieved,
    held,
    edgeUsPerReg: per(edgeCpu * 1e6),
    redisUsPerReg: arm.onRedis ? per(redisCpu * 1e6) : undefined,
    commandsPerReg: arm.onRedis ? per(countersAfter.commands - countersBefore.commands) : undefined,
    readsPerReg: arm.onRedis ? per(countersAfter.reads - countersBefore.reads) : undefined,
    edgeMb: memory.every((b) => b !== undefined) ? memory.reduce((sum, b) => sum + b!, 0) / 2 ** 20 : undefined,
    latencyMs: rttLatency(results.flatMap((r) => r.traced.filter((f) => f.endsWith('-rtt.csv')))),
    traced: results.flatMap((r) => r.traced),
  };
}

const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '-' : x.toFixed(digits));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(argv: string[]): Promise<number> {
  let o: Options | undefined;
  try {
    o = parseOptions(argv);
  } catch (e) {
    console.error(`run-redis: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (o === undefined) return 0;
  requireSipp();
  const report = new LoadReport('redis', 'sipedge REGISTER load: memory store against Redis', o.reportDir).describe('', {
    title: `memory store against Redis (median of ${o.rounds === 1 ? 'one round' : `${o.rounds} rounds`})`,
    xLabel: 'offered registrations/s (REGISTER, 401, REGISTER, 200)',
    rateUnit: 'registrations/s',
    cpuLabel: "edge CPU µs per registration (the arm's edges)",
    latencyLabel: 'ms, first REGISTER to its 200',
    memoryLabel: "MB, the arm's edges (PSS: resident, shared pages once)",
    memoryTitle: 'Edge memory at the end of each step',
    extraCharts: [
      { id: 'redis-cpu', title: 'redis-server CPU µs per registration', yLabel: 'µs redis-server CPU per registration', figures: ['redis-server'] },
      { id: 'redis-commands', title: 'Redis commands and socket reads per registration', yLabel: 'per registration', figures: ['commands', 'reads'] },
    ],
  });
  report.figure('options', o);
  const work = mkdtempSync(join(tmpdir(), 'sipedge-redis-load-'));
  const edges: RunningEdge[] = [];
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  let admin: Redis | undefined;
  try {
    console.log(
      [
        'sipedge REGISTER load: memory store against Redis, same run',
        `  nproc ${availableParallelism()}, node ${process.version}; edges on cpu ${o.edgeCpus || '(any)'}` +
          `${o.nodes > 1 ? ` (${o.nodes} nodes on cpu ${o.edgeCpus || '(any)'}${o.nodeCpus.length ? `, then ${o.nodeCpus.join(',')} in turn` : ''})` : ''}, SIPp on cpu ${o.sippCpus || '(any)'}, ` +
          `redis-server on cpu ${o.redisCpus || '(any)'}`,
        `  ${o.users} users, rates ${o.rates.join(',')} registrations/s, ${o.stepSeconds} s steps, ${o.rounds} round(s), arms interleaved per step`,
      ].join('\n'),
    );
    redis = await startRedis(o.redisCpus, work);
    admin = new Redis(redis.url);
    const files = writeUserFiles({ count: o.users, tenant: TENANT.code, domain: TENANT.domain, outDir: work });
    const cpus = o.edgeCpus === '' ? undefined : o.edgeCpus;
    const common = { floodGuard: false, logLevel: 'warn', tcp: true, cpus, startTimeoutMs: 60_000 } as const;
    const onRedis = { SIPEDGE_STORE: 'redis', SIPEDGE_REDIS__URL: redis.url };
    const profiled = (arm: string): { nodeArgs?: string[] } => {
      if (o.profDir === undefined) return {};
      mkdirSync(join(o.profDir, arm), { recursive: true });
      return { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${join(o.profDir, arm)}`] };
    };
    const memory = await startEdge({ ...common, ...profiled('memory'), tenants: [TENANT], importCsv: files.importCsv });
    edges.push(memory);
    const redisEdges: RunningEdge[] = [];
    for (let i = 0; i < Math.max(1, o.nodes); i++) {
      // The first node provisions the shared store; the others find the users there.
      const pinned = i === 0 || o.nodeCpus.length === 0 ? cpus : o.nodeCpus[i % o.nodeCpus.length];
      const e = await startEdge({
        ...common, ...(i === 0 ? profiled('redis') : {}), cpus: pinned, tenants: i === 0 ? [TENANT] : [], importCsv: i === 0 ? files.importCsv : undefined, env: onRedis,
      });
      edges.push(e);
      redisEdges.push(e);
    }
    const arms: Arm[] = [
      { name: 'memory', edges: [memory], onRedis: false },
      { name: 'redis', edges: [redisEdges[0]!], onRedis: true },
    ];
    if (o.nodes > 1) arms.push({ name: `redis x${o.nodes}`, edges: redisEdges, onRedis: true });
    const csvs = new Map(arms.map((a) => [a.name, splitCsv(files.sippCsv, a.edges.length, work)]));
    const ctx = { pid: redis.pid, admin };

    console.log('\nwarm-up: 3 s per arm at the first rate (not counted)');
    for (const arm of arms) {
      const w = await runStep(o, arm, csvs.get(arm.name)!, o.rates[0]!, 3, ctx);
      if (w.ok === 0) throw new Error(`warm-up of ${arm.name} placed no successful registration`);
    }

    const header = ['round', 'arm', 'rate/s', 'ok', 'failed', 'got/s', 'held', 'edge us/reg', 'redis us/reg', 'cmds/reg', 'reads/reg', 'edge MB'];
    const widths = [5, 10, 6, 7, 6, 7, 4, 11, 12, 8, 9, 7];
    const row = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
    console.log(
      '\nedge us/reg: CPU of the arm\'s edges per completed registration (401 + 200 legs); redis us/reg: redis-server CPU;\n' +
        'cmds/reg: commands Redis executed (scripts\' inner ones included); reads/reg: socket reads Redis made (a pipeline\n' +
        'that arrives in one write is one read; under load one read carries several registrations\' commands);\n' +
        "edge MB: the arm's edges' proportional set size at the end of the step.\n",
    );
    console.log(row(header));
    const steps: Step[] = [];
    const reportSteps: ReportStep[] = [];
    // n counts every step; an arm that stops early in a round skips the rest of its steps.
    const stepCount = o.rounds * o.rates.length * arms.length;
    for (let round = 1; round <= o.rounds; round++) {
      const stopped = new Set<string>();
      for (const rate of o.rates) {
        for (const arm of arms) {
          if (stopped.has(arm.name)) continue;
          if (edges.some((e) => !e.isRunning())) throw new Error('an edge exited during the run');
          await new Promise((r) => setTimeout(r, 1000));
          report.progress(steps.length + 1, stepCount, `round ${round}, ${arm.name}: ${rate} registrations/s`);
          const trace = report.sippTrace(`round${round}-${arm.name}-${rate}`);
          const s: Step = { arm: arm.name, round, ...(await runStep(o, arm, csvs.get(arm.name)!, rate, o.stepSeconds, ctx, trace)) };
          steps.push(s);
          const extra = { 'redis-server': s.redisUsPerReg, commands: s.commandsPerReg, reads: s.readsPerReg };
          reportSteps.push({
            series: arm.name,
            x: String(rate),
            offered: rate,
            achieved: s.achieved,
            failedPct: s.failedPct,
            latencyMs: s.latencyMs,
            cpuUs: s.edgeUsPerReg,
            memoryMb: s.edgeMb,
            held: s.held,
            extra: Object.fromEntries(Object.entries(extra).filter((e): e is [string, number] => e[1] !== undefined)),
            sipp: s.traced.map((f) => relative(report.dir, f)),
          });
          console.log(row([String(round), arm.name, String(rate), String(s.ok), String(s.failed), fmt(s.achieved, 0), s.held ? 'yes' : 'no',
            fmt(s.edgeUsPerReg), fmt(s.redisUsPerReg), fmt(s.commandsPerReg), fmt(s.readsPerReg, 2), fmt(s.edgeMb, 0)]));
          // Two steps in a row not held: this arm is done for the round.
          const mine = steps.filter((x) => x.arm === arm.name && x.round === round);
          if (mine.length >= 2 && mine.slice(-2).every((x) => !x.held)) stopped.add(arm.name);
        }
      }
    }

    console.log('\nhighest rate held per arm (median over rounds), and CPU per registration (median over all its held steps):');
    const best = new Map<string, number>();
    for (const arm of arms) {
      const perRound = Array.from({ length: o.rounds }, (_, i) =>
        Math.max(0, ...steps.filter((s) => s.arm === arm.name && s.round === i + 1 && s.held).map((s) => s.rate)),
      );
      const held = steps.filter((s) => s.arm === arm.name && s.held);
      const edgeUs = held.map((s) => s.edgeUsPerReg).filter((x): x is number => x !== undefined);
      best.set(arm.name, median(perRound));
      console.log(
        `  ${arm.name.padEnd(10)} ${String(median(perRound)).padStart(6)} registrations/s (rounds: ${perRound.join(', ')}); ` +
          `edge ${edgeUs.length ? median(edgeUs).toFixed(1) : '-'} us/reg`,
      );
    }
    const m = best.get('memory')!;
    const r = best.get('redis')!;
    console.log(`\nredis / memory (one node): ${m > 0 ? (r / m).toFixed(2) : '-'}x`);
    if (o.nodes > 1) {
      const x = best.get(`redis x${o.nodes}`)!;
      console.log(`redis x${o.nodes} / redis (one node): ${r > 0 ? (x / r).toFixed(2) : '-'}x`);
    }
    report.figure('steps', steps.map(({ traced: _, ...printed }) => printed));
    report.figure('highestHeldMedian', Object.fromEntries(best));
    for (const step of medianOverRounds(reportSteps)) report.addStep(step);
    await report.finish();
    return 0;
  } catch (e) {
    console.error(`run-redis: ${(e as Error).message}`);
    report.figure('error', (e as Error).message);
    await report.finish().catch((f: Error) => console.error(`run-redis: the report could not be written: ${f.message}`));
    return 1;
  } finally {
    for (const e of edges) await e.stop();
    admin?.disconnect();
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
    if (o.profDir !== undefined) printProfiles(o.profDir);
  }
}

/** The top functions of each profiled arm's edge (written when it exits). */
function printProfiles(dir: string): void {
  for (const arm of ['memory', 'redis']) {
    const files = readdirSync(join(dir, arm)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) console.log(`\nno .cpuprofile was written in ${join(dir, arm)} (the edge must exit normally)`);
    else console.log(`\n${arm} arm, ${join(dir, arm, files[0]!)}:\n${summariseProfileFile(join(dir, arm, files[0]!), 25)}`);
  }
}

process.exitCode = await main(process.argv.slice(2));
