// One timer for every hold-music stream: a 20 ms grid, each tick sends every stream's due frames (bounded catch-up
// burst after a late tick, the rest skipped with the timestamp advanced), RTP header per RFC 3550 §5.1.
// Sockets and dialogs are rtp-port-pool.ts's and moh-service.ts's; the shared frames are hold-cache.ts's.
import { randomBytes } from 'node:crypto';
import type { Metrics } from '../observability/metrics.ts';
import type { MohClass } from '../store/types.ts';
import { FRAME_SAMPLES } from './artifact.ts';
import type { CachedVersion, HoldCache } from './hold-cache.ts';

/** Frame duration; ms. */
export const FRAME_MS = 20;
/** The timer runs on a 5 ms grid; each stream sends every 4th grid point, in the phase it joined on. */
const PHASES = 4;
const SUB_MS = FRAME_MS / PHASES;
const RTP_HEADER = 12;

/** Where a stream's packets go: a connected UDP socket, or anything with the same send. */
export interface RtpSink {
  send(packet: Buffer): void;
}

/** One RTP stream: its own SSRC, sequence and timestamp, reading the shared frames of one cached version. */
export class RtpStream {
  version: CachedVersion;
  frame = 0;
  seq: number;
  ts: number;
  readonly ssrc: number;
  marker = true;
  /** Paused streams (peer put us on hold: sendonly/inactive offer) keep their place but send nothing. */
  paused = false;
  /** Grid point (5 ms units) at which the next frame is due. */
  nextTick = 0;
  /** Index in the scheduler's array (swap-remove). */
  slot = -1;
  packets = 0;

  constructor(
    readonly tenant: string,
    readonly cls: MohClass,
    /** RTP payload type as negotiated (0 and 8 unless the offer mapped them dynamically). */
    public payloadType: number,
    /** Whether the payload is A-law (PCMA) rather than µ-law (PCMU). */
    public isAlaw: boolean,
    public sink: RtpSink,
    version: CachedVersion,
  ) {
    const r = randomBytes(10);
    // RFC 3550 §5.1: random initial sequence number and timestamp, random SSRC.
    this.seq = r.readUInt16BE(0);
    this.ts = r.readUInt32BE(2);
    this.ssrc = r.readUInt32BE(6);
    this.version = version;
    version.refs++;
  }
}

export interface RtpSchedulerOptions {
  cache: HoldCache;
  metrics?: Metrics;
  /** Frames a stream may send in one tick to catch up; default 3. */
  maxBurstFrames?: number;
  /** Work to run about once a second on the same timer (dialog sweeps, 2xx retransmissions run every tick). */
  onTick?: (now: number) => void;
  /** Whether the timer must keep running without streams (pending 2xx retransmissions, dialog sweeps). */
  isBusy?: () => boolean;
  /** Clock in ms (performance.now by default; tests and benchmarks may pass another). */
  now?: () => number;
}

/**
 * Drives all streams from one setTimeout chain on a 5 ms grid. A stream joins at the next grid point and then sends
 * every 4th one (every 20 ms, always in the same phase), so its packets are exactly one frame apart while the
 * sending of many streams is spread over four smaller bursts per frame instead of one.
 */
