// A real `sipedge` process for e2e tests and load runs: free loopback ports, provisioning through the CLI,
// `sipedge start` in the foreground (optionally pinned with taskset), readiness via /healthz, and SIGTERM to stop.
// The edge itself (config, stores, listeners) is src/'s; this file only drives its command line.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IO_SWITCHES } from '../../src/config/io-switches.ts';
import { freePort } from './ports.ts';
import { cpuSeconds, treeMemoryBytes } from './proc-cpu.ts';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(REPO_ROOT, 'bin', 'sipedge.js');
const HOST = '127.0.0.1';
/** Lines of edge output kept for error messages. */
const KEEP_LINES = 200;

export interface TenantSpec {
  code: string;
  /** SIP domain and digest realm. */
  domain: string;
}

export interface EdgeOptions {
  tenants: TenantSpec[];
  /** CSV for `sipedge import` (tenant,extension,voip_password[,email]). */
  importCsv?: string;
  /** Extra SIPEDGE_* variables, e.g. { SIPEDGE_AUTH__ALGORITHMS: '["MD5"]' }. */
  env?: Record<string, string>;
  /** Default 'warn'. */
  logLevel?: string;
  /** Listen on TCP as well as UDP (same port number); default true. */
  tcp?: boolean;
  /** Listen on WebSocket (a free port); default false. */
  ws?: boolean;
  /** With ws: listen on this port instead of a free one (several nodes sharing it with sip.reusePort). */
  wsPort?: number;
  /** Listen on SIP over TLS (a free port; self-signed certificate in the data dir); default false. */
  tls?: boolean;
  /** Run `start` under `taskset -c <cpus>`. */
  cpus?: string;
  /** A command that execs the rest, in front of it all, e.g. ['prlimit', '--nofile=120000'] (the pid stays node's). */
  wrapper?: string[];
  /** Node flags before bin/sipedge.js, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/p']. */
  nodeArgs?: string[];
  /** V8's young generation, MB (node --max-semi-space-size); default 64, as every launcher of the edge. */
  semiSpaceMb?: number;
  /** Use this data dir (kept); default: a fresh temp dir, removed by stop(). */
  dataDir?: string;
  /** How long `start` may take to answer /healthz; default 60 s (a safety net: a loaded 2-core machine took > 20 s). */
  startTimeoutMs?: number;
  /** How long each CLI provisioning command may take; default 120 s (an import of 20 000 users). */
  cliTimeoutMs?: number;
  /**
   * Keep the per-source flood guard on (config flood.enabled); default true. Load runs turn it off: one SIPp sending
   * thousands of requests/s from one address is the flood it exists to stop.
   */
  floodGuard?: boolean;
}

export interface EdgeExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** True when SIGTERM did not end it within the grace period and it was killed. */
  killed: boolean;
}

export interface RunningEdge {
  pid: number;
  dataDir: string;
  /** UDP and TCP listen on the same port number. */
  sipPort: number;
  httpPort: number;
  wsPort: number | undefined;
  tlsPort: number | undefined;
  /** '127.0.0.1:<sipPort>', the SIPp target for both u1 and t1. */
  sipTarget: string;
  httpBase: string;
  /** GET /metrics (Prometheus text). */
  metrics(): Promise<string>;
  /** CPU seconds the edge process has used so far (undefined once it has exited). */
  cpuSeconds(): number | undefined;
  /** Its memory in bytes (load-tests/lib/proc-cpu.ts treeMemoryBytes). */
  memoryBytes(): number | undefined;
  /** True until the process has exited. */
  isRunning(): boolean;
  /** The last lines the edge wrote to stdout/stderr. */
  output(): string;
  /** SIGTERM, wait for exit (grace 10 s, then SIGKILL), remove a temp data dir. Idempotent. */
  stop(): Promise<EdgeExit>;
}

