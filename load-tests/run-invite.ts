// Stepped-rate call load through the proxy: a SIPp UAS as the upstream PBX (uas-upstream.xml), SIPp phones that register
// and then call through the edge (invite-via-proxy.xml: INVITE/100/180/200/ACK/BYE/200), the edge pinned to one core and
// both SIPps to the other. Reports the highest call rate held with < 0.5 % failures; --cpu-prof profiles the edge.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeSipp, formatErrorKinds, freeUdpPortOn, requireSipp, runSipp, type SippResult } from './lib/sipp.ts';
import { summariseProfileFile } from './lib/cpu-profile-summary.ts';
import { startEdge, type RunningEdge } from './lib/edge-process.ts';
import { formatSamples, metricValue } from './lib/metrics-text.ts';
import { coreBusyPct, cpuSeconds, parseCpuList, readCoreTimes } from './lib/proc-cpu.ts';
import { startSippUas, type SippUas } from './lib/sipp-uas.ts';
import { writeUserFiles } from './lib/users.ts';

const USAGE = `usage: tsx load-tests/run-invite.ts [options]

  --users N           phones provisioned and registered (default 2000)
  --rates LIST        calls/s per step, comma-separated (default 1000,2000,3000,4000,5000)
  --step-seconds S    traffic per step (default 10)
  --edge-cpus LIST    taskset CPU list for the edge (default 0; "" = not pinned)
  --sipp-cpus LIST    taskset CPU list for both SIPps, phones and PBX (default 1; "" = not pinned)
  --all-steps         run every step (default: stop after two steps in a row are not held)
  --cpu-prof          run the edge under node --cpu-prof and print the top functions at the end
  --prof-dir DIR      where --cpu-prof writes (default: a new temp dir, kept)
  --quick             500 users, rates 1000,2000,3000, 5 s steps (npm run bench's default)
  -h, --help

One call = INVITE -> 100 -> 180 -> 200 -> ACK -> BYE -> 200 through the edge to the PBX (2 proxied transactions and a
stateless ACK). The tenant uses proxy.tenantUserAuth "registered": phones register first (register-auth.xml, from the
port they then call from), so calls carry no digest. A step is "held" when fewer than 0.5 % of its calls failed, every
call was placed, and the achieved rate reached 95 % of the target.`;

const MAX_FAILURE_RATIO = 0.005;
const MIN_ACHIEVED_RATIO = 0.95;
const TENANT = { code: 'load', domain: 'load.sipedge.test' };

interface Options {
  users: number;
  rates: number[];
  stepSeconds: number;
  edgeCpus: string;
  sippCpus: string;
  allSteps: boolean;
  cpuProf: boolean;
  profDir: string | undefined;
}