export class RtpScheduler {
  private readonly streams: RtpStream[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly origin: number;
  private tickNo = 0;
  private readonly now: () => number;
  private readonly maxBurst: number;
  private windowMax = 0;
  private windowStart = 0;
  /** Largest lag seen since start; ms (benchmarks read it). */
  maxLagMs = 0;
  lateTicks = 0;
  private readonly packets: { inc(n?: number): void } | undefined;
  private readonly skipped: { inc(n?: number): void } | undefined;
  private readonly late: { inc(n?: number): void } | undefined;

  constructor(private readonly o: RtpSchedulerOptions) {
    this.now = o.now ?? (() => performance.now());
    this.origin = this.now();
    this.maxBurst = o.maxBurstFrames ?? 3;
    this.packets = o.metrics?.mohPackets.labels();
    this.skipped = o.metrics?.mohSkippedFrames.labels();
    this.late = o.metrics?.mohLateTicks.labels();
  }

  get size(): number {
    return this.streams.length;
  }

  /** Starts sending `s` at the next grid point. */
  add(s: RtpStream): void {
    if (s.slot >= 0) return;
    if (this.timer === undefined && !this.stopped) this.tickNo = this.currentTick();
    s.nextTick = this.currentTick() + 1;
    s.slot = this.streams.length;
    this.streams.push(s);
    this.o.metrics?.mohStreams.set(this.streams.length);
    this.arm();
  }

  /** Stops `s` and releases its version. */
  remove(s: RtpStream): void {
    if (s.slot < 0) return;
    const last = this.streams.pop()!;
    if (last !== s) {
      this.streams[s.slot] = last;
      last.slot = s.slot;
    }
    s.slot = -1;
    s.version.refs--;
    this.o.metrics?.mohStreams.set(this.streams.length);
  }

  /** Wakes the timer for onTick work (it sleeps again once idle). */
  start(): void {
    if (this.timer === undefined && !this.stopped) this.tickNo = this.currentTick();
    this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  private stopped = false;

  private currentTick(): number {
    return Math.floor((this.now() - this.origin) / SUB_MS);
  }

  private arm(): void {
    if (this.timer !== undefined || this.stopped) return;
    const next = this.origin + (this.tickNo + 1) * SUB_MS;
    this.timer = setTimeout(() => this.tick(), Math.max(0, next - this.now()));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    const now = this.now();
    // Serve at least the grid point this run was armed for: libuv timers have 1 ms resolution and may fire a
    // fraction of a millisecond before it (flooring `now` would then skip a frame and send two 20 ms later).
    const tick = Math.max(Math.floor((now - this.origin) / SUB_MS), this.tickNo + 1);
    // Lag: how long after its due time the grid point this run was armed for is served.
    const lag = Math.max(0, now - (this.origin + (this.tickNo + 1) * SUB_MS));
    this.tickNo = tick;
    if (lag > this.maxLagMs) this.maxLagMs = lag;
    if (lag >= FRAME_MS) {
      this.lateTicks++;
      this.late?.inc();
    }
    if (now - this.windowStart >= 10_000) {
      this.o.metrics?.mohMaxLag.set(this.windowMax / 1000);
      this.windowMax = 0;
      this.windowStart = now;
    }
    if (lag > this.windowMax) this.windowMax = lag;
    let sent = 0;
    const streams = this.streams;
    for (let i = 0; i < streams.length; i++) sent += this.service(streams[i]!, tick);
    if (sent > 0) this.packets?.inc(sent);
    this.o.onTick?.(now);
    // Idle (no stream, nothing pending): stop ticking until add() or start().
    if (streams.length > 0 || this.o.isBusy?.() === true) this.arm();
  }

  /** Sends the frames of `s` due up to `tick`: at most maxBurst, the rest skipped (timestamp still advances). */
  private service(s: RtpStream, tick: number): number {
    if (tick < s.nextTick) return 0;
    const due = Math.floor((tick - s.nextTick) / PHASES) + 1;
    s.nextTick += due * PHASES;
    if (s.paused) {
      this.advance(s, due);
      return 0;
    }
    let send = due;
    if (due > this.maxBurst) {
      this.skipped?.inc(due - this.maxBurst);
      this.advance(s, due - this.maxBurst);
      send = this.maxBurst;
    }
    for (let k = 0; k < send; k++) this.sendOne(s);
    return send;
  }

  /** Moves the stream `n` frames on without sending (timestamps keep real time; sequence numbers stay gapless). */
  private advance(s: RtpStream, n: number): void {
    for (let k = 0; k < n; k++) {
      s.ts = (s.ts + FRAME_SAMPLES) >>> 0;
      this.nextFrame(s);
    }
    s.marker = true; // RFC 3551 §4.1: marker after a gap in sending.
  }

  private sendOne(s: RtpStream): void {
    const v = s.version;
    const payload = s.isAlaw ? v.pcmaFrames[s.frame]! : v.pcmuFrames[s.frame]!;
    const p = Buffer.allocUnsafe(RTP_HEADER + payload.length);
    p[0] = 0x80; // V=2, no padding, no extension, no CSRC
    p[1] = (s.marker ? 0x80 : 0) | s.payloadType;
    p.writeUInt16BE(s.seq, 2);
    p.writeUInt32BE(s.ts, 4);
    p.writeUInt32BE(s.ssrc, 8);
    payload.copy(p, RTP_HEADER);
    s.marker = false;
    s.seq = (s.seq + 1) & 0xffff;
    s.ts = (s.ts + FRAME_SAMPLES) >>> 0;
    s.packets++;
    s.sink.send(p);
    this.nextFrame(s);
  }

  /** Next frame; at the loop end a stream switches to the tenant's current version (it finishes its loop first). */
  private nextFrame(s: RtpStream): void {
    s.frame++;
    if (s.frame < s.version.frames) return;
    s.frame = 0;
    const cur = this.o.cache.current(s.tenant, s.cls);
    if (cur !== s.version) {
      s.version.refs--;
      cur.refs++;
      s.version = cur;
    }
  }
}
