// The hold-music RTP scheduler (src/media/rtp-scheduler.ts), driven deterministically: fake timers plus an injected
// clock (the fake Date, plus a skew to simulate a blocked event loop), small synthetic versions whose every frame is
// recognisable, sinks that record each packet with the clock. Last: the native batch send on real loopback sockets.
import dgram from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { monotonicClock } from '../../src/clock.ts';
import { decodeArtifact, encodeArtifact, FRAME_SAMPLES } from '../../src/media/artifact.ts';
import { CachedVersion, type HoldCache } from '../../src/media/hold-cache.ts';
import { nativeSendBatch, nativeSendError } from '../../src/media/native-send.ts';
import { RtpScheduler, RtpStream, type RtpSchedulerOptions, type RtpSink } from '../../src/media/rtp-scheduler.ts';
import { RtpPortPool, type RtpSocket } from '../../src/media/rtp-socket.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import type { MohClass } from '../../src/store/types.ts';

/** A version of `frames` frames; frame k of each encoding is distinct (tag, encoding and k in its first bytes). */
function version(id: string, frames: number, tag: number): CachedVersion {
  const n = frames * FRAME_SAMPLES;
  const pcmu = new Uint8Array(n);
  const pcma = new Uint8Array(n);
  for (let k = 0; k < frames; k++) {
    const at = k * FRAME_SAMPLES;
    pcmu.fill((tag * 17 + k) & 0xff, at, at + FRAME_SAMPLES);
    pcma.fill((tag * 17 + k + 128) & 0xff, at, at + FRAME_SAMPLES);
    pcmu[at] = tag;
    pcma[at] = tag | 0x80;
    pcmu[at + 1] = pcma[at + 1] = k;
  }
  const artifact = decodeArtifact(encodeArtifact(pcmu, pcma));
  if (artifact === undefined) throw new Error('synthetic artifact did not decode');
  return new CachedVersion(id, artifact);
}

/** What the scheduler uses of HoldCache: current(tenant, cls). `set` changes what a loop end switches to. */
class FakeCache {
  private readonly versions = new Map<string, CachedVersion>();
  constructor(private readonly fallback: CachedVersion) {}
  set(tenant: string, cls: MohClass, v: CachedVersion): void {
    this.versions.set(`${tenant}|${cls}`, v);
  }
  current(tenant: string, cls: MohClass): CachedVersion {
    return this.versions.get(`${tenant}|${cls}`) ?? this.fallback;
  }
  asHoldCache(): HoldCache {
    return this as unknown as HoldCache;
  }
}

interface Rtp {
  t: number;
  /** Position in the order of all sends of the test. */
  order: number;
  v: number;
  marker: boolean;
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  payload: Buffer;
  length: number;
}

function parse(p: Buffer, t: number, order: number): Rtp {
  return {
    t,
    order,
    v: p[0]! >> 6,
    marker: (p[1]! & 0x80) !== 0,
    pt: p[1]! & 0x7f,
    seq: p.readUInt16BE(2),
    ts: p.readUInt32BE(4),
    ssrc: p.readUInt32BE(8),
    payload: Buffer.from(p.subarray(12)),
    length: p.length,
  };
}

let skew = 0;
/** The scheduler's clock: the fake Date, plus `skew` (a jump without timers running = a blocked event loop). */
const clock = (): number => Date.now() + skew;
let sendOrder = 0;

/** A sink recording every packet (a copy: the scheduler rewrites its packet buffer for the next frame). */
class Sink implements RtpSink {
  readonly got: Rtp[] = [];
  send(packet: Buffer): void {
    this.got.push(parse(packet, clock(), sendOrder++));
  }
}

let scheduler: RtpScheduler | undefined;

function makeScheduler(o: Partial<RtpSchedulerOptions> & { cache: HoldCache }): RtpScheduler {
  scheduler = new RtpScheduler({ clock: { now: clock }, ...o });
  return scheduler;
}

