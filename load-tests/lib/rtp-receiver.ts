// Child process of run-moh.ts: one UDP socket receiving every stream, inter-packet gaps per SSRC after a warm-up.
// argv: <seconds> <warmupSeconds>. Prints "port <n>" first, then one JSON line with gap percentiles and losses.
import dgram from 'node:dgram';

const seconds = Number(process.argv[2] ?? 10);
const warmup = Number(process.argv[3] ?? 2);
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 16 * 1024 * 1024 });
const last = new Map<number, { at: number; seq: number }>();
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
  const prev = last.get(ssrc);
  if (prev !== undefined && measuring) {
    if (n < gaps.length) gaps[n++] = at - prev.at;
    lost += ((seq - prev.seq) & 0xffff) - 1;
  }
  last.set(ssrc, { at, seq });
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
    process.stdout.write(JSON.stringify({ streamsSeen: last.size, gaps: n, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: q(1), lost }) + '\n');
    process.exit(0);
  }, (warmup + seconds) * 1000);
});
