// runSipp: one real `sipp` run (UAC, loopback) bounded by a timeout, with its final call counts from -trace_stat; the
// one home of running SIPp, for the load runners and the e2e tests alike (test/ imports load-tests/lib/, never back).
// Scenarios and injection files are fixtures (load-tests/sipp/, load-tests/lib/users.ts); the edge is started elsewhere.
import { spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { CpuSampler } from './proc-cpu.ts';
import { latencySummary, type Latency } from './report.ts';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Kept of stdout/stderr/error log, in characters (SIPp repaints its screen to a non-tty stdout). */
const KEEP_CHARS = 64 * 1024;

export interface SippOptions {
  /** Scenario XML: absolute, or relative to the repo root (e.g. 'load-tests/sipp/register-auth.xml'). */
  scenario: string;
  /** 'host:port' of the edge. */
  target: string;
  /** Injection CSV (-inf). */
  inf?: string;
  /** Calls to place (-m). */
  calls: number;
  /** New calls per second (-r); default 10. */
  rate?: number;
  /** u1: one UDP socket; t1: one TCP connection. Default u1. */
  transport?: 'u1' | 't1';
  /** Hard bound on the run; on expiry SIPp is killed and the run counts as failed. */
  timeoutMs: number;
  /** -auth_uri: the digest uri SIPp signs (without "sip:"); SIPp 3.6.1 otherwise signs sip:<target>. */
  authUri?: string;
  /** -l: most calls in flight at once; default SIPp's (3 x rate x call length). */
  maxConcurrent?: number;
  /** -recv_timeout in ms: a call waiting longer for a response fails; default 5000. */
  recvTimeoutMs?: number;
  /** Run under `taskset -c <cpus>` (e.g. '1'). */
  cpus?: string;
  /** Local address SIPp binds and advertises; default 127.0.0.1. */
  localIp?: string;
  /** Local port (-p); default 0 (any). A phone that registered from a port can call from it again. */
  localPort?: number;
  /**
   * Keep SIPp's raw files for a report: its -trace_stat CSV and, for scenarios that time a response (rtd), its
   * -trace_rtt CSV are copied to <traceTo>-stat.csv and <traceTo>-rtt.csv (see load-tests/lib/report.ts sippTrace).
   */
  traceTo?: string;
  /** Files written into SIPp's working directory before it starts (media a scenario names by a relative path). */
  files?: Record<string, Buffer>;
  extraArgs?: string[];
}

export interface SippResult {
  /** SIPp's exit code (0 = every call succeeded, 1 = some failed, 255 = fatal); null when killed. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Calls that reached the end of the scenario. */
  successful: number;
  failed: number;
  /** Calls SIPp started. */
  created: number;
  /** UDP retransmissions SIPp sent. */
  retransmissions: number;
  /** Seconds from SIPp's start to its last statistics line. */
  elapsedSeconds: number;
  /** Mean of response time 1 in ms (first REGISTER sent to final response), when the scenario measures it. */
  meanResponseMs: number | undefined;
  /** Percentiles of SIPp's response times (rtd 1) from its -trace_rtt file; only with traceTo. */
  latencyMs: Latency | undefined;
  /** The files traceTo kept (absolute paths). */
  traced: string[];
  /** CPU seconds SIPp used (sampled from /proc every 200 ms, so up to 0.2 s low); undefined off Linux. */
  cpuSeconds: number | undefined;
  /** Wall-clock seconds from spawn to exit. */
  wallSeconds: number;
  /** The command line, for reports. */
  command: string[];
  stdout: string;
  stderr: string;
  /** Tail of SIPp's -trace_err log: why calls failed. */
  errors: string;
  /** Every event in SIPp's error log, by kind (call ids and numbers blanked), with counts. */
  errorKinds: Map<string, number>;
}

let sippPath: string | undefined;

/** The sipp binary on PATH; throws (never skips) when it is missing. */
export function requireSipp(): string {
  if (sippPath) return sippPath;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'sipp');
    try {
      accessSync(candidate, constants.X_OK);
      sippPath = candidate;
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    'sipp is not installed or not on PATH: SIPp tests and load runs need SIPp 3.6 (Debian: apt-get install -y sip-tester)',
  );
}