/** A port number free for both TCP and UDP on 127.0.0.1 (the edge's SIP port); see lib/ports.ts. */
export async function freeSipPort(): Promise<number> {
  return await freePort(HOST, ['tcp', 'udp']);
}

/** A free TCP port on 127.0.0.1; see lib/ports.ts. */
export async function freeTcpPort(): Promise<number> {
  return await freePort(HOST, ['tcp']);
}

/** Inherited SIPEDGE_* variables that pass: they choose how the edge does its I/O (for A/B runs), not what it does. */
const PASSED = new Set<string>(Object.values(IO_SWITCHES));

/** The environment every sipedge child gets: ours minus any other inherited SIPEDGE_* (so runs are reproducible), plus these. */
function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SIPEDGE_') || PASSED.has(k)) env[k] = v;
  return { ...env, ...vars };
}

/** Runs one `sipedge` CLI command to completion; throws with its output when it fails. */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<string> {
  return await new Promise((resolveOut, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: REPO_ROOT, env: childEnv(env), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const why = error.killed ? `killed after ${timeoutMs} ms` : `exit ${error.code ?? error.signal}`;
          reject(new Error(`sipedge ${args.join(' ')}: ${why}\n${stdout}${stderr}`.trim()));
        } else resolveOut(stdout);
      },
    );
  });
}

let built = false;
/** bin/sipedge.js runs dist/: rebuilds it once per process when src/ changed since (a no-op otherwise). */
function ensureBuilt(): void {
  if (built) return;
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build-dist.mjs'), '--if-stale'], { stdio: 'inherit' });
  built = true;
}

