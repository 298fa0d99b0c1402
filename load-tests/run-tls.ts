// SIP over TLS against SIP over TCP on one edge, A/B interleaved: SIPp REGISTER load on one kept connection per
// transport, at the same rates, alternating TCP and TLS steps so that a noisy neighbour hits both alike; then full TLS
// handshakes per second. Prints medians. Debian's SIPp is built without TLS, so SIPp speaks TCP to a socat on its own
// core that carries it to the edge over TLS; the TCP runs go through a socat too (plain TCP relay), so that both
// sides have the same harness and differ only in TLS (SIPp straight into the edge writes differently: see README).
// Unit: REGISTER transactions/s (tx/s), 2 per SIPp call, as in run-register.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { describeSipp, requireSipp, runSipp } from './lib/sipp.ts';
import { canConnect, freeTcpPort, REPO_ROOT, startEdge, type RunningEdge } from './lib/edge-process.ts';
import { coreBusyPct, cpuSeconds, readCoreTimes } from './lib/proc-cpu.ts';
import { LoadReport, REPORT_OPTION, reportUsage, type Latency } from './lib/report.ts';
import { writeUserFiles } from './lib/users.ts';

const USAGE = `usage: tsx load-tests/run-tls.ts [options]

  --users N            users provisioned (default 2000)
  --rates LIST         REGISTER tx/s per step, comma-separated (default 4000,8000,12000)
  --step-seconds S     traffic per step (default 6)
  --rounds N           TCP/TLS pairs per rate (default 3); the figures are medians over them
  --handshake-seconds S  full-handshake load (default 5; 0 = none), --handshake-concurrency N (default 32)
  --edge-cpus LIST     taskset CPU list for the edge (default 0); SIPp, the socats and the handshake client get --sipp-cpus (default 1)
  --quick              rates 4000,8000, 2 rounds, 4 s steps, 4 s of handshakes (npm run bench's default)
${reportUsage(23)}
  -h, --help

Per step: achieved tx/s (successful calls x 2 / SIPp's elapsed time) and the edge's CPU per transaction (user +
system). "TLS/TCP" is TLS's achieved rate over TCP's at the same target, and "capacity" TCP's CPU per transaction
over TLS's: the share of TCP's REGISTER rate the edge can carry over TLS on the same core.`;

const TENANT = { code: 'load', domain: 'localhost' };

interface Step {
  transport: 'tcp' | 'tls';
  targetTx: number;
  achievedTx: number;
  calls: number;
  failed: number;
  usPerTx: number | undefined;
  latencyMs: Latency | undefined;
  sipp: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}


/** socat: plain TCP on `port` in, one connection per accepted one out to the edge: `to` is socat's address. */
async function startBridge(port: number, to: string, cpus: string): Promise<ChildProcess> {
  const args = [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, to];
  const child = cpus === '' ? spawn('socat', args) : spawn('taskset', ['-c', cpus, 'socat', ...args]);
  child.once('error', (e) => console.error(`run-tls: socat: ${e.message} (Debian: apt-get install -y socat)`));
  for (let i = 0; i < 100 && !(await canConnect(port)); i++) await new Promise((r) => setTimeout(r, 50));
  return child;
}

