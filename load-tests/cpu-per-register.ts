// CPU cost of the edge per REGISTER under real SIPp traffic at a fixed rate well below saturation: edge user and
// system CPU µs per REGISTER transaction, read from /proc/<pid>/stat around each run. Less sensitive to other load on
// the machine than the stepped run (run-register.ts), since it measures the edge's own CPU time, not what it held.
//   tsx load-tests/cpu-per-register.ts [--rate TX/S] [--seconds S] [--runs N] [--md5-only] [--node-args "..."]
//   [--report-dir DIR] (the report as load-tests/lib/report.ts writes it)
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { requireSipp, runSipp } from './lib/sipp.ts';
import { startEdge } from './lib/edge-process.ts';
import { LoadReport, REPORT_OPTION } from './lib/report.ts';
import { writeUserFiles } from './lib/users.ts';

const TENANT = { code: 'load', domain: 'load.sipedge.test' };
const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '4000' },
    seconds: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    users: { type: 'string', default: '20000' },
    'md5-only': { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
    'show-output': { type: 'boolean', default: false },
    ...REPORT_OPTION,
  },
});
const rateTx = Number(values.rate);
const seconds = Number(values.seconds);
const runs = Number(values.runs);
requireSipp();

/** utime and stime of a process in clock ticks (USER_HZ = 100 on Linux). */
function ticks(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
}

const report = new LoadReport('cpu-per-register', `edge CPU per REGISTER at ${rateTx} tx/s`, values['report-dir']).describe('', {
  title: '',
  xLabel: `run at ${rateTx} offered REGISTER tx/s`,
  rateUnit: 'REGISTER tx/s',
  cpuLabel: 'edge CPU µs per REGISTER transaction',
  latencyLabel: 'ms, first REGISTER to its 200',
});
report.figure('options', { ...values });
const work = mkdtempSync(join(tmpdir(), 'sipedge-cpr-'));
const files = writeUserFiles({ count: Number(values.users), tenant: TENANT.code, domain: TENANT.domain, outDir: work });
const edge = await startEdge({
  floodGuard: false,
  tenants: [TENANT],
  importCsv: files.importCsv,
  env: values['md5-only'] ? { SIPEDGE_AUTH__ALGORITHMS: '["MD5"]' } : {},
  logLevel: 'warn',
  tcp: true,
  cpus: '0',
  nodeArgs: values['node-args'] === '' ? [] : values['node-args'].split(' '),
  startTimeoutMs: 60_000,
});
try {
  const place = async (tx: number, secs: number, traceTo?: string) => {
    const rate = tx / 2;
    const calls = Math.round(rate * secs);
    const before = ticks(edge.pid);
    const r = await runSipp({
      scenario: 'load-tests/sipp/register-auth.xml', target: edge.sipTarget, inf: files.sippCsv, calls, rate,
      authUri: TENANT.domain, maxConcurrent: Math.max(200, rate), recvTimeoutMs: 5000, timeoutMs: secs * 3000 + 20_000,
      cpus: '1', extraArgs: ['-buff_size', String(4 * 1024 * 1024)], traceTo,
    });
    const after = ticks(edge.pid);
    return { r, calls, user: (after.user - before.user) / 100, sys: (after.sys - before.sys) / 100 };
  };
  await place(rateTx, 3); // warm-up
  const per: number[] = [];
  for (let i = 0; i < runs; i++) {
    report.progress(i + 1, runs, `${rateTx} tx/s`);
    const { r, calls, user, sys } = await place(rateTx, seconds, report.sippTrace(`run${i + 1}-${rateTx}tx`));
    const tx = 2 * r.successful;
    const us = (s: number) => ((s * 1e6) / tx).toFixed(1);
    per.push(((user + sys) * 1e6) / tx);
    console.log(
      `run ${i + 1}: ${calls} calls, ${r.successful} ok, ${r.failed} failed, retrans ${r.retransmissions}; edge CPU per REGISTER: ` +
        `user ${us(user)} us + sys ${us(sys)} us = ${us(user + sys)} us`,
    );
    const memory = edge.memoryBytes();
    report.addStep({
      series: 'sipedge',
      x: `run ${i + 1}`,
      offered: rateTx,
      achieved: r.elapsedSeconds > 0 ? tx / r.elapsedSeconds : undefined,
      failedPct: (100 * (calls - r.successful)) / calls,
      latencyMs: r.latencyMs,
      cpuUs: ((user + sys) * 1e6) / tx,
      memoryMb: memory === undefined ? undefined : memory / 2 ** 20,
      sipp: r.traced.map((f) => relative(report.dir, f)),
      row: { calls, ok: r.successful, failed: r.failed, retransmissions: r.retransmissions, userUsPerTx: (user * 1e6) / tx, sysUsPerTx: (sys * 1e6) / tx },
    });
  }
  per.sort((a, b) => a - b);
  console.log(`median ${per[Math.floor(per.length / 2)]!.toFixed(1)} us CPU per REGISTER at ${rateTx} tx/s`);
  report.figure('medianUsPerRegister', per[Math.floor(per.length / 2)]);
  if (values['show-output']) console.log(edge.output());
  await edge.stop();
  await report.finish();
} finally {
  await edge.stop();
  rmSync(work, { recursive: true, force: true });
}
