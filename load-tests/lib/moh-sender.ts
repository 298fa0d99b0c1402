// Child process of run-moh.ts: the hold-music streaming engine alone (HoldCache on a temp embedded store with the
// default piece, one RtpScheduler, N RtpSockets from the port pool) sending to one receiver address. No SIP.
// argv: <streams> <seconds> <receiverHost> <receiverPort> <bindHost> <portMin>. Prints "ready" once every stream
// runs (and 2 s more), then sends for <seconds> and prints one JSON line with CPU and scheduler figures of that window.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monotonicClock, systemClock } from '../../src/clock.ts';
import { DEFAULT_MOH_FILE, HoldCache } from '../../src/media/hold-cache.ts';
import { nativeSendBatch } from '../../src/media/native-send.ts';
import { RtpScheduler, RtpStream } from '../../src/media/rtp-scheduler.ts';
import { RtpPortPool, type RtpSocket } from '../../src/media/rtp-socket.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';

const [streamsText, secondsText, receiverHost, receiverPortText, bindHost, portMinText] = process.argv.slice(2);
const streams = Number(streamsText);
const seconds = Number(secondsText);
const receiverPort = Number(receiverPortText);
const portMin = Number(portMinText);

const dir = mkdtempSync(join(tmpdir(), 'sipedge-moh-bench-'));
const stores = await openMemoryStores(join(dir, 'store'), { role: 'edge', clock: systemClock });
const cache = new HoldCache({ store: stores.media, logger: createLogger('silent'), defaultFile: DEFAULT_MOH_FILE.pathname });
await cache.start();
const metrics = new Metrics();
const scheduler = new RtpScheduler({ cache, clock: monotonicClock, metrics, maxBurstFrames: 3, sendBatch: nativeSendBatch });
const pool = new RtpPortPool({ min: portMin, max: portMin + 2 * streams + 200 }, monotonicClock);
const sockets: RtpSocket[] = [];
const all: RtpStream[] = [];
for (let i = 0; i < streams; i++) {
  const s = await pool.open(bindHost!);
  if (s === undefined) throw new Error(`no RTP port for stream ${i}`);
  await s.connect(receiverHost!, receiverPort);
  sockets.push(s);
  const stream = new RtpStream(`t${i % 50}`, 'hold', i % 2 === 0 ? 0 : 8, i % 2 === 1, s, cache.current(`t${i % 50}`, 'hold'));
  all.push(stream);
}
// Calls arrive at random times in real life; here in batches of 50 at random 3-30 ms intervals (so they land on
// the 20 ms period as random arrivals would).
const started = performance.now();
for (let i = 0; i < all.length; i++) {
  scheduler.add(all[i]!);
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 3 + Math.floor(Math.random() * 28)));
}
// Settle (JIT, first GCs) before the measured window; the runner starts the receiver's window on "ready".
await new Promise((r) => setTimeout(r, 2000));
process.stdout.write('ready\n');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const lag0 = scheduler.maxLagMs;
// From here on the figures cover the measured window only (the ramp binds 2 sockets per stream and is slower).
scheduler.maxLagMs = 0;
const late0 = scheduler.lateTicks;
await new Promise((r) => setTimeout(r, seconds * 1000));
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
let packets = 0;
for (const s of all) packets += s.packets;
process.stdout.write(
  JSON.stringify({
    streams,
    packets,
    native: nativeSendBatch !== undefined,
    cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wall) * 1000) / 10,
    maxLagMs: Math.round(scheduler.maxLagMs * 10) / 10,
    maxLagBeforeMeasureMs: Math.round(lag0 * 10) / 10,
    lateTicks: scheduler.lateTicks - late0,
    rampMs: Math.round(t0 - started),
  }) + '\n',
);
scheduler.stop();
for (const s of sockets) s.close();
cache.stop();
await stores.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