async function handshakes(edge: RunningEdge, ca: string, seconds: number, concurrency: number, cpus: string): Promise<{ rate: number; failed: number; usPer: number | undefined }> {
  const client = join(REPO_ROOT, 'load-tests', 'lib', 'tls-handshakes.ts');
  const argv = [process.execPath, '--import', 'tsx', client, String(edge.tlsPort), String(seconds), String(concurrency), ca];
  const before = cpuSeconds(edge.pid);
  const out = await new Promise<string>((resolve, reject) => {
    const child = cpus === '' ? spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT }) : spawn('taskset', ['-c', cpus, ...argv], { cwd: REPO_ROOT });
    let text = '';
    child.stdout.on('data', (d) => (text += String(d)));
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.once('error', reject);
    child.once('close', () => resolve(text));
  });
  const after = cpuSeconds(edge.pid);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { handshakes: number; failed: number; seconds: number };
  return {
    rate: r.handshakes / r.seconds,
    failed: r.failed,
    usPer: before === undefined || after === undefined || r.handshakes === 0 ? undefined : ((after - before) * 1e6) / r.handshakes,
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '2000' },
      rates: { type: 'string' },
      'step-seconds': { type: 'string' },
      rounds: { type: 'string' },
      'handshake-seconds': { type: 'string' },
      'handshake-concurrency': { type: 'string', default: '32' },
      'edge-cpus': { type: 'string', default: '0' },
      'sipp-cpus': { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      ...REPORT_OPTION,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const quick = values.quick;
  const rates = (values.rates ?? (quick ? '4000,8000' : '4000,8000,12000')).split(',').map(Number);
  const stepSeconds = Number(values['step-seconds'] ?? (quick ? 4 : 6));
  const rounds = Number(values.rounds ?? (quick ? 2 : 3));
  const hsSeconds = Number(values['handshake-seconds'] ?? (quick ? 4 : 5));
  const users = Number(values.users);
  if (rates.some((r) => !Number.isInteger(r) || r < 2 || r % 2 !== 0) || !(stepSeconds >= 1) || !(rounds >= 1) || !(users >= 1)) {
    console.error(`run-tls: bad options\n\n${USAGE}`);
    return 2;
  }
  requireSipp();
  const edgeCpus = values['edge-cpus'];
  const sippCpus = values['sipp-cpus'];
  const work = mkdtempSync(join(tmpdir(), 'sipedge-tls-load-'));
  let edge: RunningEdge | undefined;
  const bridges: ChildProcess[] = [];
  const report = new LoadReport('tls', 'sipedge SIP over TLS against TCP (medians of the rounds)', values['report-dir']).describe('', {
    title: '',
    xLabel: 'offered REGISTER transactions/s on one kept connection',
    rateUnit: 'REGISTER tx/s',
    cpuLabel: 'edge CPU µs per REGISTER transaction',
    latencyLabel: 'ms, first REGISTER to its 200',
  });
  report.figure('options', { users, rates, stepSeconds, rounds, hsSeconds, handshakeConcurrency: values['handshake-concurrency'], edgeCpus, sippCpus });
  try {
    const idle = readCoreTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = coreBusyPct(idle, readCoreTimes(), [...Array(availableParallelism()).keys()]);
    console.log(
      [
        'sipedge SIP over TLS vs TCP (A/B interleaved)',
        `  nproc ${availableParallelism()}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, cores ${busy?.toFixed(0) ?? '?'} % busy before the run`,
        `  edge on cpu ${edgeCpus || '(any)'}; SIPp, the socat relays (TCP and TLS) and the handshake client on cpu ${sippCpus || '(any)'}`,
        `  ${users} users, rates ${rates.join(',')} tx/s, ${stepSeconds} s per step, ${rounds} round(s) per rate`,
      ].join('\n'),
    );
    const files = writeUserFiles({ count: users, tenant: TENANT.code, domain: TENANT.domain, outDir: work });
    edge = await startEdge({ floodGuard: false, tenants: [TENANT], importCsv: files.importCsv, tls: true, tcp: true, cpus: edgeCpus || undefined, startTimeoutMs: 60_000 });
    const ca = join(edge.dataDir, 'tls', 'self-signed-cert.pem');
    const tlsPort = await freeTcpPort();
    const tcpPort = await freeTcpPort();
    // The TLS client checks the edge's certificate (its own CA) and name, as a phone should.
    bridges.push(await startBridge(tlsPort, `OPENSSL:localhost:${edge.tlsPort},cafile=${ca},verify=1,nodelay`, sippCpus));
    bridges.push(await startBridge(tcpPort, `TCP:${edge.sipTarget},nodelay`, sippCpus));
    const target = { tcp: `127.0.0.1:${tcpPort}`, tls: `127.0.0.1:${tlsPort}` };

    const place = async (transport: 'tcp' | 'tls', targetTx: number, seconds: number, traceTo?: string): Promise<Step> => {
      const rate = targetTx / 2;
      const calls = Math.max(1, Math.round(rate * seconds));
      const before = cpuSeconds(edge!.pid);
      const r = await runSipp({
        scenario: 'load-tests/sipp/register-auth.xml',
        target: target[transport],
        inf: files.sippCsv,
        calls,
        rate,
        transport: 't1',
        authUri: TENANT.domain,
        maxConcurrent: Math.max(200, rate),
        timeoutMs: Math.ceil(seconds * 3 * 1000) + 20_000,
        cpus: sippCpus || undefined,
        traceTo,
      });
      const after = cpuSeconds(edge!.pid);
      if (r.successful === 0) throw new Error(`no ${transport} registration succeeded:\n${describeSipp(r)}\nedge output:\n${edge!.output()}`);
      const achievedTx = r.elapsedSeconds > 0 ? (2 * r.successful) / r.elapsedSeconds : 0;
      const usPerTx = before === undefined || after === undefined ? undefined : ((after - before) * 1e6) / (2 * r.successful);
      return { transport, targetTx, achievedTx, calls, failed: calls - r.successful, usPerTx, latencyMs: r.latencyMs, sipp: r.traced.map((f) => relative(report.dir, f)) };
    };

    console.log('\nwarm-up: 3 s each over TCP and TLS (not counted)');
    await place('tcp', rates[0]!, 3);
    await place('tls', rates[0]!, 3);
    console.log(`\n${'target tx/s'.padStart(11)}  ${'round'.padStart(5)}  ${'transport'.padStart(9)}  ${'got tx/s'.padStart(8)}  ${'failed'.padStart(6)}  ${'edge us/tx'.padStart(10)}`);
    const steps: Step[] = [];
    for (const targetTx of rates) {
      for (let round = 1; round <= rounds; round++) {
        // Alternate which goes first, so a slow phase of the machine does not always hit the same transport.
        const order: ('tcp' | 'tls')[] = round % 2 === 1 ? ['tcp', 'tls'] : ['tls', 'tcp'];
        for (const t of order) {
          await new Promise((r) => setTimeout(r, 1000));
          report.progress(steps.length + 1, rates.length * rounds * 2, `${targetTx} tx/s over ${t}, round ${round}`);
          const s = await place(t, targetTx, stepSeconds, report.sippTrace(`step${steps.length + 1}-${targetTx}tx-${t}`));
          steps.push(s);
          console.log(
            `${String(targetTx).padStart(11)}  ${String(round).padStart(5)}  ${t.padStart(9)}  ${s.achievedTx.toFixed(0).padStart(8)}  ${String(s.failed).padStart(6)}  ${(s.usPerTx?.toFixed(1) ?? '-').padStart(10)}`,
          );
        }
      }
    }

    console.log('\nmedians per rate:');
    console.log(`${'target tx/s'.padStart(11)}  ${'TCP tx/s'.padStart(8)}  ${'TLS tx/s'.padStart(8)}  ${'TLS/TCP'.padStart(7)}  ${'TCP us/tx'.padStart(9)}  ${'TLS us/tx'.padStart(9)}  ${'capacity'.padStart(8)}`);
    for (const targetTx of rates) {
      const of = (t: 'tcp' | 'tls') => steps.filter((s) => s.targetTx === targetTx && s.transport === t);
      const tcpTx = median(of('tcp').map((s) => s.achievedTx));
      const tlsTx = median(of('tls').map((s) => s.achievedTx));
      const tcpUs = median(of('tcp').flatMap((s) => (s.usPerTx === undefined ? [] : [s.usPerTx])));
      const tlsUs = median(of('tls').flatMap((s) => (s.usPerTx === undefined ? [] : [s.usPerTx])));
      for (const t of ['tcp', 'tls'] as const) {
        const q = (k: keyof Latency) => median(of(t).flatMap((s) => (s.latencyMs?.[k] === undefined ? [] : [s.latencyMs[k]])));
        report.addStep({
          series: t,
          x: String(targetTx),
          offered: targetTx,
          achieved: t === 'tcp' ? tcpTx : tlsTx,
          failedPct: median(of(t).map((s) => (100 * s.failed) / s.calls)),
          latencyMs: of(t).some((s) => s.latencyMs) ? { samples: q('samples'), p50: q('p50'), p90: q('p90'), p99: q('p99'), max: q('max') } : undefined,
          cpuUs: t === 'tcp' ? tcpUs : tlsUs,
          sipp: of(t).flatMap((s) => s.sipp),
          row: { rounds: of(t).map(({ sipp: _files, ...r }) => r), tlsOverTcp: tlsTx / tcpTx, capacity: tcpUs / tlsUs },
        });
      }
      console.log(
        `${String(targetTx).padStart(11)}  ${tcpTx.toFixed(0).padStart(8)}  ${tlsTx.toFixed(0).padStart(8)}  ${(tlsTx / tcpTx).toFixed(2).padStart(7)}  ` +
          `${tcpUs.toFixed(1).padStart(9)}  ${tlsUs.toFixed(1).padStart(9)}  ${(tcpUs / tlsUs).toFixed(2).padStart(8)}`,
      );
    }

    if (hsSeconds > 0) {
      const hs = await handshakes(edge, ca, hsSeconds, Number(values['handshake-concurrency']), sippCpus);
      report.figure('fullHandshakes', { perSecond: hs.rate, failed: hs.failed, edgeUsPerHandshake: hs.usPer, seconds: hsSeconds });
      console.log(
        `\nfull TLS handshakes (ECDHE, ECDSA P-256 certificate, no resumption, ${values['handshake-concurrency']} in flight, ${hsSeconds} s): ` +
          `${hs.rate.toFixed(0)}/s, ${hs.failed} failed, edge ${hs.usPer?.toFixed(0) ?? '-'} us CPU per handshake`,
      );
    }
    await report.finish();
    return 0;
  } finally {
    for (const b of bridges) b.kill();
    await edge?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(`run-tls: ${(e as Error).message}`);
  return 1;
});
