// Hold-music streaming load run: N concurrent streams sent by one process (one core: one event loop, one timer)
// to a receiver process that measures the inter-packet gap per stream. Target: 2,000 streams, p99 gap < 25 ms.
// Usage: tsx load-tests/run-moh.ts [--streams 2000[,4000]] [--seconds 10] [--sender-cpus 0] [--receiver-cpus 1]
// [--path auto|wire|loopback] [--sender-node-flags "--trace-gc --cpu-prof"] [--report-dir DIR] (taskset CPU lists;
// "" = not pinned; the report as load-tests/lib/report.ts writes it, default reports/<stamp>-moh/).
// Prints figures, asserts nothing. --path (see lib/rtp-receiver.py; auto = wire where possible): "wire" (root) sends through a TUN
// device and timestamps each packet at the device, so the sender's core carries the sender's work only; "loopback"
// sends to a UDP socket on 127.0.0.1, and the sender's core also runs the receiver's kernel stack.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { LoadReport } from './lib/report.ts';

const SENDER = fileURLToPath(new URL('./lib/moh-sender.ts', import.meta.url));
const RECEIVER = fileURLToPath(new URL('./lib/rtp-receiver.py', import.meta.url));

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

/** Runs `file` (TypeScript under tsx, or Python), pinned with taskset when `cpus` is not empty. */
function child(
  file: string,
  cpus: string,
  args: string[],
  onLine: (l: string) => void,
): { exit: Promise<number>; kill(): void; say(line: string): void } {
  // --no-memory-reducer: as bin/sipedge.js sets it for the edge.
  const cmd = file.endsWith('.py') ? ['python3', file, ...args] : [process.execPath, '--no-memory-reducer', ...senderNodeFlags, '--import', 'tsx', file, ...args];
  if (cpus !== '') cmd.unshift('taskset', '-c', cpus);
  const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  createInterface({ input: p.stdout! }).on('line', onLine);
  return {
    exit: new Promise((r) => p.on('exit', (c) => r(c ?? 1))),
    kill: () => p.kill('SIGTERM'),
    say: (line) => p.stdin!.write(`${line}\n`),
  };
}

