// Stepped-rate REGISTER load: provisions N users, starts the edge pinned to one core and SIPp to the other, raises the
// rate step by step and reports the highest rate held with < 0.5 % failures. Optional --cpu-prof profiles the edge.
// Unit: REGISTER transactions per second (tx/s). One SIPp call = REGISTER -> 401 -> REGISTER -> 200 = 2 transactions,
// so SIPp's call rate (-r) is tx/s / 2, which is also the rate of completed registrations.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeSipp, formatErrorKinds, requireSipp, runSipp, type SippResult } from './lib/sipp.ts';
import { summariseProfileFile } from './lib/cpu-profile-summary.ts';
import { startEdge } from './lib/edge-process.ts';
import { kamailioVersion, startKamailio, type ServerUnderTest } from './lib/kamailio.ts';
import { formatSamples, memoryComposition } from './lib/metrics-text.ts';
import { coreBusyPct, parseCpuList, readCoreTimes } from './lib/proc-cpu.ts';
import { LoadReport, REPORT_OPTION, reportUsage, REGISTER_CHARTS } from './lib/report.ts';
import { writeUserFiles } from './lib/users.ts';

const USAGE = `usage: tsx load-tests/run-register.ts [options]

  --users N             users provisioned (default 20000)
  --rates LIST          REGISTER transactions/s per step, comma-separated
                        (default 4000,8000,12000,14000,16000,18000,20000,22000,24000)
  --step-seconds S      traffic per step, in seconds (default 10)
  --transport u1|t1     SIPp transport: one UDP socket or one TCP connection (default u1)
  --scenario auth|badpass
                        register-auth.xml (default) or register-badpass.xml; badpass raises the edge's
                        lockout and ban limits so that every call still gets its second 401
  --server sipedge|kamailio
                        the server under load (default sipedge); kamailio runs load-tests/kamailio/kamailio.cfg
                        with the same users (MD5 challenge; see that file for what it does)
  --edge-cpus LIST      taskset CPU list for the server (default 0; "" = not pinned)
  --sipp-cpus LIST      taskset CPU list for SIPp (default 1; "" = not pinned)
  --all-steps           run every step (default: stop after two steps in a row are not held)
  --md5-only            offer only the MD5 challenge (SIPEDGE_AUTH__ALGORITHMS='["MD5"]'); default: the
                        edge's default dual challenge, SHA-256 then MD5
  --cpu-prof            run the edge under node --cpu-prof and print the top functions at the end
  --prof-dir DIR        where --cpu-prof writes (default: a new temp dir, kept)
  --json FILE           also write the step results as JSON
  --quick               2000 users, rates 4000,8000,12000,16000, 5 s steps (npm run bench's default)
${reportUsage(24)}
  -h, --help

A step is "held" when fewer than 0.5 % of its calls failed, every call was placed, SIPp was not killed, and the
achieved rate (successful calls / elapsed) reached 95 % of the target.`;

/** Failure ratio below which a step counts as held. */
const MAX_FAILURE_RATIO = 0.005;
/** Share of the target rate a step must achieve to count as held. */
const MIN_ACHIEVED_RATIO = 0.95;
const TENANT = { code: 'load', domain: 'load.sipedge.test' };

interface Options {
  users: number;
  ratesTx: number[];
  stepSeconds: number;
  transport: 'u1' | 't1';
  scenario: 'auth' | 'badpass';
  server: 'sipedge' | 'kamailio';
  edgeCpus: string;
  sippCpus: string;
  allSteps: boolean;
  cpuProf: boolean;
  md5Only: boolean;
  profDir: string | undefined;
  json: string | undefined;
  reportDir: string | undefined;
}

