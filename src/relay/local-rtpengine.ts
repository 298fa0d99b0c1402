// Running rtpengine (Debian rtpengine-daemon) as a child of this process: `sipedge start --local-rtpengine` (what
// scripts/start.sh asks for when none is configured), the tests and the benchmarks. In user space (--table=-1: no
// kernel module), in the foreground, without the package's /etc/rtpengine/rtpengine.conf (--config-file=none: that one
// opens HTTP and CLI ports and records calls). Driving it is ng-client.ts's.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { delimiter, join } from 'node:path';
import { systemClock } from '../clock.ts';
import { NgClient } from './ng-client.ts';

export interface LocalRtpengineOptions {
  /** The address rtpengine relays media on and names in SDP (--interface), e.g. 127.0.0.1 or the host's LAN address. */
  mediaAddress: string;
  /** Where its NG control socket listens; port 0 picks a free UDP port on 127.0.0.1. */
  ngHost?: string;
  ngPort?: number;
  /** Media port range (--port-min/--port-max). Two rtpengines must not share a range: they bind with SO_REUSEADDR. */
  portMin: number;
  portMax: number;
  /** rtpengine's log level (syslog numbers: 3 error, 4 warning, 6 info, 7 debug); default 4. */
  logLevel?: number;
  /** More rtpengine options, e.g. --delete-delay=0. */
  extraArgs?: string[];
  /** Each line rtpengine writes to stderr (its log). */
  onLog?: (line: string) => void;
  /** How long to wait for its first pong; ms (default 10 s). */
  startTimeoutMs?: number;
}

export interface LocalRtpengine {
  /** The NG address as media.rtpengine takes it: udp:host:port. */
  readonly address: string;
  readonly pid: number;
  /** Resolves when it has exited (after stop(), kill() or by itself). */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it is gone. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL at once (a crashed media relay); resolves once it is gone. */
  kill(): Promise<void>;
}

/** The rtpengine binary on PATH, or undefined. */
function findRtpengine(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'rtpengine');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The address a local rtpengine relays media on when the operator named none: the host's first IPv4 address that is
 * not loopback (what browsers and phones elsewhere reach), else 127.0.0.1.
 */
export function defaultMediaAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** A UDP port free on host right now (bound and released; another process may take it first, rarely). */
async function freeUdpPort(host: string): Promise<number> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * Starts rtpengine and resolves once it answers an NG ping. It dies with this process even on kill -9 (setpriv
 * --pdeathsig, util-linux). Throws with rtpengine's last log lines when it exits or stays silent instead.
 */
export async function startLocalRtpengine(opts: LocalRtpengineOptions): Promise<LocalRtpengine> {
  const bin = findRtpengine();
  if (bin === undefined) throw new Error('rtpengine is not installed (Debian: apt-get install rtpengine-daemon)');
  const ngHost = opts.ngHost ?? '127.0.0.1';
  if (opts.ngPort !== undefined && opts.ngPort !== 0) return await startOnce(bin, opts, ngHost, opts.ngPort);
  // A port found free here can be taken by another socket before rtpengine binds it; rtpengine then exits at start
  // ("Address already in use"), and another free port is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, opts, ngHost, await freeUdpPort(ngHost));
    } catch (e) {
      if (attempt >= 3 || !(e instanceof BindLost)) throw e;
    }
  }
}

/** rtpengine exited at start because its NG port was taken. */
class BindLost extends Error {}

async function startOnce(bin: string, opts: LocalRtpengineOptions, ngHost: string, ngPort: number): Promise<LocalRtpengine> {
  const ngListen = ngHost.includes(':') ? `[${ngHost}]:${ngPort}` : `${ngHost}:${ngPort}`;
  const args = [
    '--config-file=none',
    '--foreground',
    '--log-stderr',
    '--no-log-timestamps',
    '--table=-1',
    `--interface=${opts.mediaAddress}`,
    `--listen-ng=${ngListen}`,
    `--port-min=${opts.portMin}`,
    `--port-max=${opts.portMax}`,
    `--log-level=${opts.logLevel ?? 4}`,
    ...(opts.extraArgs ?? []),
  ];
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => canRun(p));
  const [file, argv] = setpriv !== undefined ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', bin, ...args]] : [bin, args];
  const child: ChildProcess = spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const tail: string[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (l === '') continue;
      tail.push(l);
      if (tail.length > 20) tail.shift();
      opts.onLog?.(l);
    }
  });
  let exitedFlag = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exitedFlag = true;
      resolve();
    });
    child.once('error', (e) => {
      tail.push(e.message);
      exitedFlag = true;
      resolve();
    });
  });
  const onExit = (): void => void child.kill('SIGKILL');
  process.once('exit', onExit);
  const stopWith = (signal: NodeJS.Signals): Promise<void> => {
    if (!exitedFlag) {
      child.kill(signal);
      if (signal !== 'SIGKILL') {
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        void exited.then(() => clearTimeout(t));
      }
    }
    return exited.then(() => void process.removeListener('exit', onExit));
  };

  const client = new NgClient({ host: ngHost, port: ngPort, timeoutMs: 500, retransmitMs: 100, clock: systemClock });
  try {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (exitedFlag) {
        const why = `rtpengine exited at start: ${tail.join(' | ')}`;
        throw /address already in use/i.test(why) ? new BindLost(why) : new Error(why);
      }
      const o = await client.command({ command: 'ping' });
      if (o.ok) break;
      if (Date.now() > deadline) throw new Error(`rtpengine did not answer ping on ${ngListen}: ${tail.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await stopWith('SIGKILL');
    throw e;
  } finally {
    client.close();
  }
  return {
    address: `udp:${ngListen}`,
    pid: child.pid ?? -1,
    exited,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

function canRun(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
