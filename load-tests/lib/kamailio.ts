// Kamailio (Debian `kamailio`) as the reference server of the benchmark: load-tests/kamailio/kamailio.cfg with the
// same users as the edge (their HA1s in a db_text file loaded into an htable), one UDP worker, pinned like the edge.
// load-tests/run-against.ts drives it; the configuration file says what it does and why that is the edge's work.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, terminate, type EdgeExit } from './edge-process.ts';
import { treeCpuSeconds, treeMemoryBytes } from './proc-cpu.ts';
import { freeUdpPortOn } from './sipp.ts';
import type { TestUser } from './users.ts';

const CONFIG = join(REPO_ROOT, 'load-tests', 'kamailio', 'kamailio.cfg');
const HOST = '127.0.0.1';
const KEEP_LINES = 200;

export interface KamailioOptions {
  users: TestUser[];
  /** The tenant's SIP domain: digest realm and the alias Kamailio treats as itself. */
  domain: string;
  /** sip:ip:port of the one upstream (dispatcher set 1); default: none (REGISTER-only runs). */
  upstream?: string;
  /** taskset CPU list. */
  cpus?: string;
  /** Shared memory in MB (-m); default 1024. */
  sharedMemoryMb?: number;
}

export interface RunningKamailio {
  pid: number;
  sipTarget: string;
  /** CPU seconds of the main process and its workers together. */
  cpuSeconds(): number | undefined;
  /** Proportional set size of all its processes (shared memory counted once), bytes. */
  memoryBytes(): number | undefined;
  isRunning(): boolean;
  output(): string;
  /** Kamailio keeps its statistics in its own RPC; the runners' edge counters do not apply: an empty text. */
  metrics(): Promise<string>;
  stop(): Promise<EdgeExit>;
}

/** What a runner needs of the server it loads: the edge (edge-process.ts) or Kamailio. */
export type ServerUnderTest = Pick<RunningKamailio, 'pid' | 'sipTarget' | 'cpuSeconds' | 'memoryBytes' | 'isRunning' | 'output' | 'metrics' | 'stop'>;

/** The kamailio binary, or a clear error naming the install step. */
export function requireKamailio(): string {
  try {
    execFileSync('kamailio', ['-v'], { stdio: 'ignore' });
    return 'kamailio';
  } catch {
    throw new Error('kamailio is not installed: run `bash scripts/install-deps.sh --bench` (Debian package kamailio)');
  }
}

/** The Kamailio version line (e.g. "kamailio 5.6.3"), for the report header. */
export function kamailioVersion(): string {
  try {
    return /kamailio [\d.]+/.exec(execFileSync('kamailio', ['-v'], { encoding: 'latin1' }))?.[0] ?? 'kamailio (unknown version)';
  } catch {
    return 'kamailio (not installed)';
  }
}

/** db_text table `ha1` in htable's layout: one string item per extension, HA1 = MD5(extension:realm:password). */
function writeHa1Table(dir: string, users: TestUser[], realm: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'version'), 'table_name(string) table_version(int)\nha1:2\n');
  const rows = users.map((u, i) => {
    const ha1 = createHash('md5').update(`${u.extension}:${realm}:${u.password}`).digest('hex');
    return `${i + 1}:${u.extension}:0:0:${ha1}:0`;
  });
  const header = 'id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)';
  writeFileSync(join(dir, 'ha1'), `${header}\n${rows.join('\n')}\n`, { mode: 0o600 });
}

/** Starts Kamailio on a free UDP port of 127.0.0.1 and resolves once it answers an OPTIONS. */
export async function startKamailio(opts: KamailioOptions): Promise<RunningKamailio> {
  const kamailio = requireKamailio();
  const work = mkdtempSync(join(tmpdir(), 'sipedge-kamailio-'));
  writeHa1Table(join(work, 'db'), opts.users, opts.domain);
  const dsList = join(work, 'dispatcher.list');
  writeFileSync(dsList, opts.upstream ? `1 ${opts.upstream}\n` : '');
  const port = await freeUdpPortOn(HOST);
  const args = [
    '-DD', '-E',
    '-f', CONFIG,
    '-l', `udp:${HOST}:${port}`,
    '-A', `DBURL="text://${join(work, 'db')}"`,
    '-A', `DSLIST="${dsList}"`,
    '-A', `REALM="${opts.domain}"`,
    '-m', String(opts.sharedMemoryMb ?? 1024),
    '-M', '64',
    '-Y', work,
  ];
  const [file, argv] = opts.cpus !== undefined ? ['taskset', ['-c', opts.cpus, kamailio, ...args]] : [kamailio, args];
  const child = spawn(file, argv, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('latin1').split('\n')) if (line) lines.push(line);
    if (lines.length > KEEP_LINES) lines.splice(0, lines.length - KEEP_LINES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let running = true;
  const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (exitCode, signal) => {
      running = false;
      resolveExit({ exitCode, signal });
    }),
  );
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const pid = child.pid ?? -1;
  let stopped: Promise<EdgeExit> | undefined;
  const server: RunningKamailio = {
    pid,
    sipTarget: `${HOST}:${port}`,
    cpuSeconds: () => treeCpuSeconds(pid),
    memoryBytes: () => treeMemoryBytes(pid),
    isRunning: () => running,
    output: () => lines.join('\n'),
    metrics: async () => '',
    stop: () => {
      stopped ??= (async () => {
        const exit = await terminate(child, exited, running);
        process.removeListener('exit', killOnExit);
        rmSync(work, { recursive: true, force: true });
        return exit;
      })();
      return stopped;
    },
  };
  const deadline = Date.now() + 20_000;
  while (!(await answersOptions(HOST, port))) {
    if (!running || Date.now() > deadline) {
      await server.stop();
      throw new Error(`kamailio did not answer OPTIONS on ${HOST}:${port}\ncommand: ${[file, ...argv].join(' ')}\n${server.output()}`);
    }
  }
  return server;
}

/** True when an OPTIONS to host:port gets a 200 within 500 ms. */
async function answersOptions(host: string, port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => socket.bind(0, host, () => r()));
    const branch = `z9hG4bK-probe-${Date.now()}`;
    const { port: local } = socket.address();
    const msg =
      `OPTIONS sip:${host}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${host}:${local};branch=${branch};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:probe@${host}>;tag=p\r\nTo: <sip:${host}>\r\nCall-ID: ${branch}\r\nCSeq: 1 OPTIONS\r\n` +
      'Content-Length: 0\r\n\r\n';
    return await new Promise<boolean>((resolveOk) => {
      const timer = setTimeout(() => resolveOk(false), 500);
      socket.once('message', (m) => {
        clearTimeout(timer);
        resolveOk(m.toString('latin1').startsWith('SIP/2.0 200'));
      });
      socket.send(msg, port, host);
    });
  } finally {
    socket.close();
  }
}