interface StepResult {
  targetTx: number;
  targetCalls: number;
  calls: number;
  successful: number;
  failed: number;
  failurePct: number;
  elapsedSeconds: number;
  achievedCalls: number;
  achievedTx: number;
  meanResponseMs: number | undefined;
  retransmissions: number;
  /** Server CPU per successful call (one registration) in µs. */
  cpuUsPerCall: number | undefined;
  /** Server memory at the end of the step (proportional set size), MB. */
  memoryMb: number | undefined;
  /** CPU used during the step as % of one core: edge (all its threads) and SIPp. */
  edgeCpuPct: number | undefined;
  sippCpuPct: number | undefined;
  /** How busy the edge's core(s) were in total (edge + anything else scheduled there), % averaged over them. */
  edgeCoreBusyPct: number | undefined;
  timedOut: boolean;
  held: boolean;
  /** SIPp's response times (first REGISTER to 200), ms. */
  latencyMs: SippResult['latencyMs'];
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string' },
      rates: { type: 'string' },
      'step-seconds': { type: 'string' },
      transport: { type: 'string', default: 'u1' },
      scenario: { type: 'string', default: 'auth' },
      server: { type: 'string', default: 'sipedge' },
      'edge-cpus': { type: 'string', default: '0' },
      'sipp-cpus': { type: 'string', default: '1' },
      'all-steps': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'md5-only': { type: 'boolean', default: false },
      'prof-dir': { type: 'string' },
      json: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      ...REPORT_OPTION,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const quick = values.quick;
  const users = Number(values.users ?? (quick ? 2000 : 20_000));
  const ratesText = values.rates ?? (quick ? '4000,8000,12000,16000' : '4000,8000,12000,14000,16000,18000,20000,22000,24000');
  const ratesTx = ratesText.split(',').map((r) => Number(r.trim()));
  const stepSeconds = Number(values['step-seconds'] ?? (quick ? 5 : 10));
  if (!Number.isInteger(users) || users < 1) throw new Error(`--users ${values.users} must be a positive integer`);
  if (ratesTx.some((r) => !Number.isInteger(r) || r < 2 || r % 2 !== 0)) {
    throw new Error(`--rates ${ratesText}: each rate is REGISTER transactions/s, an even integer >= 2 (2 per SIPp call)`);
  }
  if (!(stepSeconds >= 1)) throw new Error(`--step-seconds ${values['step-seconds']} must be at least 1`);
  if (values.transport !== 'u1' && values.transport !== 't1') throw new Error(`--transport ${values.transport} must be u1 or t1`);
  if (values.scenario !== 'auth' && values.scenario !== 'badpass') throw new Error(`--scenario ${values.scenario} must be auth or badpass`);
  if (values.server !== 'sipedge' && values.server !== 'kamailio') throw new Error(`--server ${values.server} must be sipedge or kamailio`);
  return {
    users,
    ratesTx,
    stepSeconds,
    transport: values.transport,
    scenario: values.scenario,
    server: values.server,
    edgeCpus: values['edge-cpus'],
    sippCpus: values['sipp-cpus'],
    allSteps: values['all-steps'],
    cpuProf: values['cpu-prof'],
    md5Only: values['md5-only'],
    profDir: values['prof-dir'],
    json: values.json,
    reportDir: values['report-dir'],
  };
}

function toolVersion(cmd: string, args: string[], pattern: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'] });
    return pattern.exec(out)?.[0] ?? 'unknown';
  } catch (e) {
    const out = `${(e as { stdout?: string }).stdout ?? ''}`;
    return pattern.exec(out)?.[0] ?? 'unknown';
  }
}

function stepResult(
  targetTx: number,
  calls: number,
  r: SippResult,
  edgeCpu: number | undefined,
  edgeCoreBusyPct: number | undefined,
  memoryBytes: number | undefined,
): StepResult {
  const targetCalls = targetTx / 2;
  const achievedCalls = r.elapsedSeconds > 0 ? r.successful / r.elapsedSeconds : 0;
  const failurePct = calls > 0 ? (100 * (calls - r.successful)) / calls : 100;
  const held =
    !r.timedOut &&
    r.created >= calls &&
    r.failed / calls < MAX_FAILURE_RATIO &&
    (calls - r.successful) / calls < MAX_FAILURE_RATIO &&
    achievedCalls >= MIN_ACHIEVED_RATIO * targetCalls;
  return {
    targetTx,
    targetCalls,
    calls,
    successful: r.successful,
    failed: r.failed,
    failurePct,
    elapsedSeconds: r.elapsedSeconds,
    achievedCalls,
    achievedTx: 2 * achievedCalls,
    meanResponseMs: r.meanResponseMs,
    retransmissions: r.retransmissions,
    cpuUsPerCall: edgeCpu === undefined || r.successful === 0 ? undefined : (1e6 * edgeCpu) / r.successful,
    memoryMb: memoryBytes === undefined ? undefined : memoryBytes / 2 ** 20,
    edgeCpuPct: edgeCpu === undefined ? undefined : (100 * edgeCpu) / r.wallSeconds,
    sippCpuPct: r.cpuSeconds === undefined ? undefined : (100 * r.cpuSeconds) / r.wallSeconds,
    edgeCoreBusyPct,
    timedOut: r.timedOut,
    held,
    latencyMs: r.latencyMs,
  };
}

