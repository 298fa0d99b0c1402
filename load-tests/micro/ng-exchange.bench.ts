// Micro-benchmark of one NG round trip as the edge pays for it: CPU microseconds of this process per request and reply,
// one after the other (the edge's event loop sleeps between them, as it does for an NG reply at bridged-call rates).
// Four ways, so that what the relay's code costs can be told from what the round trip itself costs:
//   (a) NgClient ping against a real rtpengine (what src/relay/ does for each of a bridged call's offer, answer, delete);
//   (b) NgClient ping against a responder that answers at once (another process: the same client code, a peer that
//       never makes the edge wait long);
//   (c) the same datagrams through a bare connected dgram socket, and (d) through the native batched UDP I/O
//       (src/transport/native/sip_udp.c: recvmmsg/sendmmsg, as SIP over UDP uses), both against (b)'s responder: what
//       moving NG onto the native path would save per round trip.
// Run with `npx tsx load-tests/micro/ng-exchange.bench.ts`; README "Bridged calls through rtpengine" quotes it.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { systemClock } from '../../src/clock.ts';
import { NgClient } from '../../src/relay/ng-client.ts';
import { nativeUdp } from '../../src/transport/native-udp.ts';
import { cpuMicros } from '../lib/cpu-bench.ts';
import { startTestRtpengine } from '../lib/rtpengine.ts';

const WARM = 2000;
const PER_ROUND = 5000;
const ROUNDS = 3;

/**
 * Answers every datagram with its cookie and `d6:result4:ponge` (an NG pong), from another process; exits when this
 * one does (its stdin ends).
 */
const RESPONDER = `
process.stdin.on('end', () => process.exit(0)).resume();
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => { const sp = m.indexOf(32); s.send(Buffer.concat([m.subarray(0, sp + 1), Buffer.from('d6:result4:ponge')]), r.port, r.address); });
s.bind(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));`;

/** Best of ROUNDS rounds of PER_ROUND round trips (after WARM), µs CPU of this process per round trip. */
async function measure(one: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < WARM; i++) await one();
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const start = cpuMicros();
    for (let i = 0; i < PER_ROUND; i++) await one();
    best = Math.min(best, (cpuMicros() - start) / PER_ROUND);
  }
  return best;
}

function print(name: string, us: number): void {
  console.log(`${name.padEnd(62)} ${us.toFixed(1).padStart(7)} µs CPU per round trip`);
}

async function pingWith(host: string, port: number): Promise<number> {
  const ng = new NgClient({ host, port, timeoutMs: 1000, retransmitMs: 200, clock: systemClock });
  try {
    return await measure(async () => {
      const out = await ng.command({ command: 'ping' });
      if (!out.ok) throw new Error(`ping: ${out.reason} (${out.detail})`);
    });
  } finally {
    ng.close();
  }
}

let seq = 0;
const ping = (): Buffer => Buffer.from(`b${(seq++).toString(36)} d7:command4:pinge`, 'latin1');

async function bareDgram(port: number): Promise<number> {
  const s = dgram.createSocket('udp4');
  let waiting: (() => void) | undefined;
  s.on('message', () => waiting?.());
  s.connect(port, '127.0.0.1');
  await once(s, 'connect');
  try {
    return await measure(
      () =>
        new Promise<void>((resolve) => {
          waiting = resolve;
          s.send(ping());
        }),
    );
  } finally {
    s.close();
  }
}

async function bareNative(port: number): Promise<number | undefined> {
  const udp = nativeUdp;
  if (udp === undefined) return undefined;
  const [fd] = udp.open('127.0.0.1', 0, 1 << 20, 1 << 20);
  const buf = Buffer.allocUnsafe(64 * 2048);
  const meta = new Int32Array(64 * 8);
  const drops = new Int32Array(3);
  let waiting: (() => void) | undefined;
  const watch = udp.watch(fd, () => {
    const n = udp.recv(fd, buf, 2048, meta, 64);
    // Copied out as the SIP path copies each datagram, so both sides allocate what they would.
    for (let i = 0; i < n; i++) if (Buffer.from(buf.subarray(i * 2048, i * 2048 + meta[i * 8]!)).length > 0) waiting?.();
  });
  try {
    return await measure(
      () =>
        new Promise<void>((resolve) => {
          waiting = resolve;
          udp.send(fd, 4, [ping(), port, '127.0.0.1'], 1, drops);
        }),
    );
  } finally {
    udp.unwatch(watch);
    udp.close(fd);
  }
}

const responder = spawn(process.execPath, ['-e', RESPONDER], { stdio: ['pipe', 'pipe', 'inherit'] });
const rtpengine = await startTestRtpengine({ logLevel: 4 });
try {
  const [line] = (await once(responder.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  const where = rtpengine.address.split(':');
  print('(a) NgClient ping, real rtpengine', await pingWith(where[1]!, Number(where[2])));
  print('(b) NgClient ping, responder answering at once', await pingWith('127.0.0.1', port));
  print('(c) bare connected dgram socket, same responder', await bareDgram(port));
  const native = await bareNative(port);
  if (native === undefined) console.log('(d) native batched UDP: not built (node scripts/build-native.mjs)');
  else print('(d) native batched UDP (recvmmsg/sendmmsg), same responder', native);
} finally {
  responder.kill();
  await rtpengine.stop();
}