/** Provisions tenants and users through the CLI, starts `sipedge start`, and resolves once /healthz answers 200. */
export async function startEdge(opts: EdgeOptions): Promise<RunningEdge> {
  ensureBuilt();
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'sipedge-edge-'));
  const sipPort = await freeSipPort();
  let httpPort = await freeTcpPort();
  while (httpPort === sipPort) httpPort = await freeTcpPort();
  let wsPort: number | undefined;
  if (opts.ws && opts.wsPort !== undefined) wsPort = opts.wsPort;
  else if (opts.ws) {
    wsPort = await freeTcpPort();
    while (wsPort === sipPort || wsPort === httpPort) wsPort = await freeTcpPort();
  }
  let tlsPort: number | undefined;
  if (opts.tls) {
    tlsPort = await freeTcpPort();
    while (tlsPort === sipPort || tlsPort === httpPort || tlsPort === wsPort) tlsPort = await freeTcpPort();
  }
  const env: Record<string, string> = {
    SIPEDGE_DATA_DIR: dataDir,
    SIPEDGE_SIP_UDP: `${HOST}:${sipPort}`,
    SIPEDGE_SIP_TCP: opts.tcp === false ? 'off' : `${HOST}:${sipPort}`,
    SIPEDGE_SIP_WS: wsPort === undefined ? 'off' : `${HOST}:${wsPort}`,
    SIPEDGE_HTTP: `${HOST}:${httpPort}`,
    SIPEDGE_SIP_TLS: tlsPort === undefined ? 'off' : `${HOST}:${tlsPort}`,
    SIPEDGE_SIP_WSS: 'off',
    SIPEDGE_HTTPS: 'off',
    SIPEDGE_LOG_LEVEL: opts.logLevel ?? 'warn',
    ...(opts.floodGuard === false ? { SIPEDGE_FLOOD__ENABLED: 'false' } : {}),
    ...opts.env,
  };

  try {
    for (const t of opts.tenants) await runCli(['tenant', 'add', t.code, '--domain', t.domain], env, opts.cliTimeoutMs);
    if (opts.importCsv) await runCli(['import', opts.importCsv], env, opts.cliTimeoutMs);
  } catch (e) {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }

  // As every launcher of the edge does (bin/sipedge.js explains the flag).
  // SIPEDGE_EDGE_NODE_ARGS adds node flags to every load test's edge, e.g. `--perf-basic-prof` for `perf record`.
  const extra = (process.env.SIPEDGE_EDGE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const nodeArgv = [`--max-semi-space-size=${opts.semiSpaceMb ?? 64}`, ...extra, ...(opts.nodeArgs ?? []), CLI, 'start'];
  const command = [...(opts.wrapper ?? []), ...(opts.cpus !== undefined ? ['taskset', '-c', opts.cpus] : []), process.execPath, ...nodeArgv];
  const [file, argv] = [command[0]!, command.slice(1)];
  // taskset and the wrapper exec the command, so the child's pid is node's and SIGTERM reaches the edge directly.
  const child = spawn(file, argv, { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(line);
    if (lines.length > KEEP_LINES) lines.splice(0, lines.length - KEEP_LINES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ exitCode: code, signal }));
  });
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const spawnError = new Promise<Error>((resolveError) => child.once('error', resolveError));
  // A test runner that dies must not leave an edge behind holding its ports.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const httpBase = `http://${HOST}:${httpPort}`;
  const output = () => lines.join('\n');
  let stopped: Promise<EdgeExit> | undefined;
  const edge: RunningEdge = {
    pid: child.pid ?? -1,
    dataDir,
    sipPort,
    httpPort,
    wsPort,
    tlsPort,
    sipTarget: `${HOST}:${sipPort}`,
    httpBase,
    metrics: async () => {
      const res = await fetch(`${httpBase}/metrics`);
      if (!res.ok) throw new Error(`GET ${httpBase}/metrics answered ${res.status}`);
      return await res.text();
    },
    cpuSeconds: () => cpuSeconds(edge.pid),
    memoryBytes: () => treeMemoryBytes(edge.pid),
    isRunning: () => running,
    output,
    stop: () => {
      stopped ??= (async () => {
        const exit = await terminate(child, exited, running);
        process.removeListener('exit', killOnExit);
        if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
        return exit;
      })();
      return stopped;
    },
  };

  const failStart = async (why: string): Promise<never> => {
    await edge.stop();
    throw new Error(`sipedge start ${why}\ncommand: ${[file, ...argv].join(' ')}\noutput:\n${output()}`);
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    const state = await Promise.race([
      exited.then(() => 'exited' as const),
      spawnError.then((e) => e),
      isHealthy(httpBase).then((ok) => (ok ? ('healthy' as const) : ('waiting' as const))),
    ]);
    if (state === 'healthy') break;
    if (state === 'exited') {
      const { exitCode, signal } = await exited;
      return await failStart(`exited before answering /healthz (exit ${exitCode ?? signal})`);
    }
    if (state instanceof Error) return await failStart(`could not be spawned: ${state.message}`);
    if (Date.now() > deadline) return await failStart(`did not answer ${httpBase}/healthz within ${opts.startTimeoutMs ?? 60_000} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (opts.tcp !== false && !(await canConnect(sipPort))) {
    return await failStart(`answers /healthz but does not accept SIP over TCP on ${HOST}:${sipPort}`);
  }
  return edge;
}

/**
 * SIGTERM, and SIGKILL after a 10 s grace, unless the child has already exited; resolves its exit. Every process a load
 * run starts (the edge, Kamailio) is stopped this way.
 */
export async function terminate(
  child: ChildProcess,
  exited: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>,
  running: boolean,
): Promise<EdgeExit> {
  let killed = false;
  if (running) {
    child.kill('SIGTERM');
    const grace = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(grace);
  }
  return { ...(await exited), killed };
}

async function isHealthy(base: string): Promise<boolean> {
  try {
    const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** True when a TCP connection to 127.0.0.1:port is accepted. */
export async function canConnect(port: number): Promise<boolean> {
  return await new Promise((resolveOk) => {
    const socket = net.connect(port, HOST);
    socket.once('connect', () => {
      socket.destroy();
      resolveOk(true);
    });
    socket.once('error', () => resolveOk(false));
  });
}