const seconds = Number(arg('seconds', '10'));
const senderNodeFlags = arg('sender-node-flags', '').split(' ').filter((f) => f !== '');
const counts = arg('streams', '2000').split(',').map(Number);
// The sender on one core and the receiver on the other, as run-register.ts pins edge and SIPp: unpinned, the kernel
// sometimes runs both on one core and the receiver's delays show up as the sender's jitter.
const senderCpus = arg('sender-cpus', '0');
try {
  execFileSync('python3', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('run-moh: python3 is needed for the receiver (kernel receive timestamps); apt-get install python3');
  process.exit(2);
}
const receiverCpus = arg('receiver-cpus', '1');
const path = arg('path', 'auto');
if (path !== 'wire' && path !== 'loopback' && path !== 'auto') {
  console.error(`run-moh: --path must be wire, loopback or auto, not ${path}`);
  process.exit(2);
}
console.log(`hold-music streams (path ${path}): sender on cpu ${senderCpus || '(any)'}, receiver on cpu ${receiverCpus || '(any)'}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
// This runner off the sender's core too: tsx and V8 keep working in the background for a while after start, and on
// the sender's core that showed as a worse first run (p99 27-29 ms where the later runs gave 22-24 ms).
if (receiverCpus !== '' && senderCpus !== '') {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', receiverCpus, String(process.pid)], { stdio: 'ignore' });
  } catch {
    console.error('run-moh: could not move this runner to the receiver CPUs (taskset); figures may be worse');
  }
}

/** Time the hypervisor ran something else on these CPUs (steal, /proc/stat), ms; NaN where not readable. */
function stealMs(cpus: string): number {
  try {
    const want = new Set(cpus.split(',').map((c) => `cpu${c}`));
    let ticks = 0;
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (want.has(f[0]!)) ticks += Number(f[8]);
    }
    return (ticks * 1000) / 100; // USER_HZ
  } catch {
    return Number.NaN;
  }
}

const report = new LoadReport('moh', 'hold-music streams from one process on one core', process.argv.includes('--report-dir') ? arg('report-dir', '') : undefined).describe('', {
  title: '',
  xLabel: 'concurrent streams (a repeated count is a repeated run)',
  rateUnit: 'streams',
  cpuLabel: 'sender CPU µs per stream-second',
  latencyLabel: "ms between a stream's packets (sent every 20)",
  latencyTitle: 'Inter-packet gap percentiles',
});
report.figure('options', { seconds, streams: counts, senderCpus, receiverCpus, path, senderNodeFlags });
let failed = 0;
for (const [i, streams] of counts.entries()) {
  report.progress(i + 1, counts.length, `${streams} streams`);
  let steal0 = 0;
  let steal = Number.NaN;
  let target: string[] = [];
  let recv: Record<string, number> | undefined;
  let send: Record<string, number> | undefined;
  let gotResult: () => void = () => undefined;
  const result = new Promise<void>((r) => (gotResult = r));
  let receiver: ReturnType<typeof child> | undefined;
  await new Promise<void>((resolve) => {
    receiver = child(RECEIVER, receiverCpus, [String(seconds), path], (l) => {
      if (l.startsWith('target ')) {
        target = l.split(' ').slice(1); // ip port bind-ip path
        resolve();
      } else {
        recv = JSON.parse(l) as Record<string, number>;
        steal = stealMs(senderCpus) - steal0;
        gotResult();
      }
    });
    void receiver.exit.then(() => {
      resolve();
      gotResult();
    });
  });
  if (target.length !== 4) {
    console.error(`run-moh: the receiver could not set up the ${path} path (see above); --path loopback needs no privileges`);
    process.exit(2);
  }
  const [host, port, bind, used] = target as [string, string, string, string];
  const portMin = 20000 + Math.floor(Math.random() * 10) * 2000;
  // The sender says "ready" once every stream runs; the receiver's window starts then and ends before the sender's.
  const sender = child(SENDER, senderCpus, [String(streams), String(seconds + 1), host, port, bind, String(portMin)], (l) => {
    if (l === 'ready') {
      receiver?.say('measure');
      steal0 = stealMs(senderCpus);
    } else if (l.startsWith('{')) send = JSON.parse(l) as Record<string, number>;
    else console.error(`  sender: ${l}`); // e.g. --sender-node-flags --trace-gc
  });
  if ((await sender.exit) !== 0) failed++;
  // The receiver printed its figures at the end of its window and drains the port until the sender is done.
  await result;
  receiver?.kill();
  if (recv === undefined) failed++;
  await new Promise((r) => setTimeout(r, 200));
  console.log(
    `${String(streams).padStart(6)} streams (${used}): gap p50 ${recv?.p50} ms, p99 ${recv?.p99} ms, p99.9 ${recv?.p999} ms, max ${recv?.max} ms; ` +
      `lost ${recv?.lost}; sender CPU ${send?.cpuPercent} % of one core (${send?.native ? 'native batch send' : 'dgram send'}), ` +
      `scheduler max lag ${send?.maxLagMs} ms, late ticks ${send?.lateTicks}` +
      (/^\d+$/.test(senderCpus) ? `; host steal on cpu ${senderCpus}: ${steal} ms in ${seconds} s` : ''),
  );
  const repeat = counts.slice(0, i).filter((c) => c === streams).length;
  report.addStep({
    series: 'sender',
    x: repeat === 0 ? String(streams) : `${streams} (${repeat + 1})`,
    latencyMs: recv === undefined ? undefined : { samples: recv.gaps ?? 0, p50: recv.p50!, p99: recv.p99!, max: recv.max! },
    cpuUs: send?.cpuPercent === undefined ? undefined : (send.cpuPercent / 100) * 1e6 / streams,
    row: { streams, path: used, receiver: recv, sender: send, stealMs: steal },
  });
}
await report.finish();
process.exitCode = failed > 0 ? 1 : 0;
