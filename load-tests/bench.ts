// `npm run bench`: runs every load-tests/micro/*.bench.ts in its own process, then quick load runs (REGISTER, hold
// music, calls through the proxy, bridged calls through rtpengine against plain ones, SIP over TLS against TCP).
// It prints figures and asserts nothing about speed; it fails only when a benchmark or the load run crashes.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MICRO_DIR = join(REPO_ROOT, 'load-tests', 'micro');
const RUN_REGISTER = join(REPO_ROOT, 'load-tests', 'run-register.ts');
const RUN_MOH = join(REPO_ROOT, 'load-tests', 'run-moh.ts');
const RUN_INVITE = join(REPO_ROOT, 'load-tests', 'run-invite.ts');
const RUN_TLS = join(REPO_ROOT, 'load-tests', 'run-tls.ts');
const RUN_AGAINST = join(REPO_ROOT, 'load-tests', 'run-against.ts');
const RUN_FLOOD = join(REPO_ROOT, 'load-tests', 'run-flood.ts');
const RUN_WS_CLIENTS = join(REPO_ROOT, 'load-tests', 'run-ws-clients.ts');

const USAGE = `usage: npm run bench -- [--micro] [--register] [--moh] [--invite] [--anchor] [--tls] [--flood] [--ws-clients N] [--full] [run-register options...]

  --micro       only the micro benchmarks (load-tests/micro/*.bench.ts)
  --register    only the SIPp REGISTER load run (load-tests/run-register.ts)
  --moh         only the hold-music streaming run (load-tests/run-moh.ts: 1,000 streams once, 2,000 three times, 10 s each)
  --invite      only the SIPp call load run through the proxy (load-tests/run-invite.ts; see its --help)
  --anchor      only bridged calls (a browser's SDP, rewritten by a real rtpengine both ways) against plain calls, step
                by step in the same run: calls/s and edge CPU per call (run-invite.ts --anchor)
  --tls         only SIP over TLS against TCP, A/B interleaved: REGISTER rate on one kept connection each, and full
                TLS handshakes/s (load-tests/run-tls.ts; see its --help)
  --flood       only legitimate REGISTERs during a flood at 5 x the edge's measured capacity from 200 addresses:
                success share, p99, edge RSS before/during/60 s after (load-tests/run-flood.ts; see its --help)
  (none)        all of them
  --against kamailio
                the same SIPp REGISTER and call steps against Kamailio and the edge, interleaved, 3 rounds, with
                the medians and ratios (load-tests/run-against.ts; see its --help; Kamailio from
                \`bash scripts/install-deps.sh --bench\`); other options go to it, e.g. --quick, --only register
  --ws-clients N
                N registered SIP-over-WebSocket phones refreshing every 300 s: the curve of phones against edge RSS and
                event-loop lag, refresh p50/p99, phones dropped (load-tests/run-ws-clients.ts; see its --help); other
                options go to it, e.g. --rate 500 --refresh-seconds 60
  --full        the full profiles (register: 20 000 users, 4k..24k tx/s, 10 s steps; invite; tls) instead of --quick
  Other options go to run-register.ts unchanged, e.g. --rates 4000,8000 --cpu-prof (see its --help).`;

/** Runs a TypeScript file with tsx in a child process, its output going straight to ours; resolves its exit code. */
async function runTs(file: string, args: string[]): Promise<number> {
  return await new Promise((resolveCode) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: REPO_ROOT, stdio: 'inherit' });
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
  const crashed: string[] = [];
  for (const f of files) {
    console.log(`\n-- ${f}`);
    const started = Date.now();
    const code = await runTs(join(MICRO_DIR, f), []);
    console.log(`-- ${f}: exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (code !== 0) crashed.push(`${f} (exit ${code})`);
  }
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
  if (forwarded.length > 0 && !doRegister) {
    console.error(`bench: ${forwarded.join(' ')} only apply to the register run, which the other options leave out\n${USAGE}`);
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
    const code = await runTs(RUN_INVITE, full ? ['--anchor', '--rates', '100,200,400,800'] : ['--quick', '--anchor']);
    if (code !== 0) failures.push(`run-invite.ts --anchor (exit ${code})`);
  }
  if (doTls) {
    console.log(`\n== SIP over TLS against TCP (${full ? 'full' : 'quick'} profile)`);
    const code = await runTs(RUN_TLS, full ? [] : ['--quick']);
    if (code !== 0) failures.push(`run-tls.ts (exit ${code})`);
  }
  if (doFlood) {
    console.log('\n== legitimate REGISTERs during a flood');
    const code = await runTs(RUN_FLOOD, []);
    if (code !== 0) failures.push(`run-flood.ts (exit ${code})`);
  }
  if (failures.length > 0) {
    console.error(`\nbench: ${failures.length} part(s) failed to run: ${failures.join(', ')}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
