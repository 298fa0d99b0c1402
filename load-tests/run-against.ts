// The edge against Kamailio in the same run: the same SIPp steps (run-register.ts, run-invite.ts) against Kamailio with
// load-tests/kamailio/kamailio.cfg and against the edge, interleaved (Kamailio, sipedge, Kamailio, sipedge, ...), then
// the medians over the rounds: highest rate held, server CPU per registration / call at the steps both held, memory.
// `npm run bench -- --against kamailio` runs it; the Kamailio configuration says why the comparison is fair.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from './lib/edge-process.ts';
import { kamailioVersion, requireKamailio } from './lib/kamailio.ts';
import { LoadReport, medianOverRounds, REPORT_OPTION, reportUsage, type ReportStep, REGISTER_CHARTS, CALL_CHARTS } from './lib/report.ts';
import { median } from './lib/stats.ts';

const USAGE = `usage: tsx load-tests/run-against.ts [options]     (npm run bench -- --against kamailio [options])

  --rounds N              rounds; each runs Kamailio then sipedge (default 3)
  --only register|invite  one of the two runs (default both)
  --register-rates LIST   REGISTER tx/s per step (default 12000,16000,20000,24000,28000,32000)
  --invite-rates LIST     calls/s per step (default 1000,2000,3000,4000)
  --step-seconds S        seconds per step (default 10)
  --invite-warmup-seconds S
                          calls at the first rate before the INVITE steps, not counted, for both servers (default 35:
                          the edge keeps a completed transaction 32 s, so before that its first step is not yet in the
                          steady state; see run-invite.ts --warmup-seconds)
  --quick                 2 rounds, 5 s steps, register 8000,16000,24000, invite 500,1000,2000 (a smoke run)
${reportUsage(26)}
                          each run's own report goes into its runs/<kind>-<server>-<round>/
  -h, --help

Both servers: pinned to cpu 0, SIPp to cpu 1, UDP, 20,000 users (register) / 2,000 registered phones (invite).
The edge runs with the MD5 challenge only (Kamailio offers MD5), its default lockout and ban on.
A step is held with < 0.5 % failed calls and >= 95 % of the offered rate (the runners' rule).`;

interface StepRow {
  /** register: REGISTER tx/s; invite: calls/s. */
  target: number;
  held: boolean;
  cpuUsPerCall: number | undefined;
  memoryMb: number | undefined;
}

interface RunOutcome {
  server: 'kamailio' | 'sipedge';
  round: number;
  /** Highest held step in calls/s (registrations/s or calls/s), 0 when none held. */
  heldCallsPerSecond: number;
  steps: StepRow[];
  /** The run's own report steps (its summary.json): what the charts draw. */
  reportSteps: ReportStep[];
  /** That run's report directory. */
  reportDir: string;
}