const COLUMNS = [
  ['target tx/s', 11],
  ['calls/s', 8],
  ['calls', 7],
  ['ok', 7],
  ['failed', 7],
  ['fail %', 7],
  ['secs', 6],
  ['got calls/s', 11],
  ['got tx/s', 9],
  ['mean ms', 8],
  ['retrans', 7],
  ['edge cpu%', 9],
  ['us/call', 7],
  ['mem MB', 6],
  ['core busy%', 10],
  ['sipp cpu%', 9],
  ['held', 4],
] as const;

function formatRow(s: StepResult): string {
  const cells = [
    String(s.targetTx),
    String(s.targetCalls),
    String(s.calls),
    String(s.successful),
    String(s.failed),
    s.failurePct.toFixed(2),
    s.elapsedSeconds.toFixed(1),
    s.achievedCalls.toFixed(0),
    s.achievedTx.toFixed(0),
    s.meanResponseMs === undefined ? '-' : s.meanResponseMs.toFixed(1),
    String(s.retransmissions),
    s.edgeCpuPct === undefined ? '-' : s.edgeCpuPct.toFixed(0),
    s.cpuUsPerCall === undefined ? '-' : s.cpuUsPerCall.toFixed(1),
    s.memoryMb === undefined ? '-' : s.memoryMb.toFixed(0),
    s.edgeCoreBusyPct === undefined ? '-' : s.edgeCoreBusyPct.toFixed(0),
    s.sippCpuPct === undefined ? '-' : s.sippCpuPct.toFixed(0),
    s.timedOut ? 'KILL' : s.held ? 'yes' : 'no',
  ];
  return cells.map((c, i) => c.padStart(COLUMNS[i]![1])).join('  ');
}

function formatHeader(): string {
  return COLUMNS.map(([name, width]) => name.padStart(width)).join('  ');
}

async function runSteps(opts: Options, edge: ServerUnderTest, sippCsv: string, report: LoadReport): Promise<StepResult[]> {
  const scenario = `load-tests/sipp/register-${opts.scenario}.xml`;
  const cpus = opts.sippCpus === '' ? undefined : opts.sippCpus;
  const edgeCores = opts.edgeCpus === '' ? [...Array(availableParallelism()).keys()] : parseCpuList(opts.edgeCpus);
  const place = async (
    targetTx: number,
    seconds: number,
    traceTo?: string,
  ): Promise<{ calls: number; result: SippResult; edgeCpu: number | undefined; coreBusy: number | undefined; memory: number | undefined }> => {
    const rate = targetTx / 2;
    const calls = Math.max(1, Math.round(rate * seconds));
    const edgeCpuBefore = edge.cpuSeconds();
    const coresBefore = readCoreTimes();
    const result = await runSipp({
      scenario,
      target: edge.sipTarget,
      inf: sippCsv,
      calls,
      rate,
      transport: opts.transport,
      authUri: TENANT.domain,
      // One second's worth of calls in flight: an edge that falls behind throttles SIPp instead of piling up work.
      maxConcurrent: Math.max(200, rate),
      recvTimeoutMs: 5000,
      timeoutMs: Math.ceil(seconds * 3 * 1000) + 20_000,
      cpus,
      traceTo,
      // Bigger socket buffers so SIPp's own receive queue is not what drops (net.core.rmem_max caps it).
      extraArgs: ['-buff_size', String(4 * 1024 * 1024)],
    });
    const edgeCpuAfter = edge.cpuSeconds();
    const memory = edge.memoryBytes();
    const coreBusy = coreBusyPct(coresBefore, readCoreTimes(), edgeCores);
    const edgeCpu = edgeCpuBefore === undefined || edgeCpuAfter === undefined ? undefined : edgeCpuAfter - edgeCpuBefore;
    return { calls, result, edgeCpu, coreBusy, memory };
  };

  const warmTx = opts.ratesTx[0]!;
  console.log(`\nwarm-up: ${warmTx} tx/s for 3 s (not counted)`);
  const warm = await place(warmTx, 3);
  console.log(`  ${warm.result.successful} ok, ${warm.result.failed} failed`);
  report.figure('warmUp', { targetTx: warmTx, seconds: 3, ok: warm.result.successful, failed: warm.result.failed });
  if (warm.result.successful === 0) {
    throw new Error(`warm-up placed no successful call; the edge or the scenario is broken:\n${describeSipp(warm.result)}\nedge output:\n${edge.output()}`);
  }

  console.log(
    [
      '',
      'got = successful calls / SIPp elapsed; mean ms = SIPp mean per call from the first REGISTER to the final',
      'response (includes SIPp scheduling, a few ms even when idle); edge/sipp cpu% = process CPU as % of one core;',
      "core busy% = everything on the edge's core(s), other processes included.",
      '',
      formatHeader(),
    ].join('\n'),
  );
  const results: StepResult[] = [];
  let notHeldInARow = 0;
  for (const [i, targetTx] of opts.ratesTx.entries()) {
    if (!edge.isRunning()) throw new Error(`the edge exited during the run; its output:\n${edge.output()}`);
    await new Promise((r) => setTimeout(r, 1000)); // let the previous step drain
    report.progress(i + 1, opts.ratesTx.length, `${targetTx} tx/s`);
    const { calls, result, edgeCpu, coreBusy, memory } = await place(targetTx, opts.stepSeconds, report.sippTrace(`step${i + 1}-${targetTx}tx`));
    const step = stepResult(targetTx, calls, result, edgeCpu, coreBusy, memory);
    results.push(step);
    report.addStep({
      series: opts.server,
      x: String(targetTx),
      offered: targetTx,
      achieved: step.achievedTx,
      failedPct: step.failurePct,
      latencyMs: step.latencyMs,
      cpuUs: step.cpuUsPerCall,
      memoryMb: step.memoryMb,
      held: step.held,
      sipp: result.traced.map((f) => relative(report.dir, f)),
      row: { ...step },
    });
    console.log(formatRow(step));
    const composition = memoryComposition(await edge.metrics().catch(() => ''));
    if (composition !== undefined) console.log(`    ${composition}`);
    if (result.exitCode === 255 || (result.successful === 0 && result.failed === 0)) {
      console.log(`  SIPp did not run the step:\n${indent(describeSipp(result))}`);
      break;
    }
    if (result.errorKinds.size > 0) console.log(indent(formatErrorKinds(result.errorKinds, 4)));
    notHeldInARow = step.held ? 0 : notHeldInARow + 1;
    if (notHeldInARow >= 2 && !opts.allSteps) {
      console.log('  (two steps in a row not held: stopping; --all-steps runs them all)');
      break;
    }
  }
  return results;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

function newestProfiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
}

