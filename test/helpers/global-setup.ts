// Test-run setup: checks the real tools exist (no skipping), builds dist/ when older than src/ (the tests that spawn
// bin/sipedge.js run the built edge, as users do), starts one real redis-server on a free port for the whole run, and
// hands its port to tests via inject('redisPort').
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import type { TestProject } from 'vitest/node';
import { freePort } from '../../load-tests/lib/ports.ts';
import { isAlive } from '../../src/store/memory/file-lock.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisPort: number;
  }
}

function requireTool(name: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'pipe' });
  } catch {
    throw new Error(`${name} is not installed: run "bash scripts/test.sh" (it installs sip-tester, redis-server, redis-sentinel, chromium, linphone-cli, rtpengine-daemon, prometheus and baresip-core), or apt-get install it`);
  }
}

/** A port free for TCP and UDP on 127.0.0.1 (by default), outside the kernel's ephemeral range, claimed for this process. */
export { freePort };

let dir = '';
let pidFile = '';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  requireTool('redis-server');
  requireTool('redis-sentinel');
  requireTool('sipp');
  // The portal's browser tests (Debian chromium, never a downloaded browser) and Linphone provisioning (linphone-cli).
  requireTool('chromium');
  requireTool('linphonec');
  // The media relay between browsers and desk phones (rtpengine-daemon), run per test file (load-tests/lib/rtpengine.ts).
  requireTool('rtpengine');
  // The ops kit's checks (ops/prometheus/, /metrics) run Prometheus's promtool.
  requireTool('promtool');
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build-dist.mjs', import.meta.url)), '--if-stale'], { stdio: 'inherit' });
  requireTool('baresip');
  dir = mkdtempSync(join(tmpdir(), 'sipedge-redis-'));
  pidFile = join(dir, 'redis.pid');
  const port = await freePort();
  execFileSync('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'yes', '--pidfile', pidFile, '--dir', dir, '--logfile', join(dir, 'redis.log'),
  ]);
  // Wait until it answers PING.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => c.write('PING\r\n'));
      c.once('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')); });
      c.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  project.provide('redisPort', port);
  return async () => {
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
      // It writes its log while it shuts down: removing the directory before it is gone fails with ENOTEMPTY.
      const gone = Date.now() + 10_000;
      while (Date.now() < gone && isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

