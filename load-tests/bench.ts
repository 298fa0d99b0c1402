// `npm run bench`: runs every load-tests/micro/*.bench.ts in its own process, then quick load runs (REGISTER, hold
// music, calls through the proxy, bridged calls through rtpengine against plain ones, SIP over TLS against TCP, the Redis
// store against the embedded one).
// It prints figures and asserts nothing about speed; it fails only when a benchmark or the load run crashes.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadReport } from './lib/report.ts';

const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MICRO_DIR = join(REPO_ROOT, 'load-tests', 'micro');
const RUN_REGISTER = join(REPO_ROOT, 'load-tests', 'run-register.ts');
const RUN_MOH = join(REPO_ROOT, 'load-tests', 'run-moh.ts');
const RUN_INVITE = join(REPO_ROOT, 'load-tests', 'run-invite.ts');
const RUN_TLS = join(REPO_ROOT, 'load-tests', 'run-tls.ts');
const RUN_AGAINST = join(REPO_ROOT, 'load-tests', 'run-against.ts');
const RUN_FLOOD = join(REPO_ROOT, 'load-tests', 'run-flood.ts');
const RUN_REDIS = join(REPO_ROOT, 'load-tests', 'run-redis.ts');
const RUN_WS_CLIENTS = join(REPO_ROOT, 'load-tests', 'run-ws-clients.ts');

const USAGE = `usage: npm run bench -- [--micro] [--register] [--moh] [--invite] [--anchor] [--tls] [--flood] [--redis] [--ws-clients N] [--full] [run-register options...]

  --micro       only the micro benchmarks (load-tests/micro/*.bench.ts)
  --register    only the SIPp REGISTER load run (load-tests/run-register.ts)
  --moh         only the hold-music streaming run (load-tests/run-moh.ts: 1,000 streams once, 2,000 three times, 10 s each)
  --invite      only the SIPp call load run through the proxy (load-tests/run-invite.ts; see its --help)
  --anchor      only bridged calls (a browser's SDP, rewritten by a real rtpengine both ways) against plain calls, step
                by step in the same run: calls/s and edge CPU per call (run-invite.ts --anchor); alone, it takes
                run-invite.ts's options, e.g. --anchor --rates 400 --rounds 3 --cpu-prof
  --tls         only SIP over TLS against TCP, A/B interleaved: REGISTER rate on one kept connection each, and full
                TLS handshakes/s (load-tests/run-tls.ts; see its --help)
  --flood       only legitimate REGISTERs during a flood at 5 x the edge's measured capacity from 200 addresses:
                success share, p99, edge RSS before/during/60 s after (load-tests/run-flood.ts; alone, it takes its
                options, e.g. --flood --timeline)
  --redis       only REGISTERs on the Redis store against the embedded store: the same SIPp steps against an edge
                on each, interleaved, with the ratio, CPU and Redis commands per registration
                (load-tests/run-redis.ts; options after --redis go to it, e.g. --redis --nodes 3 --rounds 3)
  (none)        all of them
  --against kamailio
                the same SIPp REGISTER and call steps against Kamailio and the edge, interleaved, 3 rounds, with
                the medians and ratios (load-tests/run-against.ts; see its --help; Kamailio from
                \`bash scripts/install-deps.sh --bench\`); other options go to it, e.g. --quick, --only register
  --ws-clients N
                N registered SIP-over-WebSocket phones refreshing every 300 s: the curve of phones against edge RSS and
                event-loop lag, refresh p50/p99, phones dropped (load-tests/run-ws-clients.ts; see its --help); other
                options go to it, e.g. --rate 500 --refresh-seconds 60; --nodes M spreads them over M edges on one
                Redis sharing the port (default: one per 17 000 phones once one process cannot hold them all)
  --full        the full profiles (register: 20 000 users, 4k..24k tx/s, 10 s steps; invite; tls) instead of --quick
  Other options go to run-register.ts unchanged, e.g. --rates 4000,8000 --cpu-prof (see its --help).

Each part writes a report, reports/<UTC stamp>-<name>/ (SIPp's files, summary.json, index.html with charts, a PNG
per chart), and prints its path (README "Load tests and benchmarks").`;

/**
 * Runs a TypeScript file with tsx in a child process, its output going to ours (and, with `seen`, its stdout to that
 * too); resolves its exit code.
 */
async function runTs(file: string, args: string[], seen?: (text: string) => void): Promise<number> {
  return await new Promise((resolveCode) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: REPO_ROOT, stdio: ['inherit', seen ? 'pipe' : 'inherit', 'inherit'] });
    child.stdout?.on('data', (d: Buffer) => {
      process.stdout.write(d);
      seen?.(d.toString('utf8'));
    });
    child.once('error', (e) => {
      console.error(`bench: cannot start ${file}: ${e.message}`);
      resolveCode(1);
    });
    child.once('exit', (code, signal) => resolveCode(code ?? (signal ? 128 : 1)));
  });
}