async function main(argv: string[]): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    console.error(`run-register: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) return 0;
  requireSipp();
  const pinned = opts.edgeCpus !== '' || opts.sippCpus !== '';
  if (pinned) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    } catch {
      console.error('run-register: taskset is not available (util-linux); pass --edge-cpus "" --sipp-cpus "" to run unpinned');
      return 2;
    }
  }

  const work = mkdtempSync(join(tmpdir(), 'sipedge-load-'));
  const profDir = opts.cpuProf ? resolve(opts.profDir ?? mkdtempSync(join(tmpdir(), 'sipedge-prof-'))) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  let edge: ServerUnderTest | undefined;
  const serverName = opts.server === 'kamailio' ? kamailioVersion() : 'sipedge';
  const report = new LoadReport(`register-${opts.server}`, `${serverName} REGISTER load run`, opts.reportDir).describe('', { title: '', ...REGISTER_CHARTS });
  const sippVersion = toolVersion('sipp', ['-v'], /SIPp v[\w.-]+/);
  report.figure('options', opts);
  report.figure('sipp', sippVersion);
  try {
    console.log(
      [
        `${serverName} REGISTER load run`,
        `  nproc ${availableParallelism()}, node ${process.version}, ${sippVersion}`,
        `  edge on cpu ${opts.edgeCpus || '(any)'}, sipp on cpu ${opts.sippCpus || '(any)'}, transport ${opts.transport}, ` +
          `scenario register-${opts.scenario}.xml, challenge ${opts.md5Only ? 'MD5 only' : 'edge default (SHA-256, MD5)'}`,
        `  ${opts.users} users, ${opts.stepSeconds} s per step; unit: REGISTER transactions/s (tx/s), 2 per SIPp call`,
      ].join('\n'),
    );
    // How busy the machine is before we add anything: other processes on these cores make every figure low.
    const idleBefore = readCoreTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const busyBefore = coreBusyPct(idleBefore, readCoreTimes(), [...Array(availableParallelism()).keys()]);
    report.figure('coresBusyPctBefore', busyBefore);
    if (busyBefore !== undefined && busyBefore > 10) {
      console.log(
        `  WARNING: the cores were ${busyBefore.toFixed(0)} % busy before the run: other processes share them, so the ` +
          'rates below are understated and noisy (compare "core busy%" with "edge cpu%")',
      );
    }
    const t0 = Date.now();
    const files = writeUserFiles({ count: opts.users, tenant: TENANT.code, domain: TENANT.domain, outDir: work });
    const env: Record<string, string> = {};
    // Default: the dual challenge (SIPp 3.6.1 answers MD5 through auth.md5OpaqueHint; see register-auth.xml).
    if (opts.md5Only) env.SIPEDGE_AUTH__ALGORITHMS = '["MD5"]';
    if (opts.scenario === 'badpass') {
      env.SIPEDGE_AUTH__LOCKOUT__MAX_FAILURES = '1000000000';
      env.SIPEDGE_AUTH__BAN__MAX_EXTENSIONS = '1000000000';
    }
    const cpus = opts.edgeCpus === '' ? undefined : opts.edgeCpus;
    if (opts.server === 'kamailio' && (opts.transport !== 'u1' || opts.scenario !== 'auth' || opts.cpuProf)) {
      throw new Error('--server kamailio runs the auth scenario over UDP (u1) only, without --cpu-prof');
    }
    edge =
      opts.server === 'kamailio'
        ? await startKamailio({ users: files.users, domain: TENANT.domain, cpus })
        : await startEdge({
            floodGuard: false,
            tenants: [TENANT],
            importCsv: files.importCsv,
            env,
            logLevel: 'warn',
            tcp: true,
            cpus,
            nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
            startTimeoutMs: 60_000,
          });
    console.log(`  provisioned and started in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${edge.pid}, sip ${edge.sipTarget})`);

    const results = await runSteps(opts, edge, files.sippCsv, report);

    const metrics = await edge.metrics().catch((e: Error) => `# metrics unavailable: ${e.message}`);
    const exit = await edge.stop();
    const held = results.filter((s) => s.held);
    const best = held.reduce<StepResult | undefined>((a, s) => (!a || s.targetTx > a.targetTx ? s : a), undefined);

    console.log('\nedge counters after the run:');
    const counters = formatSamples(metrics, [
      'sipedge_register_responses_total',
      'sipedge_auth_failures_total',
      'sipedge_sip_dropped_total',
      'sipedge_sip_parse_errors_total',
      'sipedge_sip_retransmissions_absorbed_total',
      'sipedge_registrations_active',
    ]);
    for (const line of counters) console.log(`  ${line}`);
    report.figure('edgeCounters', counters);
    const edgeCoreCount = opts.edgeCpus === '' ? availableParallelism() : parseCpuList(opts.edgeCpus).length;
    const crowded = results.filter(
      (r) => r.edgeCoreBusyPct !== undefined && r.edgeCpuPct !== undefined && r.edgeCoreBusyPct - r.edgeCpuPct / edgeCoreCount > 15,
    );
    report.figure('crowdedStepsTx', crowded.map((r) => r.targetTx));
    report.figure('edgeExit', exit);
    report.figure('highestHeld', best ?? null);
    if (crowded.length > 0) {
      console.log(
        `\nWARNING: in ${crowded.length} step(s) other processes used more than 15 % of the edge's core(s) ` +
          `(${crowded.map((r) => r.targetTx).join(', ')} tx/s): those figures understate the edge; rerun on an idle machine`,
      );
    }
    console.log(`edge exit on SIGTERM: ${exit.exitCode ?? exit.signal}${exit.killed ? ' (killed after the 10 s grace)' : ''}`);
    console.log(
      best
        ? `\nhighest rate held (< ${MAX_FAILURE_RATIO * 100} % failures, >= ${MIN_ACHIEVED_RATIO * 100} % of target): ` +
            `${best.targetTx} REGISTER tx/s = ${best.targetCalls} registrations/s ` +
            `(achieved ${best.achievedTx.toFixed(0)} tx/s, ${best.achievedCalls.toFixed(0)} calls/s, ${best.failurePct.toFixed(2)} % failed)`
        : '\nno step was held',
    );

    if (opts.json) {
      writeFileSync(opts.json, JSON.stringify({ options: opts, nproc: availableParallelism(), results, best: best ?? null }, null, 2));
      console.log(`results written to ${opts.json}`);
    }
    if (profDir) {
      const profiles = newestProfiles(profDir);
      if (profiles.length === 0) console.log(`\nno .cpuprofile was written in ${profDir} (the edge must exit normally)`);
      else {
        console.log(`\nCPU profiles in ${profDir}: ${profiles.map((p) => p.slice(profDir.length + 1)).join(', ')}`);
        console.log(`\n${summariseProfileFile(profiles[0]!, 25)}`);
      }
    }
    await report.finish();
    return exit.exitCode === 0 ? 0 : 1;
  } catch (e) {
    console.error(`run-register: ${(e as Error).message}`);
    if (edge) await edge.stop();
    report.figure('error', (e as Error).message);
    await report.finish().catch((f: Error) => console.error(`run-register: the report could not be written: ${f.message}`));
    return 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
