// A SIPp UAS in the background (the upstream PBX of proxy tests and load runs): free port on a loopback address,
// -aa so the edge's OPTIONS probes get 200, per-message counts from -trace_counts, SIGTERM/SIGKILL to stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { freeUdpPortOn, requireSipp } from './sipp.ts';
import { REPO_ROOT } from './edge-process.ts';

export interface SippUasOptions {
  /** Scenario XML, absolute or relative to the repo root; default load-tests/sipp/uas-upstream.xml. */
  scenario?: string;
  /** Loopback address to bind, e.g. 127.0.0.2. */
  ip: string;
  /** taskset CPU list. */
  cpus?: string;
  extraArgs?: string[];
}

export interface SippUas {
  ip: string;
  port: number;
  /** sip:ip:port, the upstream uri for the edge's config. */
  uri: string;
  pid: number;
  /** The message counts of the last -trace_counts line (written every second), e.g. counts()['0_INVITE_Recv']. */
  counts(): Record<string, number>;
  /** Stops SIPp (a dead PBX: nothing answers any more) and removes its work dir. Idempotent. */
  stop(): Promise<void>;
}

export async function startSippUas(opts: SippUasOptions): Promise<SippUas> {
  const sipp = requireSipp();
  const port = await freeUdpPortOn(opts.ip);
  const work = mkdtempSync(join(tmpdir(), 'sipedge-uas-'));
  const scenario = opts.scenario ?? 'load-tests/sipp/uas-upstream.xml';
  const args = [
    '-sf', isAbsolute(scenario) ? scenario : join(REPO_ROOT, scenario),
    '-i', opts.ip, '-p', String(port), '-t', 'u1',
    '-aa', '-nostdin', '-nd',
    '-trace_counts', '-fd', '1',
    '-buff_size', String(4 * 1024 * 1024),
    ...(opts.extraArgs ?? []),
  ];
  const [file, argv] = opts.cpus !== undefined ? ['taskset', ['-c', opts.cpus, sipp, ...args]] : [sipp, args];
  const child: ChildProcess = spawn(file, argv, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('latin1')).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  // SIPp is ready once its counts file exists (it writes the header at start).
  const deadline = Date.now() + 5000;
  while (!readdirSync(work).some((f) => f.endsWith('_counts.csv'))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      killOnExit();
      throw new Error(`sipp UAS did not start on ${opts.ip}:${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<void> | undefined;
  return {
    ip: opts.ip,
    port,
    uri: `sip:${opts.ip}:${port}`,
    pid: child.pid ?? -1,
    counts() {
      const f = readdirSync(work).find((x) => x.endsWith('_counts.csv'));
      if (f === undefined || !existsSync(join(work, f))) return {};
      const lines = readFileSync(join(work, f), 'latin1').split('\n').filter((l) => l.trim() !== '');
      const header = lines[0]!.split(';');
      const last = lines[lines.length - 1]!.split(';');
      const out: Record<string, number> = {};
      header.forEach((h, i) => {
        if (h) out[h] = Number(last[i]) || 0;
      });
      return out;
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(t);
        }
        process.removeListener('exit', killOnExit);
        rmSync(work, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