async function runMicro(): Promise<string[]> {
  const files = existsSync(MICRO_DIR)
    ? readdirSync(MICRO_DIR)
        .filter((f) => f.endsWith('.bench.ts'))
        .sort()
    : [];
  console.log(`== micro benchmarks (${files.length} in ${relative(REPO_ROOT, MICRO_DIR)}/)`);
  // No steps to chart: the report keeps each benchmark's printed figures (summary.json and the page's figures).
  const report = new LoadReport('micro', 'micro benchmarks (load-tests/micro/*.bench.ts)');
  const crashed: string[] = [];
  for (const [i, f] of files.entries()) {
    console.log(`\n-- ${f}`);
    report.progress(i + 1, files.length, f);
    const started = Date.now();
    let output = '';
    const code = await runTs(join(MICRO_DIR, f), [], (text) => (output += text));
    const seconds = (Date.now() - started) / 1000;
    console.log(`-- ${f}: exit ${code} after ${seconds.toFixed(1)} s`);
    report.figure(f, { exit: code, seconds, output: output.split('\n').filter((l) => l.trim() !== '') });
    if (code !== 0) crashed.push(`${f} (exit ${code})`);
  }
  await report.finish();
  return crashed;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const against = argv.indexOf('--against');
  if (against >= 0) {
    if (argv[against + 1] !== 'kamailio') {
      console.error(`bench: --against takes "kamailio" (the one reference server configured in load-tests/kamailio/)\n${USAGE}`);
      return 2;
    }
    const rest = argv.filter((_, i) => i !== against && i !== against + 1);
    const code = await runTs(RUN_AGAINST, rest);
    return code === 0 ? 0 : 1;
  }
  const redis = argv.indexOf('--redis');
  if (redis >= 0) {
    const code = await runTs(RUN_REDIS, argv.filter((_, i) => i !== redis));
    return code === 0 ? 0 : 1;
  }
  const wsClients = argv.indexOf('--ws-clients');
  if (wsClients >= 0) {
    const n = argv[wsClients + 1];
    if (n === undefined || !/^[1-9]\d*$/.test(n)) {
      console.error(`bench: --ws-clients takes a number of phones, e.g. --ws-clients 20000\n${USAGE}`);
      return 2;
    }
    const rest = argv.filter((_, i) => i !== wsClients && i !== wsClients + 1);
    const code = await runTs(RUN_WS_CLIENTS, ['--clients', n, ...rest]);
    return code === 0 ? 0 : 1;
  }
  const onlyMicro = argv.includes('--micro');
  const onlyRegister = argv.includes('--register');
  const onlyInvite = argv.includes('--invite');
  const full = argv.includes('--full');
  const onlyMoh = argv.includes('--moh');
  const onlyTls = argv.includes('--tls');
  const onlyAnchor = argv.includes('--anchor');
  const onlyFlood = argv.includes('--flood');
  const forwarded = argv.filter((a) => !['--micro', '--register', '--invite', '--moh', '--tls', '--anchor', '--flood', '--full'].includes(a));
  const none = !onlyMicro && !onlyRegister && !onlyInvite && !onlyMoh && !onlyTls && !onlyAnchor && !onlyFlood;
  const doMicro = onlyMicro || none;
  const doRegister = onlyRegister || none;
  const doInvite = onlyInvite || none;
  const doMoh = onlyMoh || none;
  const doTls = onlyTls || none;
  const doAnchor = onlyAnchor || none;
  const doFlood = onlyFlood || none;
  // --anchor alone takes run-invite.ts's options (e.g. --rates 400 --cpu-prof), --flood alone run-flood.ts's (e.g.
  // --timeline); otherwise they are the register run's.
  const anchorAlone = onlyAnchor && !onlyMicro && !onlyRegister && !onlyInvite && !onlyMoh && !onlyTls && !onlyFlood;
  const floodAlone = onlyFlood && !onlyMicro && !onlyRegister && !onlyInvite && !onlyMoh && !onlyTls && !onlyAnchor;
  if (forwarded.length > 0 && !doRegister && !anchorAlone && !floodAlone) {
    console.error(`bench: ${forwarded.join(' ')} only apply to the register run (or to --anchor or --flood alone), which the other options leave out\n${USAGE}`);
    return 2;
  }

  const failures: string[] = [];
  if (doMicro) failures.push(...(await runMicro()));
  if (doRegister) {
    console.log(`\n== REGISTER load run (${full ? 'full' : 'quick'} profile)`);
    const code = await runTs(RUN_REGISTER, [...(full ? [] : ['--quick']), ...forwarded]);
    if (code !== 0) failures.push(`run-register.ts (exit ${code})`);
  }
  if (doMoh) {
    console.log('\n== hold-music streaming run');
    const code = await runTs(RUN_MOH, ['--streams', '1000,2000,2000,2000', '--seconds', '10']);
    if (code !== 0) failures.push(`run-moh.ts (exit ${code})`);
  }
  if (doInvite) {
    console.log(`\n== call load run through the proxy (${full ? 'full' : 'quick'} profile)`);
    const code = await runTs(RUN_INVITE, full ? [] : ['--quick']);
    if (code !== 0) failures.push(`run-invite.ts (exit ${code})`);
  }
  if (doAnchor) {
    console.log(`\n== bridged calls through rtpengine against plain calls (${full ? 'full' : 'quick'} profile)`);
    const profile = full ? ['--anchor', '--rates', '100,200,400,800'] : ['--quick', '--anchor'];
    const code = await runTs(RUN_INVITE, [...profile, ...(anchorAlone ? forwarded : [])]);
    if (code !== 0) failures.push(`run-invite.ts --anchor (exit ${code})`);
  }
  if (doTls) {
    console.log(`\n== SIP over TLS against TCP (${full ? 'full' : 'quick'} profile)`);
    const code = await runTs(RUN_TLS, full ? [] : ['--quick']);
    if (code !== 0) failures.push(`run-tls.ts (exit ${code})`);
  }
  if (doFlood) {
    console.log('\n== legitimate REGISTERs during a flood');
    const code = await runTs(RUN_FLOOD, floodAlone ? forwarded : []);
    if (code !== 0) failures.push(`run-flood.ts (exit ${code})`);
  }
  if (none) {
    console.log('\n== REGISTER on the Redis store against the embedded store');
    const code = await runTs(RUN_REDIS, []);
    if (code !== 0) failures.push(`run-redis.ts (exit ${code})`);
  }
  if (failures.length > 0) {
    console.error(`\nbench: ${failures.length} part(s) failed to run: ${failures.join(', ')}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
