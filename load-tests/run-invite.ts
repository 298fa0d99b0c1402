// Stepped-rate call load through the proxy: a SIPp UAS as the upstream PBX (uas-upstream.xml), SIPp phones that register
// and then call through the edge (invite-via-proxy.xml: INVITE/100/180/200/ACK/BYE/200), the edge pinned to one core and
// both SIPps to the other. Reports the highest call rate held with < 0.5 % failures; --cpu-prof profiles the edge.
// --anchor adds bridged calls (the phones offer a browser's DTLS-SRTP/ICE/Opus SDP, so the edge has rtpengine rewrite
// the offer and the answer, and deletes the rtpengine call on BYE) alternating with plain ones at each rate.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeSipp, formatErrorKinds, freeUdpPortOn, requireSipp, runSipp, type SippResult } from './lib/sipp.ts';
import { summariseProfileFile } from './lib/cpu-profile-summary.ts';
import { heapSnapshotNodeArgs, summariseHeapSnapshot, takeHeapSnapshot } from './lib/heap-snapshot-summary.ts';
import { REPO_ROOT, startEdge } from './lib/edge-process.ts';
import { kamailioVersion, startKamailio, type ServerUnderTest } from './lib/kamailio.ts';
import { formatSamples, gcTotals, loopHealth, memoryComposition, metricValue } from './lib/metrics-text.ts';
import { coreBusyPct, cpuSeconds, parseCpuList, readCoreTimes } from './lib/proc-cpu.ts';
import { startTestRtpengine, type TestRtpengine } from './lib/rtpengine.ts';
import { startSippUas, type SippUas } from './lib/sipp-uas.ts';
import { LoadReport, REPORT_OPTION, reportUsage, CALL_CHARTS } from './lib/report.ts';
import { writeUserFiles } from './lib/users.ts';
import { median } from './lib/stats.ts';

const USAGE = `usage: tsx load-tests/run-invite.ts [options]

  --users N           phones provisioned and registered (default 2000)
  --rates LIST        calls/s per step, comma-separated (default 1000,2000,3000,4000,5000)
  --step-seconds S    traffic per step (default 10)
  --warmup-seconds S  calls at the first rate before the steps, not counted (default 2). The edge keeps a completed
                      transaction 32 s (RFC 3261 Timers J and L), so for the first 32 s at a rate its live
                      transactions grow and survive into V8's old generation (scavenges that copy them cost ~30 % more
                      CPU per call than in the steady state); 35 s measures the first step in the steady state
  --server sipedge|kamailio
                      the server under load (default sipedge); kamailio runs load-tests/kamailio/kamailio.cfg
                      (registered caller, record-route, dispatcher to the PBX, tm)
  --edge-cpus LIST    taskset CPU list for the server (default 0; "" = not pinned)
  --sipp-cpus LIST    taskset CPU list for both SIPps, phones and PBX (default 1; "" = not pinned)
  --all-steps         run every step (default: stop after two steps in a row are not held)
  --cpu-prof          run the edge under node --cpu-prof and print the top functions at the end
  --prof-dir DIR      where --cpu-prof writes (default: a new temp dir, kept)
  --heap-snapshot     after the last step, take a heap snapshot of the edge (kept in a new temp dir) and print its
                      live objects by constructor (count, self size)
  --json FILE         also write the step results as JSON
  --quick             500 users, rates 1000,2000,3000, 5 s steps (npm run bench's default)
  --anchor            bridged calls too: a real rtpengine (media ports 40000-44999) as media.rtpengine, and at each rate
                      a plain step and a bridged step (the same scenario with a browser's SDP: UDP/TLS/RTP/SAVPF, ICE,
                      DTLS fingerprint, Opus and PCMU); prints edge CPU ms per call for both and their ratio
                      (--quick with --anchor: rates 100,200,400)
  --rtpengine-cpus LIST
                      taskset CPU list for rtpengine's threads with --anchor (default: --sipp-cpus, off the edge's
                      core, as rtpengine runs on cores of its own in production; "" = not pinned, so it may share the
                      edge's core and its media work slows the edge's: 1.8x against ~1.4x at 400 calls/s, README)
  --rounds N          run the rates N times (default 1); with --anchor, plain and bridged swap order each round and
                      the medians over the rounds are printed beside each round's figures
${reportUsage(22)}
  -h, --help

One call = INVITE -> 100 -> 180 -> 200 -> ACK -> BYE -> 200 through the edge to the PBX (2 proxied transactions and a
stateless ACK). The tenant uses proxy.tenantUserAuth "registered": phones register first (register-auth.xml, from the
port they then call from), so calls carry no digest. A step is "held" when fewer than 0.5 % of its calls failed, every
call was placed, and the achieved rate reached 95 % of the target.`;

