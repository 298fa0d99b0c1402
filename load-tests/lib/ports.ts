// Ports for servers whose address must be known before they start (an edge's SIP port written into its config, a
// SIPp UAS named as the upstream, redis-server's --port). A port taken from `listen(0)` and closed again is free only
// until the next outgoing connection or `:0` socket of any process takes it from the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 on Debian); a full test run lost that race (EADDRINUSE). So
// the port is drawn at random from the band below that range, which only an explicit bind can take, and checked
// free there. Below the band sit the media ranges the tests and the edge hand out (load-tests/lib/rtpengine.ts:
// 12000-15999; 16000-19999; hold music 20000-29999). Two processes (parallel test files) that drew the same port
// before either bound it would still collide, so a port handed out is also claimed machine-wide by a lock file naming
// this process (as load-tests/lib/rtpengine.ts does for its port blocks): another process skips it while this one
// lives, and takes it over after (a test worker ended by a signal leaves its claims behind; a normal exit removes them).
import dgram from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimLock } from './lock-file.ts';

const BAND_LOW = 30_000;
const TRIES = 200;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > BAND_LOW + 500 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** A port free on `host` now for the given kinds (default both TCP and UDP), outside the ephemeral range. */
export async function freePort(host = '127.0.0.1', kinds: ReadonlyArray<'tcp' | 'udp'> = ['tcp', 'udp']): Promise<number> {
  const high = ephemeralLow();
  for (let i = 0; i < TRIES; i++) {
    const port = BAND_LOW + Math.floor(Math.random() * (high - BAND_LOW));
    if (!claim(port)) continue;
    let free = true;
    for (const kind of kinds) if (free) free = await bindable(kind, host, port);
    if (free) return port;
  }
  throw new Error(`no free port in ${BAND_LOW}-${high - 1} on ${host} after ${TRIES} tries`);
}

function bindable(kind: 'tcp' | 'udp', host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (kind === 'tcp') {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
      return;
    }
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

const LOCK_DIR = join(tmpdir(), 'sipedge-test-ports');
const claimed: string[] = [];

/** Claims `port` for this process (lock-file.ts); false when a live process, this one included, holds it. */
function claim(port: number): boolean {
  const file = claimLock(LOCK_DIR, String(port));
  if (file === undefined) return false;
  if (claimed.length === 0) process.once('exit', () => claimed.forEach((f) => rmSync(f, { force: true })));
  claimed.push(file);
  return true;
}