function stream(v: CachedVersion, opts: { pt?: number; alaw?: boolean; tenant?: string } = {}): { s: RtpStream; sink: Sink } {
  const sink = new Sink();
  const s = new RtpStream(opts.tenant ?? 'acme', 'hold', opts.pt ?? 0, opts.alaw ?? false, sink, v);
  return { s, sink };
}

const frameOf = (v: CachedVersion, alaw: boolean, k: number): Buffer => (alaw ? v.pcmaFrames[k]! : v.pcmuFrames[k]!);

/** The sequence-number and timestamp steps between consecutive packets, mod 2^16 / 2^32. */
function steps(got: Rtp[]): { seq: number[]; ts: number[]; dt: number[] } {
  const seq: number[] = [];
  const ts: number[] = [];
  const dt: number[] = [];
  for (let i = 1; i < got.length; i++) {
    seq.push((got[i]!.seq - got[i - 1]!.seq + 0x10000) % 0x10000);
    ts.push(Number((BigInt(got[i]!.ts) - BigInt(got[i - 1]!.ts) + 0x1_0000_0000n) % 0x1_0000_0000n));
    dt.push(got[i]!.t - got[i - 1]!.t);
  }
  return { seq, ts, dt };
}

function fakeTimers(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'], now: 0 });
}

beforeEach(() => {
  skew = 0;
  sendOrder = 0;
});

afterEach(() => {
  scheduler?.stop();
  scheduler = undefined;
  vi.useRealTimers();
});