const PLAIN_SCENARIO = 'load-tests/sipp/invite-via-proxy.xml';
/** The plain scenario's media lines, which the bridged variant replaces. */
const PLAIN_MEDIA = 'm=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n';
/** What a browser offers (RFC 8829 §5.2.1, trimmed to what rtpengine reads): DTLS-SRTP, ICE, rtcp-mux, Opus and PCMU. */
const WEBRTC_MEDIA = [
  'm=audio [media_port] UDP/TLS/RTP/SAVPF 111 0',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  'a=setup:actpass',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase()).join(':')}`,
  'a=ice-ufrag:sipp[call_number]',
  'a=ice-pwd:sipedgeloadrunicepassword',
  'a=candidate:1 1 udp 2122260223 [media_ip] 9 typ host', // SIPp names [media_port] only on m= lines
  'a=rtcp-mux',
  'a=sendrecv',
].map((l) => `      ${l}\n`).join('');

/** invite-via-proxy.xml with a browser's offer instead of the desk phone's: the one call flow, only the SDP differs. */
function writeBridgedScenario(dir: string): string {
  const plain = readFileSync(join(REPO_ROOT, PLAIN_SCENARIO), 'utf8');
  if (!plain.includes(PLAIN_MEDIA)) throw new Error(`${PLAIN_SCENARIO} no longer has the media lines --anchor replaces`);
  const file = join(dir, 'invite-webrtc-via-proxy.xml');
  writeFileSync(file, plain.replace(PLAIN_MEDIA, WEBRTC_MEDIA).replace('name="sipedge invite-via-proxy"', 'name="sipedge invite-webrtc-via-proxy"'));
  return file;
}

const MAX_FAILURE_RATIO = 0.005;
const MIN_ACHIEVED_RATIO = 0.95;
const TENANT = { code: 'load', domain: 'load.sipedge.test' };

interface Options {
  users: number;
  rates: number[];
  stepSeconds: number;
  /** Calls at the first rate before the steps, not counted; seconds. */
  warmupSeconds: number;
  edgeCpus: string;
  sippCpus: string;
  allSteps: boolean;
  cpuProf: boolean;
  heapSnapshot: boolean;
  profDir: string | undefined;
  anchor: boolean;
  rtpengineCpus: string;
  rounds: number;
  server: 'sipedge' | 'kamailio';
  json: string | undefined;
  reportDir: string | undefined;
}

interface Step {
  kind: 'plain' | 'bridged';
  round: number;
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
  /** Edge CPU per successful call, ms. */
  edgeCpuMsPerCall: number | undefined;
  /** rtpengine CPU per successful call, ms (bridged steps). */
  rtpengineCpuMsPerCall: number | undefined;
  /** Server memory at the end of the step (proportional set size), MB. */
  memoryMb: number | undefined;
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
      'warmup-seconds': { type: 'string', default: '2' },
      'edge-cpus': { type: 'string', default: '0' },
      'sipp-cpus': { type: 'string', default: '1' },
      'all-steps': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'heap-snapshot': { type: 'boolean', default: false },
      'prof-dir': { type: 'string' },
      anchor: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '1' },
      'rtpengine-cpus': { type: 'string' },
      server: { type: 'string', default: 'sipedge' },
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
  const users = Number(values.users ?? (quick ? 500 : 2000));
  const quickRates = values.anchor ? '100,200,400' : '1000,2000,3000';
  const rates = (values.rates ?? (quick ? quickRates : '1000,2000,3000,4000,5000')).split(',').map((r) => Number(r.trim()));
  const stepSeconds = Number(values['step-seconds'] ?? (quick ? 5 : 10));
  if (!Number.isInteger(users) || users < 1) throw new Error(`--users ${values.users} must be a positive integer`);
  if (rates.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--rates: each rate is a positive integer (calls/s)`);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds ${values.rounds} must be a positive integer`);
  if (!(stepSeconds >= 1)) throw new Error(`--step-seconds ${values['step-seconds']} must be at least 1`);
  const warmupSeconds = Number(values['warmup-seconds']);
  if (!(warmupSeconds >= 1)) throw new Error(`--warmup-seconds ${values['warmup-seconds']} must be at least 1`);
  if (values.server !== 'sipedge' && values.server !== 'kamailio') throw new Error(`--server ${values.server} must be sipedge or kamailio`);
  if (values.server === 'kamailio' && (values['cpu-prof'] || values['heap-snapshot'] || values.anchor)) throw new Error('--cpu-prof, --heap-snapshot and --anchor apply to the edge only');
  return {
    users,
    rates,
    stepSeconds,
    warmupSeconds,
    edgeCpus: values['edge-cpus'],
    sippCpus: values['sipp-cpus'],
    allSteps: values['all-steps'],
    cpuProf: values['cpu-prof'],
    heapSnapshot: values['heap-snapshot'],
    profDir: values['prof-dir'],
    anchor: values.anchor,
    rtpengineCpus: values['rtpengine-cpus'] ?? values['sipp-cpus'],
    rounds,
    server: values.server,
    json: values.json,
    reportDir: values['report-dir'],
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
  const heapDir = opts.heapSnapshot ? mkdtempSync(join(tmpdir(), 'sipedge-heap-')) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  let edge: ServerUnderTest | undefined;
  let pbx: SippUas | undefined;
  let rtpengine: TestRtpengine | undefined;
  const serverName = opts.server === 'kamailio' ? kamailioVersion() : 'sipedge';
  const report = new LoadReport(`invite-${opts.server}${opts.anchor ? '-anchor' : ''}`, `${serverName} calls through the proxy${opts.anchor ? ', bridged and plain' : ''}`, opts.reportDir).describe('', { title: '', ...CALL_CHARTS });
  report.figure('options', opts);
  try {
    console.log(
      [
        `${serverName} call load run through the proxy`,
        `  nproc ${availableParallelism()}, node ${process.version}`,
        `  edge on cpu ${opts.edgeCpus || '(any)'}, SIPp phones and SIPp PBX on cpu ${opts.sippCpus || '(any)'}, UDP`,
        `  ${opts.users} phones, ${opts.stepSeconds} s per step; unit: calls/s (INVITE/100/180/200/ACK/BYE/200)`,
        ...(opts.anchor ? [`  --anchor: each rate runs a plain step, then a bridged step through rtpengine (${opts.rtpengineCpus === '' ? 'not pinned' : `on cpu ${opts.rtpengineCpus}`})`] : []),
      ].join('\n'),
    );
    const idle = readCoreTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = coreBusyPct(idle, readCoreTimes(), [...Array(availableParallelism()).keys()]);
    report.figure('coresBusyPctBefore', busy);
    if (busy !== undefined && busy > 10) console.log(`  WARNING: the cores were ${busy.toFixed(0)} % busy before the run (shared machine): figures are understated`);

    const files = writeUserFiles({ count: opts.users, tenant: TENANT.code, domain: TENANT.domain, outDir: work });
    pbx = await startSippUas({ ip: '127.0.0.2', cpus: sippCpus });
    const bridgedScenario = opts.anchor ? writeBridgedScenario(work) : undefined;
    if (opts.anchor) rtpengine = await startTestRtpengine({ ports: { min: 40_000, max: 44_999 }, logLevel: 4 });
    // Every thread rtpengine has (-a); the ones it starts later inherit the mask.
    if (rtpengine && opts.rtpengineCpus !== '') execFileSync('taskset', ['-a', '-cp', opts.rtpengineCpus, String(rtpengine.pid)], { stdio: 'ignore' });
    const cpus = opts.edgeCpus === '' ? undefined : opts.edgeCpus;
    edge =
      opts.server === 'kamailio'
        ? await startKamailio({ users: files.users, domain: TENANT.domain, upstream: pbx.uri, cpus })
        : await startEdge({
            floodGuard: false,
            tenants: [TENANT],
            importCsv: files.importCsv,
            env: {
              SIPEDGE_UPSTREAMS: pbx.uri,
              SIPEDGE_PROXY__TENANT_USER_AUTH: JSON.stringify({ [TENANT.code]: 'registered' }),
              SIPEDGE_PROXY__PROBE__INTERVAL_SECONDS: '2',
              SIPEDGE_PROXY__PROBE__TIMEOUT_SECONDS: '1',
              ...(rtpengine ? { SIPEDGE_MEDIA__RTPENGINE: rtpengine.address } : {}),
            },
            logLevel: 'warn',
            tcp: false,
            cpus,
            nodeArgs: [...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), ...(heapDir ? heapSnapshotNodeArgs(heapDir) : [])],
            startTimeoutMs: 60_000,
          });
    const deadline = Date.now() + 10_000;
    // Kamailio's dispatcher starts with the destination active; the edge waits for its first probe answer.
    while (opts.server === 'sipedge' && metricValue(await edge.metrics(), 'sipedge_upstream_up', { upstream: pbx.uri }) !== 1) {
      if (Date.now() > deadline) throw new Error(`the PBX ${pbx.uri} was not marked up within 10 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    while (rtpengine && metricValue(await edge.metrics(), 'sipedge_rtpengine_up', { rtpengine: rtpengine.address }) !== 1) {
      if (Date.now() > deadline) throw new Error(`rtpengine ${rtpengine.address} was not marked up within 10 s`);
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

    const place = async (rate: number, seconds: number, kind: Step['kind'] = 'plain', round = 0, traceTo?: string): Promise<Step> => {
      const calls = Math.max(1, Math.round(rate * seconds));
      const cpuBefore = edge!.cpuSeconds();
      const rtpengineBefore = rtpengine ? cpuSeconds(rtpengine.pid) : undefined;
      const coresBefore = readCoreTimes();
      const result = await runSipp({
        scenario: kind === 'bridged' ? bridgedScenario! : PLAIN_SCENARIO,
        target: edge!.sipTarget,
        inf: files.sippCsv,
        calls,
        rate,
        localPort: phonePort,
        maxConcurrent: Math.max(200, rate),
        recvTimeoutMs: 5000,
        timeoutMs: Math.ceil(seconds * 3 * 1000) + 20_000,
        cpus: sippCpus,
        traceTo,
        extraArgs: ['-buff_size', String(4 * 1024 * 1024)],
      });
      const cpuAfter = edge!.cpuSeconds();
      const memory = edge!.memoryBytes();
      const rtpengineAfter = rtpengine ? cpuSeconds(rtpengine.pid) : undefined;
      const perCall = (before: number | undefined, after: number | undefined): number | undefined =>
        before === undefined || after === undefined || result.successful === 0 ? undefined : ((after - before) * 1000) / result.successful;
      const edgeCores = opts!.edgeCpus === '' ? [...Array(availableParallelism()).keys()] : parseCpuList(opts!.edgeCpus);
      const achieved = result.elapsedSeconds > 0 ? result.successful / result.elapsedSeconds : 0;
      const failurePct = (100 * (calls - result.successful)) / calls;
      return {
        kind,
        round,
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
        edgeCpuMsPerCall: perCall(cpuBefore, cpuAfter),
        rtpengineCpuMsPerCall: kind === 'bridged' ? perCall(rtpengineBefore, rtpengineAfter) : undefined,
        memoryMb: memory === undefined ? undefined : memory / 2 ** 20,
        coreBusyPct: coreBusyPct(coresBefore, readCoreTimes(), edgeCores),
        held: !result.timedOut && result.created >= calls && failurePct / 100 < MAX_FAILURE_RATIO && achieved >= MIN_ACHIEVED_RATIO * rate,
        result,
      };
    };

    const kinds: Step['kind'][] = opts.anchor ? ['plain', 'bridged'] : ['plain'];
    for (const kind of kinds) {
      const warm = await place(opts.rates[0]!, opts.warmupSeconds, kind);
      console.log(`\nwarm-up (${kind}): ${warm.target} calls/s for ${opts.warmupSeconds} s: ${warm.ok} ok, ${warm.failed} failed (not counted)`);
      report.figure(`warmUp.${kind}`, { target: warm.target, seconds: opts.warmupSeconds, ok: warm.ok, failed: warm.failed });
      if (warm.ok === 0) throw new Error(`warm-up placed no successful ${kind} call:\n${describeSipp(warm.result)}\nedge output:\n${edge.output()}`);
    }
    const cols = ['calls', 'ok', 'failed', 'fail %', 'secs', 'got/s', 'mean ms', 'retrans', 'edge cpu%', 'ms/call', 'mem MB', 'core busy%', 'held'];
    console.log(`\n${['calls/s', 'kind'].map((c) => c.padStart(10)).join(' ')} ${cols.map((c) => c.padStart(10)).join(' ')}`);
    const steps: Step[] = [];
    const stepCount = opts.rounds * opts.rates.length * kinds.length;
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) console.log(`round ${round} of ${opts.rounds}`);
      // Odd rounds place the plain step first, even rounds the bridged one: a machine growing busier or quieter during
      // the run does not favour one kind.
      const order = round % 2 === 1 ? kinds : [...kinds].reverse();
      let missed = 0;
      for (const rate of opts.rates) {
        let held = true;
        for (const kind of order) {
          if (!edge.isRunning()) throw new Error(`the edge exited during the run:\n${edge.output()}`);
          await new Promise((r) => setTimeout(r, 1500));
          report.progress(steps.length + 1, stepCount, `${rate} ${kind} calls/s${opts.rounds > 1 ? `, round ${round}` : ''}`);
          const gcBefore = gcTotals(await edge.metrics().catch(() => ''));
          const s = await place(rate, opts.stepSeconds, kind, round, report.sippTrace(`step${steps.length + 1}-${rate}cps-${kind}`));
          steps.push(s);
          const { result, ...row } = s;
          report.addStep({
            series: opts.anchor ? kind : opts.server,
            x: opts.rounds > 1 ? `${rate} r${round}` : String(rate),
            offered: rate,
            achieved: s.achieved,
            failedPct: s.failurePct,
            latencyMs: result.latencyMs,
            cpuUs: s.edgeCpuMsPerCall === undefined ? undefined : s.edgeCpuMsPerCall * 1000,
            memoryMb: s.memoryMb,
            held: s.held,
            sipp: result.traced.map((f) => relative(report.dir, f)),
            row: { ...row, latencyMs: result.latencyMs },
          });
          held &&= s.held;
          const cells = [s.target, s.kind, s.calls, s.ok, s.failed, s.failurePct.toFixed(2), s.secs.toFixed(1), s.achieved.toFixed(0), s.meanMs?.toFixed(1) ?? '-', s.retrans, s.edgeCpuPct?.toFixed(0) ?? '-', s.edgeCpuMsPerCall?.toFixed(3) ?? '-', s.memoryMb?.toFixed(0) ?? '-', s.coreBusyPct?.toFixed(0) ?? '-', s.held ? 'yes' : 'no'];
          console.log(cells.map((c) => String(c).padStart(10)).join(' '));
          const after = await edge.metrics().catch(() => '');
          const composition = memoryComposition(after);
          if (composition !== undefined) console.log(`    ${composition}`);
          const health = loopHealth(gcBefore, after);
          if (health !== undefined) console.log(`    ${health}`);
          if (s.result.errorKinds.size > 0) console.log(formatErrorKinds(s.result.errorKinds, 4).replace(/^/gm, '    '));
        }
        missed = held ? 0 : missed + 1;
        if (missed >= 2 && !opts.allSteps) {
          console.log('  (two rates in a row not held: stopping; --all-steps runs them all)');
          break;
        }
      }
    }
    const metrics = await edge.metrics().catch((e: Error) => `# metrics unavailable: ${e.message}`);
    if (heapDir) {
      const file = await takeHeapSnapshot(edge.pid, heapDir);
      console.log(`\nheap snapshot ${file}\n${summariseHeapSnapshot(file)}`);
    }
    const exit = await edge.stop();
    console.log('\nedge counters after the run:');
    const counters = formatSamples(metrics, [
      'sipedge_proxy_requests_total',
      'sipedge_proxy_rejected_total',
      'sipedge_sip_dropped_total',
      'sipedge_sip_retransmissions_absorbed_total',
      'sipedge_upstream_moves_total',
      ...(opts.anchor ? ['sipedge_anchor_decisions_total', 'sipedge_rtpengine_errors_total', 'sipedge_anchored_calls'] : []),
    ]);
    for (const line of counters) console.log(`  ${line}`);
    console.log(`PBX counts: ${JSON.stringify(pbx.counts())}`);
    report.figure('edgeCounters', counters);
    report.figure('pbxCounts', pbx.counts());
    report.figure('edgeExit', exit);
    for (const kind of kinds) {
      const best = steps.filter((s) => s.kind === kind && s.held).reduce<Step | undefined>((a, s) => (!a || s.target > a.target ? s : a), undefined);
      report.figure(`highestHeld.${kind}`, best ? { target: best.target, achieved: best.achieved, failurePct: best.failurePct, edgeCpuPct: best.edgeCpuPct } : null);
      console.log(
        best
          ? `\nhighest ${kind} rate held (< 0.5 % failures, >= 95 % of target): ${best.target} calls/s (achieved ${best.achieved.toFixed(0)}/s, ${best.failurePct.toFixed(2)} % failed, edge cpu ${best.edgeCpuPct?.toFixed(0) ?? '?'} %)`
          : `\nno ${kind} step was held`,
      );
    }
    if (opts.anchor) report.figure('bridgedCost', printBridgedCost(steps));
    console.log(`edge exit on SIGTERM: ${exit.exitCode ?? exit.signal}`);
    if (opts.json) {
      const rows = steps.map(({ result: _raw, ...step }) => step);
      writeFileSync(opts.json, JSON.stringify({ options: opts, nproc: availableParallelism(), results: rows }, null, 2));
      console.log(`results written to ${opts.json}`);
    }
    if (profDir) {
      const profiles = readdirSync(profDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(profDir, f))
        .sort((a, b) => statSync(b).size - statSync(a).size);
      if (profiles.length > 0) console.log(`\nCPU profile ${profiles[0]}\n${summariseProfileFile(profiles[0]!, 25)}`);
      else console.log(`\nno .cpuprofile was written in ${profDir}`);
    }
    await report.finish();
    return exit.exitCode === 0 ? 0 : 1;
  } catch (e) {
    console.error(`run-invite: ${(e as Error).message}`);
    if (edge) await edge.stop();
    report.figure('error', (e as Error).message);
    await report.finish().catch((f: Error) => console.error(`run-invite: the report could not be written: ${f.message}`));
    return 1;
  } finally {
    await pbx?.stop();
    await rtpengine?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Per rate and round: edge CPU per bridged call against per plain call of the same round (the target is < 1.5x), and
 * rtpengine's per bridged call; with several rounds, the medians per rate.
 */
function printBridgedCost(steps: Step[]): Array<Record<string, number | undefined>> {
  console.log('\nedge CPU per call, bridged (through rtpengine) against plain, same rate, same run:');
  const ms = (v: number | undefined): string => v?.toFixed(3) ?? '?';
  const rows: Array<Record<string, number | undefined>> = [];
  const byRate = new Map<number, { plain: number[]; bridged: number[]; ratio: number[]; rtpengine: number[] }>();
  for (const b of steps.filter((s) => s.kind === 'bridged')) {
    const p = steps.find((s) => s.kind === 'plain' && s.target === b.target && s.round === b.round);
    const ratio = p?.edgeCpuMsPerCall !== undefined && b.edgeCpuMsPerCall !== undefined ? b.edgeCpuMsPerCall / p.edgeCpuMsPerCall : undefined;
    const round = steps.some((s) => s.round > 1) ? ` (round ${b.round})` : '';
    console.log(
      `  ${String(b.target).padStart(5)} calls/s${round}: plain ${ms(p?.edgeCpuMsPerCall)} ms, bridged ${ms(b.edgeCpuMsPerCall)} ms = ${ratio?.toFixed(2) ?? '?'}x; rtpengine ${ms(b.rtpengineCpuMsPerCall)} ms per bridged call`,
    );
    rows.push({ rate: b.target, round: b.round, plainMs: p?.edgeCpuMsPerCall, bridgedMs: b.edgeCpuMsPerCall, ratio, rtpengineMs: b.rtpengineCpuMsPerCall });
    if (ratio === undefined) continue;
    const r = byRate.get(b.target) ?? { plain: [], bridged: [], ratio: [], rtpengine: [] };
    r.plain.push(p!.edgeCpuMsPerCall!);
    r.bridged.push(b.edgeCpuMsPerCall!);
    r.ratio.push(ratio);
    if (b.rtpengineCpuMsPerCall !== undefined) r.rtpengine.push(b.rtpengineCpuMsPerCall);
    byRate.set(b.target, r);
  }
  if (![...byRate.values()].some((r) => r.ratio.length > 1)) return rows;
  console.log('medians over the rounds:');
  for (const [rate, r] of byRate) {
    console.log(
      `  ${String(rate).padStart(5)} calls/s (${r.ratio.length} rounds): plain ${ms(median(r.plain))} ms, bridged ${ms(median(r.bridged))} ms, ratio ${median(r.ratio)!.toFixed(2)}x (${Math.min(...r.ratio).toFixed(2)}-${Math.max(...r.ratio).toFixed(2)}); rtpengine ${ms(median(r.rtpengine))} ms`,
    );
  }
  return rows;
}


process.exitCode = await main(process.argv.slice(2));