/** The sipp argument list for opts, with SIPp's own files written into workDir. */
export function sippArgs(opts: SippOptions, workDir: string): string[] {
  const scenario = isAbsolute(opts.scenario) ? opts.scenario : join(REPO_ROOT, opts.scenario);
  if (!existsSync(scenario)) throw new Error(`runSipp: scenario ${scenario} does not exist`);
  if (opts.inf && !existsSync(opts.inf)) throw new Error(`runSipp: injection file ${opts.inf} does not exist`);
  if (!Number.isInteger(opts.calls) || opts.calls < 1) throw new Error(`runSipp: calls ${opts.calls} must be a positive integer`);
  // SIPp's own global timeout ends the run cleanly (stats written) before our hard kill.
  const sippTimeoutS = Math.max(1, Math.floor((opts.timeoutMs - 3000) / 1000));
  const args = [
    opts.target,
    '-sf', scenario,
    '-m', String(opts.calls),
    '-r', String(opts.rate ?? 10),
    '-rp', '1000',
    '-t', opts.transport ?? 'u1',
    '-i', opts.localIp ?? '127.0.0.1',
    '-p', String(opts.localPort ?? 0),
    '-nostdin',
    // No default BYE/CANCEL on an unexpected message or a timeout: REGISTER calls just fail.
    '-nd',
    '-recv_timeout', String(opts.recvTimeoutMs ?? 5000),
    '-timeout', `${sippTimeoutS}s`,
    '-timeout_error',
    '-trace_stat', '-stf', join(workDir, 'stat.csv'), '-fd', '1',
    '-trace_err', '-error_file', join(workDir, 'errors.log'),
  ];
  if (opts.inf) args.push('-inf', opts.inf);
  if (opts.authUri) args.push('-auth_uri', opts.authUri);
  if (opts.maxConcurrent !== undefined) args.push('-l', String(opts.maxConcurrent));
  // SIPp writes response times in batches of -rtt_freq and drops the last partial batch at exit: batches of at most
  // 1/200 of the calls keep what is lost under 0.5 % (percentiles unchanged), and the file writes rare at high rates.
  if (opts.traceTo) args.push('-trace_rtt', '-rtt_freq', String(Math.min(100, Math.max(1, Math.floor(opts.calls / 200)))));
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/** Runs SIPp to completion (or to opts.timeoutMs) and returns its verdict and call counts. */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const sipp = requireSipp();
  const workDir = mkdtempSync(join(tmpdir(), 'sipedge-sipp-'));
  try {
    // SIPp reads a scenario's play_pcap_audio file when it loads the scenario, relative to its working directory.
    for (const [name, bytes] of Object.entries(opts.files ?? {})) writeFileSync(join(workDir, name), bytes);
    const args = sippArgs(opts, workDir);
    const [file, argv] = opts.cpus !== undefined ? ['taskset', ['-c', opts.cpus, sipp, ...args]] : [sipp, args];
    const command = [file, ...argv];
    const out = { stdout: '', stderr: '' };
    let timedOut = false;
    let cpu: number | undefined;
    const started = performance.now();

    const { exitCode, signal } = await new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>(
      (resolvePromise, reject) => {
        const child = spawn(file, argv, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
        // taskset execs sipp, so this pid is SIPp's either way.
        const sampler = child.pid === undefined ? undefined : new CpuSampler(child.pid);
        const keep = (key: 'stdout' | 'stderr') => (chunk: Buffer) => {
          out[key] = (out[key] + chunk.toString('latin1')).slice(-KEEP_CHARS);
        };
        child.stdout.on('data', keep('stdout'));
        child.stderr.on('data', keep('stderr'));
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 2000).unref();
        }, opts.timeoutMs);
        child.once('error', (e) => {
          clearTimeout(timer);
          sampler?.stop();
          reject(new Error(`runSipp: cannot start ${file}: ${e.message}`));
        });
        child.once('exit', () => {
          cpu = sampler?.stop();
        });
        child.once('close', (code, sig) => {
          clearTimeout(timer);
          resolvePromise({ exitCode: code, signal: sig });
        });
      },
    );

    const stats = readFinalStats(join(workDir, 'stat.csv')) ?? statsFromScreen(out.stdout);
    const { latencyMs, traced } = opts.traceTo ? keepTraces(workDir, opts.traceTo) : { latencyMs: undefined, traced: [] };
    const errorsPath = join(workDir, 'errors.log');
    const errorLog = existsSync(errorsPath) ? readFileSync(errorsPath, 'latin1') : '';
    const wallSeconds = (performance.now() - started) / 1000;
    return {
      exitCode,
      signal,
      timedOut,
      ...stats,
      latencyMs,
      traced,
      cpuSeconds: cpu,
      wallSeconds,
      command,
      stdout: out.stdout,
      stderr: out.stderr,
      errors: errorLog.slice(-KEEP_CHARS),
      errorKinds: classifySippErrors(errorLog),
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Copies stat.csv and SIPp's <scenario>_<pid>_rtt.csv out of workDir, and summarises the response times (rtd 1). */
function keepTraces(workDir: string, prefix: string): { latencyMs: Latency | undefined; traced: string[] } {
  const traced: string[] = [];
  const stat = join(workDir, 'stat.csv');
  if (existsSync(stat)) {
    copyFileSync(stat, `${prefix}-stat.csv`);
    traced.push(`${prefix}-stat.csv`);
  }
  const rtt = readdirSync(workDir).find((f) => f.endsWith('_rtt.csv'));
  if (rtt === undefined) return { latencyMs: undefined, traced };
  copyFileSync(join(workDir, rtt), `${prefix}-rtt.csv`);
  traced.push(`${prefix}-rtt.csv`);
  return { latencyMs: rttLatency([`${prefix}-rtt.csv`]), traced };
}

/** Percentiles of the response times (rtd 1) in SIPp -trace_rtt files together (several SIPp serving one step). */
export function rttLatency(files: string[]): Latency | undefined {
  // "Date_ms;response_time_ms;rtd_no" then one line per timed call.
  const times: number[] = [];
  for (const file of files) {
    for (const line of readFileSync(file, 'latin1').split('\n').slice(1)) {
      const [, ms, rtd] = line.split(';');
      if (rtd?.trim() === '1' && ms !== undefined && ms !== '') times.push(Number(ms));
    }
  }
  return latencySummary(times);
}

/** SIPp error-log entries start with "<date>\t<time>\t<epoch>: ". */
const ENTRY = /\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: /;

/**
 * Counts error-log events by kind: the text before any quoted message plus that message's first line, with call ids
 * and numbers blanked ("Dead call <call> (successful), received 'SIP/2.0 200 OK").
 */
export function classifySippErrors(log: string): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const entry of log.split(ENTRY).slice(1)) {
    const quote = entry.indexOf("'");
    const head = quote < 0 ? entry.split('\n')[0]! : entry.slice(0, quote + 1) + entry.slice(quote + 1).split('\n')[0]!;
    const kind = head
      .replace(/[\w.-]+@[\w.:-]+/g, '<call>')
      .replace(/\d+/g, 'N')
      .trim();
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

/** The error kinds as "count x kind" lines, most frequent first. */
export function formatErrorKinds(kinds: Map<string, number>, max = 5): string {
  return [...kinds.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([kind, n]) => `${String(n).padStart(7)} x ${kind.slice(0, 160)}`)
    .join('\n');
}

/** A one-paragraph account of a run, for assertion messages and load reports. */
export function describeSipp(r: SippResult): string {
  const verdict = r.timedOut ? 'killed after the timeout' : `exit ${r.exitCode ?? r.signal}`;
  const tail = (s: string, n: number) => s.trim().split('\n').slice(-n).join('\n');
  return [
    `sipp ${verdict}: ${r.successful} successful, ${r.failed} failed of ${r.created} created`,
    `command: ${r.command.join(' ')}`,
    r.errorKinds.size > 0 ? `error log events by kind:\n${formatErrorKinds(r.errorKinds)}` : '',
    r.errors ? `error log (tail):\n${tail(r.errors, 15)}` : '',
    r.stderr ? `stderr (tail):\n${tail(r.stderr, 10)}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

type SippStats = Pick<SippResult, 'successful' | 'failed' | 'created' | 'retransmissions' | 'elapsedSeconds' | 'meanResponseMs'>;

/** The last line of a -trace_stat CSV (';'-separated, cumulative "(C)" columns). */
function readFinalStats(path: string): SippStats | undefined {
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'latin1').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return undefined;
  const header = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  const col = (name: string): string | undefined => {
    const i = header.indexOf(name);
    return i < 0 ? undefined : last[i];
  };
  const num = (name: string): number => Number(col(name) ?? 0) || 0;
  // Time columns look like "2026-11-23\t07:06:55.191150\t1795417615.191150": the last field is epoch seconds.
  const epoch = (name: string): number => Number((col(name) ?? '').split('\t').pop()) || 0;
  const rt = col('ResponseTime1(C)');
  return {
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    created: num('TotalCallCreated'),
    retransmissions: num('Retransmissions(C)'),
    elapsedSeconds: Math.max(0, epoch('CurrentTime') - epoch('StartTime')),
    meanResponseMs: rt === undefined ? undefined : durationMs(rt),
  };
}

/** "HH:MM:SS:uuuuuu" -> milliseconds. */
function durationMs(text: string): number | undefined {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}

/** Fallback when no stat file was written (SIPp killed early): the last statistics screen on stdout. */
function statsFromScreen(stdout: string): SippStats {
  const last = (label: string): number => {
    const re = new RegExp(`^\\s*${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`, 'gm');
    let value = 0;
    for (const m of stdout.matchAll(re)) value = Number(m[1]);
    return value;
  };
  return {
    successful: last('Successful call'),
    failed: last('Failed call'),
    created: last('Outgoing calls created'),
    retransmissions: 0,
    elapsedSeconds: 0,
    meanResponseMs: undefined,
  };
}

/** A free UDP port on a loopback address, for SIPp phones that must call from the port they registered from (lib/ports.ts). */
export async function freeUdpPortOn(ip: string): Promise<number> {
  return await freePort(ip, ['udp']);
}