describe('RtpScheduler with fake timers', () => {
  beforeEach(fakeTimers);

  it('sends RTP per RFC 3550: header, marker on the first packet, seq +1, ts +160, one SSRC, the frames in order, every 20 ms', () => {
    const v = version('v1', 12, 1);
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache() });
    const a = stream(v, { pt: 0 });
    const b = stream(v, { pt: 8, alaw: true });
    const c = stream(v, { pt: 101, alaw: true });
    // Wrap-around of both counters.
    c.s.seq = 0xfffe;
    c.s.ts = 0xffffff00;
    for (const x of [a, b, c]) sched.add(x.s);
    expect(sched.size).toBe(3);
    vi.advanceTimersByTime(200);
    for (const [x, pt, alaw] of [
      [a, 0, false],
      [b, 8, true],
      [c, 101, true],
    ] as const) {
      const got = x.sink.got;
      expect(got.length).toBeGreaterThanOrEqual(10);
      expect(got.length).toBeLessThanOrEqual(11);
      expect(x.s.packets).toBe(got.length);
      got.forEach((p, k) => {
        expect(p.length).toBe(12 + 160);
        expect(p.v).toBe(2);
        expect(p.pt).toBe(pt);
        expect(p.marker).toBe(k === 0);
        expect(p.ssrc).toBe(x.s.ssrc);
        expect(p.payload).toEqual(frameOf(v, alaw, k));
      });
      const d = steps(got);
      expect(d.seq.every((n) => n === 1)).toBe(true);
      expect(d.ts.every((n) => n === FRAME_SAMPLES)).toBe(true);
      for (const dt of d.dt) expect(dt === 19 || dt === 20 || dt === 21, `interval ${dt} ms`).toBe(true);
      expect(got[0]!.t).toBeLessThanOrEqual(20);
    }
    // The wrapped counters.
    expect(c.sink.got.slice(0, 4).map((p) => p.seq)).toEqual([0xfffe, 0xffff, 0, 1]);
    expect(c.sink.got.slice(0, 3).map((p) => p.ts)).toEqual([0xffffff00, 0xffffffa0 >>> 0, 0x40]);
  });

  it('spreads 200 streams added at once over the 20 ms period and keeps their cyclic order period after period', () => {
    const v = version('v1', 50, 1);
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache() });
    const all = Array.from({ length: 200 }, () => stream(v));
    for (const x of all) sched.add(x.s);
    vi.advanceTimersByTime(400);
    // First packets: all within one period (ms 0..20), over most of it.
    const firsts = all.map((x) => x.sink.got[0]!.t);
    expect(Math.max(...firsts)).toBeLessThanOrEqual(20);
    expect(new Set(firsts).size).toBeGreaterThanOrEqual(18);
    // Per tick (fake-clock millisecond), far fewer than 200: ~10 on average.
    const perMs = new Map<number, number>();
    for (const x of all) for (const p of x.sink.got) perMs.set(p.t, (perMs.get(p.t) ?? 0) + 1);
    expect(Math.max(...perMs.values())).toBeLessThanOrEqual(25);
    // Every stream every 20 ms (no stream held back for a burst).
    for (const x of all) {
      expect(x.sink.got.length).toBeGreaterThanOrEqual(19);
      for (const dt of steps(x.sink.got).dt) expect(dt >= 19 && dt <= 21, `interval ${dt} ms`).toBe(true);
    }
    // The streams' order by their k-th packet is the same for every k.
    const orderOf = (k: number) =>
      all
        .map((x, i) => ({ i, o: x.sink.got[k]!.order }))
        .sort((p, q) => p.o - q.o)
        .map((p) => p.i);
    const first = orderOf(0);
    for (let k = 1; k < 19; k++) expect(orderOf(k)).toEqual(first);
  });

  it('a stream added between ticks, due before the next one, starts at its own phase (the timer wakes earlier)', () => {
    const v = version('v1', 40, 1);
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache() });
    const a = stream(v);
    sched.add(a.s); // phase 0: sent at 0, next at 20
    vi.advanceTimersByTime(5);
    const b = stream(v);
    sched.add(b.s); // phase 0.618 * 20 = 12.4 ms
    vi.advanceTimersByTime(100);
    expect(b.sink.got[0]!.t).toBeGreaterThanOrEqual(12);
    expect(b.sink.got[0]!.t).toBeLessThanOrEqual(13);
    for (const x of [a, b]) for (const dt of steps(x.sink.got).dt) expect(dt >= 19 && dt <= 21, `interval ${dt} ms`).toBe(true);
  });

  it('after a stall sends at most maxBurstFrames per stream, skips the rest with the timestamp jumping, gapless sequence, marker, metric', () => {
    const v = version('v1', 40, 1);
    const metrics = new Metrics();
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache(), metrics });
    const all = Array.from({ length: 20 }, () => stream(v));
    for (const x of all) sched.add(x.s);
    vi.advanceTimersByTime(100);
    const before = all.map((x) => x.sink.got.length);
    // The event loop is blocked for 200 ms: the clock moves, no timer runs.
    skew += 200;
    const stallAt = clock();
    vi.advanceTimersByTime(200);
    let skippedTotal = 0;
    all.forEach((x, i) => {
      const got = x.sink.got;
      const d = steps(got);
      expect(d.seq.every((n) => n === 1)).toBe(true);
      // One jump in the timestamps, where the stall was; 160 per frame everywhere else.
      const jumps = d.ts.map((n, k) => ({ n, k })).filter((j) => j.n !== FRAME_SAMPLES);
      expect(jumps).toHaveLength(1);
      const jump = jumps[0]!;
      expect(jump.k + 1).toBe(before[i]);
      expect(jump.n % FRAME_SAMPLES).toBe(0);
      const skipped = jump.n / FRAME_SAMPLES - 1;
      expect(skipped).toBeGreaterThan(0);
      skippedTotal += skipped;
      // Marker on the first packet and on the first after the gap only.
      expect(got.map((p, k) => (p.marker ? k : -1)).filter((k) => k >= 0)).toEqual([0, before[i]]);
      // The catch-up: at most 3 packets at one instant, at least 2 (the backlog was 10 frames).
      const burst = got.filter((p) => p.t === got[before[i]!]!.t).length;
      expect(burst).toBeLessThanOrEqual(3);
      expect(burst).toBeGreaterThanOrEqual(2);
      // The timestamps keep real time: packet k's timestamp is 160 per 20 ms of its due time since the first.
      const last = got[got.length - 1]!;
      const frames = Number((BigInt(last.ts) - BigInt(got[0]!.ts) + 0x1_0000_0000n) % 0x1_0000_0000n) / FRAME_SAMPLES;
      expect(Math.abs(frames * 20 - (last.t - got[0]!.t))).toBeLessThanOrEqual(1);
      // The audio keeps real time too: the payload is the frame of the timestamp.
      expect(last.payload).toEqual(frameOf(v, false, frames % 40));
      // After the catch-up: every 20 ms again, at the stream's own phase in the period.
      const after = got.filter((p) => p.t > stallAt + 1);
      expect(after.length).toBeGreaterThanOrEqual(8);
      for (const dt of steps(after).dt) expect(dt >= 19 && dt <= 21, `interval ${dt} ms`).toBe(true);
      const phaseShift = (last.t - got[0]!.t) % 20;
      expect(Math.min(phaseShift, 20 - phaseShift), `phase moved by ${phaseShift} ms`).toBeLessThanOrEqual(1);
    });
    expect(metrics.mohSkippedFrames.total()).toBe(skippedTotal);
    expect(metrics.mohLateTicks.total()).toBeGreaterThanOrEqual(1);
    expect(sched.maxLagMs).toBeGreaterThanOrEqual(180);
    // The spread survives the stall: still no more than a handful of packets per millisecond.
    const perMs = new Map<number, number>();
    for (const x of all) for (const p of x.sink.got) if (p.t > stallAt + 20) perMs.set(p.t, (perMs.get(p.t) ?? 0) + 1);
    expect(Math.max(...perMs.values())).toBeLessThanOrEqual(4);
  });

  it('never sends more than maxBurstFrames of one stream in one tick, whatever the stall length', () => {
    const v = version('v1', 40, 1);
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache() });
    const all = Array.from({ length: 20 }, () => stream(v));
    for (const x of all) sched.add(x.s);
    vi.advanceTimersByTime(100);
    for (let stall = 60; stall < 100; stall++) {
      const marks = all.map((x) => x.sink.got.length);
      skew += stall;
      vi.advanceTimersByTime(100);
      all.forEach((x, i) => {
        const got = x.sink.got;
        const tick = got[marks[i]!]!.t;
        const burst = got.filter((p) => p.t === tick).length;
        expect(burst, `stall of ${stall} ms: stream ${i} sent ${burst} frames at once`).toBeLessThanOrEqual(3);
      });
    }
    for (const x of all) expect(steps(x.sink.got).seq.every((n) => n === 1)).toBe(true);
  });

  it('honours maxBurstFrames = 1: a late tick sends one frame per stream and skips the others', () => {
    const v = version('v1', 40, 1);
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache(), maxBurstFrames: 1 });
    const all = Array.from({ length: 10 }, () => stream(v));
    for (const x of all) sched.add(x.s);
    vi.advanceTimersByTime(60);
    const before = all.map((x) => x.sink.got.length);
    skew += 95;
    vi.advanceTimersByTime(60);
    all.forEach((x, i) => {
      const got = x.sink.got;
      const burst = got.filter((p) => p.t === got[before[i]!]!.t).length;
      expect(burst).toBe(1);
      expect(steps(got).seq.every((n) => n === 1)).toBe(true);
    });
  });

  it('a paused stream sends nothing, keeps its place in the period and the audio, and resumes with a marker', () => {
    const v = version('v1', 40, 1);
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache() });
    const xs = [stream(v), stream(v), stream(v)];
    for (const x of xs) sched.add(x.s);
    vi.advanceTimersByTime(60);
    const b = xs[1]!;
    const n0 = b.sink.got.length;
    b.s.paused = true;
    vi.advanceTimersByTime(100);
    expect(b.sink.got.length).toBe(n0);
    expect(sched.size).toBe(3);
    b.s.paused = false;
    vi.advanceTimersByTime(100);
    const got = b.sink.got;
    const resumed = got[n0]!;
    const last = got[n0 - 1]!;
    expect(resumed.marker).toBe(true);
    expect((resumed.seq - last.seq + 0x10000) % 0x10000).toBe(1);
    const frames = (resumed.t - last.t) / 20;
    expect(Number.isInteger(frames)).toBe(true);
    expect(frames).toBeGreaterThanOrEqual(5);
    expect(resumed.ts - last.ts).toBe(frames * FRAME_SAMPLES);
    expect(resumed.payload).toEqual(frameOf(v, false, n0 - 1 + frames));
    expect(got.slice(n0 + 1).every((p) => !p.marker)).toBe(true);
    // The others never noticed.
    for (const x of [xs[0]!, xs[2]!]) expect(steps(x.sink.got).dt.every((dt) => dt >= 19 && dt <= 21)).toBe(true);
  });

  it('remove() stops a stream and releases its version once; a stream removed and added again is sent once per period', () => {
    const v = version('v1', 40, 1);
    const metrics = new Metrics();
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache(), metrics });
    const xs = [stream(v), stream(v), stream(v)];
    expect(v.refs).toBe(3);
    for (const x of xs) sched.add(x.s);
    sched.add(xs[0]!.s); // already playing: no second entry
    expect(sched.size).toBe(3);
    vi.advanceTimersByTime(50);
    const [a, b, c] = xs as [ReturnType<typeof stream>, ReturnType<typeof stream>, ReturnType<typeof stream>];
    sched.remove(b.s);
    sched.remove(b.s);
    expect(v.refs).toBe(2);
    expect(sched.size).toBe(2);
    expect(metrics.mohStreams.get()).toBeDefined();
    const nb = b.sink.got.length;
    // Removed and added again within the same period: the old queue entry must not send it too.
    sched.remove(c.s);
    sched.add(c.s);
    expect(sched.size).toBe(2);
    const nc = c.sink.got.length;
    vi.advanceTimersByTime(200);
    expect(b.sink.got.length).toBe(nb);
    // c rejoins at a new phase (one shorter interval at most), then once per period like a.
    for (const got of [a.sink.got, c.sink.got.slice(nc)]) {
      expect(got.length).toBeGreaterThanOrEqual(9);
      for (const dt of steps(got).dt) expect(dt >= 19 && dt <= 21, `interval ${dt} ms`).toBe(true);
    }
    expect(steps(c.sink.got).seq.every((n) => n === 1)).toBe(true);
    expect(c.sink.got.length - nc).toBeLessThanOrEqual(11);
    sched.remove(a.s);
    sched.remove(c.s);
    expect(sched.size).toBe(0);
    const na = a.sink.got.length;
    vi.advanceTimersByTime(100);
    expect(a.sink.got.length).toBe(na);
    expect(vi.getTimerCount()).toBe(0); // idle: the timer stops
  });

  it('loops seamlessly and switches to a newly activated version only at its loop end, moving the refs', () => {
    const a = version('a', 4, 1);
    const b = version('b', 3, 2);
    const cache = new FakeCache(a);
    const sched = makeScheduler({ cache: cache.asHoldCache() });
    const x = stream(a, { pt: 8, alaw: true });
    sched.add(x.s);
    // Two loops of a: frames 0..3 then 0..1.
    while (x.sink.got.length < 6) vi.advanceTimersByTime(1);
    expect(x.sink.got.map((p) => p.payload)).toEqual([0, 1, 2, 3, 0, 1].map((k) => frameOf(a, true, k)));
    // b is activated mid-loop: a plays on to its end (frames 2, 3), then b from its start.
    cache.set('acme', 'hold', b);
    while (x.sink.got.length < 7) vi.advanceTimersByTime(1);
    expect(a.refs).toBe(1);
    expect(b.refs).toBe(0);
    // Sending a's last frame ends its loop: the stream moves to b there.
    while (x.sink.got.length < 8) vi.advanceTimersByTime(1);
    expect(a.refs).toBe(0);
    expect(b.refs).toBe(1);
    while (x.sink.got.length < 14) vi.advanceTimersByTime(1);
    expect(x.sink.got.slice(6).map((p) => p.payload)).toEqual([
      frameOf(a, true, 2),
      frameOf(a, true, 3),
      frameOf(b, true, 0),
      frameOf(b, true, 1),
      frameOf(b, true, 2),
      frameOf(b, true, 0),
      frameOf(b, true, 1),
      frameOf(b, true, 2),
    ]);
    expect(a.refs).toBe(0);
    expect(b.refs).toBe(1);
    // No gap anywhere: marker only on the first packet, seq +1 and ts +160 across both wraps and the switch.
    const d = steps(x.sink.got);
    expect(d.seq.every((n) => n === 1)).toBe(true);
    expect(d.ts.every((n) => n === FRAME_SAMPLES)).toBe(true);
    expect(x.sink.got.map((p) => p.marker)).toEqual([true, ...new Array<boolean>(13).fill(false)]);
    sched.remove(x.s);
    expect(b.refs).toBe(0);
  });

  it('runs onTick while busy and sleeps when idle', () => {
    const v = version('v1', 4, 1);
    let busy = true;
    const ticks: number[] = [];
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache(), isBusy: () => busy, onTick: (now) => ticks.push(now) });
    sched.start();
    vi.advanceTimersByTime(50);
    expect(ticks.length).toBeGreaterThanOrEqual(9);
    busy = false;
    vi.advanceTimersByTime(10);
    const n = ticks.length;
    vi.advanceTimersByTime(100);
    expect(ticks.length).toBe(n);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('RtpScheduler with the native batch send on real sockets', () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  it('3 streams x 5 packets arrive at the receiver with correct headers, sent by the native path', async () => {
    if (nativeSendBatch === undefined) throw new Error(`nativeSendBatch did not load: ${nativeSendError}`);
    // Real I/O first, with real timers.
    const rx = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', () => resolve()));
    closers.push(() => rx.close());
    const got = new Map<number, Buffer[]>();
    let total = 0;
    let onPacket = (): void => {};
    rx.on('message', (m, rinfo) => {
      const list = got.get(rinfo.port) ?? [];
      list.push(m);
      got.set(rinfo.port, list);
      total++;
      onPacket();
    });
    const base = 20000 + Math.floor(Math.random() * 400) * 20;
    const pool = new RtpPortPool({ min: base, max: base + 199 }, monotonicClock);
    const socks: RtpSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await pool.open('127.0.0.1');
      if (s === undefined) throw new Error('no free RTP port');
      closers.push(() => s.close());
      await s.connect('127.0.0.1', rx.address().port);
      expect(s.fd).toBeGreaterThanOrEqual(0);
      socks.push(s);
    }
    const dgramSends = socks.map((s) => vi.spyOn(s, 'send'));

    fakeTimers();
    const v = version('v1', 10, 3);
    const sched = makeScheduler({ cache: new FakeCache(v).asHoldCache(), sendBatch: nativeSendBatch });
    const streams = socks.map((sock, i) => new RtpStream('acme', 'hold', i === 1 ? 8 : 0, i === 1, sock, v));
    for (const s of streams) sched.add(s);
    while (streams.some((s) => s.packets < 5)) vi.advanceTimersByTime(1);
    sched.stop();
    vi.useRealTimers();
    expect(streams.map((s) => s.packets)).toEqual([5, 5, 5]);
    for (const spy of dgramSends) expect(spy).not.toHaveBeenCalled();

    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`received ${total} of 15 datagrams`)), 2000);
      onPacket = () => {
        if (total >= 15) {
          clearTimeout(timer);
          resolve();
        }
      };
      onPacket();
    });
    expect(total).toBe(15);
    streams.forEach((s, i) => {
      const packets = (got.get(socks[i]!.port) ?? []).map((p, k) => parse(p, 0, k));
      expect(packets).toHaveLength(5);
      packets.forEach((p, k) => {
        expect(p.length).toBe(172);
        expect(p.v).toBe(2);
        expect(p.pt).toBe(i === 1 ? 8 : 0);
        expect(p.marker).toBe(k === 0);
        expect(p.ssrc).toBe(s.ssrc);
        expect(p.payload).toEqual(frameOf(v, i === 1, k));
      });
      const d = steps(packets);
      expect(d.seq.every((n) => n === 1)).toBe(true);
      expect(d.ts.every((n) => n === FRAME_SAMPLES)).toBe(true);
    });
  });
});
