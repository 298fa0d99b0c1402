// The ceiling of the REGISTER benchmark harness itself: the same SIPp client, scenario and pinning as run-register.ts
// (client on cpu1), against a SIPp UAS on cpu0 that answers 401 then 200 without any work
// (load-tests/sipp/uas-register-trivial.xml). What this holds is the most any server can show with this harness.
//   tsx load-tests/run-sipp-ceiling.ts [--rates 8000,10000,12000,14000,16000] [--seconds 8] [--report-dir DIR]
// (rates in calls/s; the report as load-tests/lib/report.ts writes it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { requireSipp, runSipp } from './lib/sipp.ts';
import { cpuSeconds } from './lib/proc-cpu.ts';
import { LoadReport, REPORT_OPTION } from './lib/report.ts';
import { startSippUas } from './lib/sipp-uas.ts';
import { writeUserFiles } from './lib/users.ts';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '8000,10000,12000,14000,16000' },
    seconds: { type: 'string', default: '8' },
    'client-cpus': { type: 'string', default: '1' },
    'server-cpus': { type: 'string', default: '0' },
    ...REPORT_OPTION,
  },
});
const rates = values.rates.split(',').map(Number);
const seconds = Number(values.seconds);
if (rates.some((r) => !(r > 0)) || !(seconds > 0)) {
  console.error('run-sipp-ceiling: --rates is a comma-separated list of calls/s > 0, --seconds a number > 0');
  process.exit(2);
}
requireSipp();

const work = mkdtempSync(join(tmpdir(), 'sipedge-ceiling-'));
const files = writeUserFiles({ count: 20_000, tenant: 'load', domain: 'load.sipedge.test', outDir: work });
const report = new LoadReport('sipp-ceiling', "the REGISTER harness's own ceiling (SIPp client against a SIPp UAS doing nothing)", values['report-dir']).describe('', {
  title: '',
  xLabel: 'offered registrations/s (SIPp calls/s)',
  rateUnit: 'registrations/s',
  cpuLabel: 'SIPp UAS CPU µs per registration',
  latencyLabel: 'ms, first REGISTER to its 200',
});
report.figure('options', { rates, seconds, clientCpus: values['client-cpus'], serverCpus: values['server-cpus'] });
const uas = await startSippUas({ scenario: 'load-tests/sipp/uas-register-trivial.xml', ip: '127.0.0.1', cpus: values['server-cpus'] });
try {
  console.log('calls/s   calls       ok   failed   got calls/s   got tx/s   client cpu%   server cpu%');
  for (const [i, rate] of rates.entries()) {
    report.progress(i + 1, rates.length, `${rate} calls/s`);
    const calls = Math.round(rate * seconds);
    const serverBefore = cpuSeconds(uas.pid);
    const r = await runSipp({
      scenario: 'load-tests/sipp/register-auth.xml', target: `${uas.ip}:${uas.port}`, inf: files.sippCsv, calls, rate,
      authUri: 'load.sipedge.test', maxConcurrent: Math.max(200, rate), recvTimeoutMs: 5000,
      timeoutMs: seconds * 3000 + 20_000, cpus: values['client-cpus'], extraArgs: ['-buff_size', String(4 * 1024 * 1024)], traceTo: report.sippTrace(`step${i + 1}-${rate}cps`),
    });
    const serverAfter = cpuSeconds(uas.pid);
    const got = r.successful / r.elapsedSeconds;
    const pct = (cpu: number | undefined) => (cpu === undefined ? '?' : ((100 * cpu) / r.elapsedSeconds).toFixed(0));
    const serverCpu = serverBefore === undefined || serverAfter === undefined ? undefined : serverAfter - serverBefore;
    console.log(
      [String(rate).padStart(7), String(calls).padStart(7), String(r.successful).padStart(8), String(r.failed).padStart(8),
        got.toFixed(0).padStart(13), (2 * got).toFixed(0).padStart(10), pct(r.cpuSeconds).padStart(13), pct(serverCpu).padStart(13)].join(''),
    );
    report.addStep({
      series: 'SIPp UAS',
      x: String(rate),
      offered: rate,
      achieved: got,
      failedPct: (100 * (calls - r.successful)) / calls,
      latencyMs: r.latencyMs,
      cpuUs: serverCpu === undefined || r.successful === 0 ? undefined : (1e6 * serverCpu) / r.successful,
      sipp: r.traced.map((f) => relative(report.dir, f)),
      row: { calls, ok: r.successful, failed: r.failed, gotCallsPerSecond: got, gotTxPerSecond: 2 * got, clientCpuPct: pct(r.cpuSeconds), serverCpuPct: pct(serverCpu) },
    });
  }
} finally {
  await uas.stop();
  await report.finish();
  rmSync(work, { recursive: true, force: true });
}
