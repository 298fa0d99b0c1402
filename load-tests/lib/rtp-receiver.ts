// Child process of run-moh.ts: one UDP socket receiving every stream, inter-packet gaps per SSRC after a warm-up.
// argv: <seconds> <warmupSeconds>. Prints "port <n>" first, then one JSON line with gap percentiles and losses.
import dgram from 'node:dgram';

const seconds = Number(process.argv[2] ?? 10);
const warmup = Number(process.argv[3] ?? 2);
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 16 * 1024 * 1024 });
// Per-stream state in typed arrays (no allocation per packet: a GC pause here would show up as a fake gap).
const slotOf = new Map<number, number>();
const lastAt = new Float64Array(100_000);
const lastSeq = new Int32Array(100_000);
const gaps = new Float64Array(4_000_000);
let n = 0;
let packets = 0;
let lost = 0;
let measuring = false;
sock.on('message', (m) => {
  const at = performance.now();
  packets++;
  const ssrc = m.readUInt32BE(8);
  const seq = m.readUInt16BE(2);
  let slot = slotOf.get(ssrc);
  if (slot === undefined) {
    slot = slotOf.size;
    slotOf.set(ssrc, slot);
  } else if (measuring) {
    if (n < gaps.length) gaps[n++] = at - lastAt[slot]!;
    lost += ((seq - lastSeq[slot]!) & 0xffff) - 1;
  }
  lastAt[slot] = at;
  lastSeq[slot] = seq;
});
sock.bind(0, '127.0.0.1', () => {
  process.stdout.write(`port ${sock.address().port}\n`);
  setTimeout(() => {
    measuring = true;
    packets = 0;
  }, warmup * 1000);
  setTimeout(() => {
    const g = gaps.subarray(0, n).sort();
    const q = (p: number) => Math.round((g[Math.min(n - 1, Math.floor(p * n))] ?? 0) * 10) / 10;
    process.stdout.write(JSON.stringify({ streamsSeen: slotOf.size, gaps: n, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: q(1), lost }) + '\n');
    process.exit(0);
  }, (warmup + seconds) * 1000);
});