type Kind = 'register' | 'invite';

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      only: { type: 'string' },
      'register-rates': { type: 'string' },
      'invite-rates': { type: 'string' },
      'step-seconds': { type: 'string' },
      'invite-warmup-seconds': { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      ...REPORT_OPTION,
    },
  });
  if (values.help) return undefined;
  const quick = values.quick;
  const rounds = Number(values.rounds ?? (quick ? 2 : 3));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds ${values.rounds} must be a positive integer`);
  if (values.only !== undefined && values.only !== 'register' && values.only !== 'invite') {
    throw new Error(`--only ${values.only} must be register or invite`);
  }
  const kinds: Kind[] = values.only ? [values.only] : ['register', 'invite'];
  return {
    rounds,
    kinds,
    registerRates: values['register-rates'] ?? (quick ? '8000,16000,24000' : '12000,16000,20000,24000,28000,32000'),
    inviteRates: values['invite-rates'] ?? (quick ? '500,1000,2000' : '1000,2000,3000,4000'),
    stepSeconds: values['step-seconds'] ?? (quick ? '5' : '10'),
    inviteWarmupSeconds: values['invite-warmup-seconds'] ?? (quick ? '2' : '35'),
    reportDir: values['report-dir'],
  };
}

/** Runs one runner in a child process (its output to ours, indented) and reads the JSON it wrote. */
async function runOnce(kind: Kind, server: RunOutcome['server'], round: number, args: string[], work: string, reportRoot: string): Promise<RunOutcome> {
  const json = join(work, `${kind}-${server}-${round}.json`);
  const reportDir = join(reportRoot, 'runs', `${kind}-${server}-${round}`);
  const file = join(REPO_ROOT, 'load-tests', kind === 'register' ? 'run-register.ts' : 'run-invite.ts');
  const serverArgs = server === 'kamailio' ? ['--server', 'kamailio'] : kind === 'register' ? ['--md5-only'] : [];
  const code = await new Promise<number>((resolveCode) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args, ...serverArgs, '--all-steps', '--json', json, '--report-dir', reportDir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const relay = (out: NodeJS.WriteStream) => (d: Buffer) => out.write(d.toString('utf8').replace(/^(?=.)/gm, `  [${server} ${round}] `));
    child.stdout.on('data', relay(process.stdout));
    child.stderr.on('data', relay(process.stderr));
    child.once('exit', (c) => resolveCode(c ?? 1));
  });
  let parsed: { results: Array<Record<string, unknown>> };
  try {
    parsed = JSON.parse(readFileSync(json, 'utf8')) as typeof parsed;
  } catch {
    // A run that could not even set up (e.g. the registration phase before the calls failed) held nothing; the
    // comparison goes on and the table counts it as 0.
    console.log(`  [${server} ${round}] ${kind} run wrote no results (exit ${code}): counted as nothing held`);
    return { server, round, heldCallsPerSecond: 0, steps: [], reportSteps: [], reportDir };
  }
  const steps: StepRow[] = parsed.results.map((r) => ({
    target: Number(kind === 'register' ? r.targetTx : r.target),
    held: r.held === true,
    // run-register.ts writes µs per registration, run-invite.ts ms per call.
    cpuUsPerCall: typeof r.cpuUsPerCall === 'number' ? r.cpuUsPerCall : typeof r.edgeCpuMsPerCall === 'number' ? r.edgeCpuMsPerCall * 1000 : undefined,
    memoryMb: typeof r.memoryMb === 'number' ? r.memoryMb : undefined,
  }));
  const perCall = (target: number): number => (kind === 'register' ? target / 2 : target);
  const heldCallsPerSecond = Math.max(0, ...steps.filter((s) => s.held).map((s) => perCall(s.target)));
  let reportSteps: ReportStep[] = [];
  try {
    reportSteps = (JSON.parse(readFileSync(join(reportDir, 'summary.json'), 'utf8')) as { steps: ReportStep[] }).steps;
  } catch {
    console.log(`  [${server} ${round}] ${kind} run wrote no report: its steps are left out of the charts`);
  }
  return { server, round, heldCallsPerSecond, steps, reportSteps, reportDir };
}


const fmt = (v: number | undefined, digits = 0): string => (v === undefined ? '-' : v.toFixed(digits));
const spread = (vs: number[], digits = 0): string =>
  vs.length === 0 ? '-' : `${fmt(Math.min(...vs), digits)} / ${fmt(median(vs), digits)} / ${fmt(Math.max(...vs), digits)}`;

/** The comparison table of one kind: held rates, CPU per call at the steps both servers held, memory at the top step. */
function summarise(kind: Kind, outcomes: RunOutcome[]): string[] {
  const unit = kind === 'register' ? 'registrations/s' : 'calls/s';
  const of = (s: RunOutcome['server']) => outcomes.filter((o) => o.server === s);
  const held = (s: RunOutcome['server']) => of(s).map((o) => o.heldCallsPerSecond);
  const lines = [`\n== ${kind === 'register' ? 'REGISTER (REGISTER -> 401 -> REGISTER with MD5 digest -> 200)' : 'calls (INVITE/100/180/200/ACK/BYE/200 to a SIPp PBX)'}`];
  lines.push(`${'measure'.padEnd(44)}${'Kamailio min / median / max'.padStart(30)}${'sipedge min / median / max'.padStart(30)}${'sipedge / Kamailio'.padStart(20)}`);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}`);
  const hk = held('kamailio');
  const he = held('sipedge');
  lines.push(`${`${unit} held (${hk.length} runs each)`.padEnd(44)}${spread(hk).padStart(30)}${spread(he).padStart(30)}${ratio(median(he), median(hk)).padStart(20)}`);
  // CPU per call at each step that every run of both servers held.
  const targets = [...new Set(outcomes.flatMap((o) => o.steps.map((s) => s.target)))].sort((a, b) => a - b);
  for (const t of targets) {
    const at = (s: RunOutcome['server']) =>
      of(s)
        .map((o) => o.steps.find((x) => x.target === t))
        .filter((x): x is StepRow => x !== undefined && x.held && x.cpuUsPerCall !== undefined)
        .map((x) => x.cpuUsPerCall!);
    const k = at('kamailio');
    const e = at('sipedge');
    if (k.length === 0 || e.length === 0) continue;
    const label = `CPU us per ${kind === 'register' ? 'registration' : 'call'} at ${kind === 'register' ? t / 2 : t} ${unit}`;
    lines.push(`${label.padEnd(44)}${spread(k, 1).padStart(30)}${spread(e, 1).padStart(30)}${`${ratio(median(e), median(k))}x CPU`.padStart(20)}`);
  }
  const topMemory = (s: RunOutcome['server']) =>
    of(s)
      .map((o) => o.steps.filter((x) => x.held).at(-1)?.memoryMb)
      .filter((m): m is number => m !== undefined);
  lines.push(`${'memory MB at the highest held step'.padEnd(44)}${spread(topMemory('kamailio')).padStart(30)}${spread(topMemory('sipedge')).padStart(30)}${ratio(median(topMemory('sipedge')), median(topMemory('kamailio'))).padStart(20)}`);
  return lines;
}