interface Step {
  target: number;
  calls: number;
  ok: number;
  failed: number;
  failurePct: number;
  secs: number;
  achieved: number;
  meanMs: number | undefined;
  retrans: number;
  edgeCpuPct: number | undefined;
  coreBusyPct: number | undefined;
  held: boolean;
  result: SippResult;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string' },
      rates: { type: 'string' },
      'step-seconds': { type: 'string' },
      'edge-cpus': { type: 'string', default: '0' },
      'sipp-cpus': { type: 'string', default: '1' },
      'all-steps': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'prof-dir': { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const quick = values.quick;
  const users = Number(values.users ?? (quick ? 500 : 2000));
  const rates = (values.rates ?? (quick ? '1000,2000,3000' : '1000,2000,3000,4000,5000')).split(',').map((r) => Number(r.trim()));
  const stepSeconds = Number(values['step-seconds'] ?? (quick ? 5 : 10));
  if (!Number.isInteger(users) || users < 1) throw new Error(`--users ${values.users} must be a positive integer`);
  if (rates.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--rates: each rate is a positive integer (calls/s)`);
  if (!(stepSeconds >= 1)) throw new Error(`--step-seconds ${values['step-seconds']} must be at least 1`);
  return {
    users,
    rates,
    stepSeconds,
    edgeCpus: values['edge-cpus'],
    sippCpus: values['sipp-cpus'],
    allSteps: values['all-steps'],
    cpuProf: values['cpu-prof'],
    profDir: values['prof-dir'],
  };
}

async function main(argv: string[]): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    console.error(`run-invite: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) return 0;
  requireSipp();
  if (opts.edgeCpus !== '' || opts.sippCpus !== '') {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    } catch {
      console.error('run-invite: taskset is not available; pass --edge-cpus "" --sipp-cpus "" to run unpinned');
      return 2;
    }
  }
  const sippCpus = opts.sippCpus === '' ? undefined : opts.sippCpus;
  const work = mkdtempSync(join(tmpdir(), 'sipedge-load-invite-'));
  const profDir = opts.cpuProf ? resolve(opts.profDir ?? mkdtempSync(join(tmpdir(), 'sipedge-prof-'))) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  let edge: RunningEdge | undefined;
  let pbx: SippUas | undefined;
  try {
    console.log(
      [
        'sipedge call load run through the proxy',
        `  nproc ${availableParallelism()}, node ${process.version}`,
        `  edge on cpu ${opts.edgeCpus || '(any)'}, SIPp phones and SIPp PBX on cpu ${opts.sippCpus || '(any)'}, UDP`,
        `  ${opts.users} phones, ${opts.stepSeconds} s per step; unit: calls/s (INVITE/100/180/200/ACK/BYE/200)`,
      ].join('\n'),
    );
    const idle = readCoreTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = coreBusyPct(idle, readCoreTimes(), [...Array(availableParallelism()).keys()]);
    if (busy !== undefined && busy > 10) console.log(`  WARNING: the cores were ${busy.toFixed(0)} % busy before the run (shared machine): figures are understated`);

    const files = writeUserFiles({ count: opts.users, tenant: TENANT.code, domain: TENANT.domain, outDir: work });
    pbx = await startSippUas({ ip: '127.0.0.2', cpus: sippCpus });
    edge = await startEdge({
      floodGuard: false,
      tenants: [TENANT],
      importCsv: files.importCsv,
      env: {
        SIPEDGE_UPSTREAMS: pbx.uri,
        SIPEDGE_PROXY__TENANT_USER_AUTH: JSON.stringify({ [TENANT.code]: 'registered' }),
        SIPEDGE_PROXY__PROBE__INTERVAL_SECONDS: '2',
        SIPEDGE_PROXY__PROBE__TIMEOUT_SECONDS: '1',
      },
      logLevel: 'warn',
      tcp: false,
      cpus: opts.edgeCpus === '' ? undefined : opts.edgeCpus,
      nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      startTimeoutMs: 60_000,
    });
    const deadline = Date.now() + 10_000;
    while (metricValue(await edge.metrics(), 'sipedge_upstream_up', { upstream: pbx.uri }) !== 1) {
      if (Date.now() > deadline) throw new Error(`the PBX ${pbx.uri} was not marked up within 10 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const phonePort = await freeUdpPortOn('127.0.0.1');
    const reg = await runSipp({
      scenario: 'load-tests/sipp/register-auth.xml',
      target: edge.sipTarget,
      inf: files.sippCsv,
      calls: opts.users,
      rate: 1000,
      authUri: TENANT.domain,
      localPort: phonePort,
      timeoutMs: 120_000,
      cpus: sippCpus,
    });
    if (reg.successful !== opts.users) throw new Error(`registration phase failed:\n${describeSipp(reg)}`);
    console.log(`  ${reg.successful} phones registered from 127.0.0.1:${phonePort}; PBX ${pbx.uri}`);

    const place = async (rate: number, seconds: number): Promise<Step> => {
      const calls = Math.max(1, Math.round(rate * seconds));
      const cpuBefore = cpuSeconds(edge!.pid);
      const coresBefore = readCoreTimes();
      const result = await runSipp({
        scenario: 'load-tests/sipp/invite-via-proxy.xml',
        target: edge!.sipTarget,
        inf: files.sippCsv,
        calls,
        rate,
        localPort: phonePort,
        maxConcurrent: Math.max(200, rate),
        recvTimeoutMs: 5000,
        timeoutMs: Math.ceil(seconds * 3 * 1000) + 20_000,
        cpus: sippCpus,
        extraArgs: ['-buff_size', String(4 * 1024 * 1024)],
      });
      const cpuAfter = cpuSeconds(edge!.pid);
      const edgeCores = opts!.edgeCpus === '' ? [...Array(availableParallelism()).keys()] : parseCpuList(opts!.edgeCpus);
      const achieved = result.elapsedSeconds > 0 ? result.successful / result.elapsedSeconds : 0;
      const failurePct = (100 * (calls - result.successful)) / calls;
      return {
        target: rate,
        calls,
        ok: result.successful,
        failed: result.failed,
        failurePct,
        secs: result.elapsedSeconds,
        achieved,
        meanMs: result.meanResponseMs,
        retrans: result.retransmissions,
        edgeCpuPct: cpuBefore === undefined || cpuAfter === undefined ? undefined : (100 * (cpuAfter - cpuBefore)) / result.wallSeconds,
        coreBusyPct: coreBusyPct(coresBefore, readCoreTimes(), edgeCores),
        held: !result.timedOut && result.created >= calls && failurePct / 100 < MAX_FAILURE_RATIO && achieved >= MIN_ACHIEVED_RATIO * rate,
        result,
      };
    };

    const warm = await place(opts.rates[0]!, 2);
    console.log(`\nwarm-up: ${warm.target} calls/s for 2 s: ${warm.ok} ok, ${warm.failed} failed (not counted)`);
    if (warm.ok === 0) throw new Error(`warm-up placed no successful call:\n${describeSipp(warm.result)}\nedge output:\n${edge.output()}`);
    const cols = ['calls/s', 'calls', 'ok', 'failed', 'fail %', 'secs', 'got/s', 'mean ms', 'retrans', 'edge cpu%', 'core busy%', 'held'];
    console.log(`\n${cols.map((c) => c.padStart(10)).join(' ')}`);
    const steps: Step[] = [];
    let missed = 0;
    for (const rate of opts.rates) {
      if (!edge.isRunning()) throw new Error(`the edge exited during the run:\n${edge.output()}`);
      await new Promise((r) => setTimeout(r, 1500));
      const s = await place(rate, opts.stepSeconds);
      steps.push(s);
      const cells = [s.target, s.calls, s.ok, s.failed, s.failurePct.toFixed(2), s.secs.toFixed(1), s.achieved.toFixed(0), s.meanMs?.toFixed(1) ?? '-', s.retrans, s.edgeCpuPct?.toFixed(0) ?? '-', s.coreBusyPct?.toFixed(0) ?? '-', s.held ? 'yes' : 'no'];
      console.log(cells.map((c) => String(c).padStart(10)).join(' '));
      if (s.result.errorKinds.size > 0) console.log(formatErrorKinds(s.result.errorKinds, 4).replace(/^/gm, '    '));
      missed = s.held ? 0 : missed + 1;
      if (missed >= 2 && !opts.allSteps) {
        console.log('  (two steps in a row not held: stopping; --all-steps runs them all)');
        break;
      }
    }
    const metrics = await edge.metrics().catch((e: Error) => `# metrics unavailable: ${e.message}`);
    const exit = await edge.stop();
    console.log('\nedge counters after the run:');
    for (const line of formatSamples(metrics, [
      'sipedge_proxy_requests_total',
      'sipedge_proxy_rejected_total',
      'sipedge_sip_dropped_total',
      'sipedge_sip_retransmissions_absorbed_total',
      'sipedge_upstream_moves_total',
    ])) {
      console.log(`  ${line}`);
    }
    console.log(`PBX counts: ${JSON.stringify(pbx.counts())}`);
    const best = steps.filter((s) => s.held).reduce<Step | undefined>((a, s) => (!a || s.target > a.target ? s : a), undefined);
    console.log(
      best
        ? `\nhighest rate held (< 0.5 % failures, >= 95 % of target): ${best.target} calls/s (achieved ${best.achieved.toFixed(0)}/s, ${best.failurePct.toFixed(2)} % failed, edge cpu ${best.edgeCpuPct?.toFixed(0) ?? '?'} %)`
        : '\nno step was held',
    );
    console.log(`edge exit on SIGTERM: ${exit.exitCode ?? exit.signal}`);
    if (profDir) {
      const profiles = readdirSync(profDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(profDir, f))
        .sort((a, b) => statSync(b).size - statSync(a).size);
      if (profiles.length > 0) console.log(`\nCPU profile ${profiles[0]}\n${summariseProfileFile(profiles[0]!, 25)}`);
      else console.log(`\nno .cpuprofile was written in ${profDir}`);
    }
    return exit.exitCode === 0 ? 0 : 1;
  } catch (e) {
    console.error(`run-invite: ${(e as Error).message}`);
    if (edge) await edge.stop();
    return 1;
  } finally {
    await pbx?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