/** The charts' points: per server and step, the median over the rounds of what each run's report measured. */
function medianSteps(kind: Kind, outcomes: RunOutcome[], root: string): ReportStep[] {
  return medianOverRounds(
    outcomes.flatMap((o) =>
      o.reportSteps.map((s) => ({ ...s, group: kind, series: o.server, sipp: (s.sipp ?? []).map((f) => relative(root, join(o.reportDir, f))) })),
    ),
  );
}

async function main(argv: string[]): Promise<number> {
  let opts: ReturnType<typeof parseOptions>;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    console.error(`run-against: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }
  requireKamailio();
  const work = mkdtempSync(join(tmpdir(), 'sipedge-against-'));
  const title = `sipedge against ${kamailioVersion()}`;
  const report = new LoadReport('against-kamailio', title, opts.reportDir)
    .describe('register', {
      title: `${title}, REGISTER (median of ${opts.rounds === 1 ? 'one round' : `${opts.rounds} rounds`})`,
      ...REGISTER_CHARTS,
    })
    .describe('invite', {
      title: `${title}, calls (median of ${opts.rounds === 1 ? 'one round' : `${opts.rounds} rounds`})`,
      ...CALL_CHARTS,
    });
  report.figure('options', opts);
  try {
    console.log(`${title}: ${opts.rounds} rounds, interleaved, ${opts.stepSeconds} s steps`);
    const runCount = opts.kinds.length * opts.rounds * 2;
    const results = new Map<Kind, RunOutcome[]>();
    for (const kind of opts.kinds) {
      const args =
        kind === 'register'
          ? ['--rates', opts.registerRates, '--step-seconds', opts.stepSeconds]
          : ['--rates', opts.inviteRates, '--step-seconds', opts.stepSeconds, '--warmup-seconds', opts.inviteWarmupSeconds];
      const outcomes: RunOutcome[] = [];
      for (let round = 1; round <= opts.rounds; round++) {
        for (const server of ['kamailio', 'sipedge'] as const) {
          console.log(`\n-- ${kind}, round ${round}/${opts.rounds}: ${server}`);
          report.progress(results.size * opts.rounds * 2 + outcomes.length + 1, runCount, `${kind} run against ${server}, round ${round}`);
          outcomes.push(await runOnce(kind, server, round, args, work, report.dir));
        }
      }
      results.set(kind, outcomes);
    }
    for (const [kind, outcomes] of results) {
      const lines = summarise(kind, outcomes);
      for (const line of lines) console.log(line);
      report.figure(`${kind}.table`, lines.filter((l) => l.trim() !== ''));
      report.figure(
        `${kind}.runs`,
        outcomes.map((o) => ({ server: o.server, round: o.round, heldCallsPerSecond: o.heldCallsPerSecond, steps: o.steps, report: relative(report.dir, o.reportDir) })),
      );
      for (const step of medianSteps(kind, outcomes, report.dir)) report.addStep(step);
    }
    console.log('\n(held = highest step with < 0.5 % failed calls and >= 95 % of the offered rate; CPU = user + system of all the');
    console.log(" server's processes per successful call; memory = proportional set size, Kamailio's shared memory counted once)");
    await report.finish();
    return 0;
  } catch (e) {
    console.error(`run-against: ${(e as Error).message}`);
    report.figure('error', (e as Error).message);
    await report.finish().catch((f: Error) => console.error(`run-against: the report could not be written: ${f.message}`));
    return 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
