// One timer for every hold-music stream: one queue of streams in due order, each tick sends what is due (bounded
// catch-up burst after a late tick, the rest skipped with the timestamp advanced), RTP header per RFC 3550 §5.1.
// Sockets and dialogs are rtp-socket.ts's and moh-service.ts's; the shared frames are hold-cache.ts's.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { CounterCell } from '../observability/fast-counter.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { MohClass } from '../store/types.ts';
import { FRAME_SAMPLES } from './artifact.ts';
import type { CachedVersion, HoldCache } from './hold-cache.ts';
import type { SendBatch } from './native-send.ts';

/** Frame duration; ms. */
const FRAME_MS = 20;
/** A frame due within this much of a tick is sent by it (saves a timer round for a fraction of a millisecond); ms. */
const EARLY_MS = 0.5;
/** onTick (2xx retransmissions, dialog sweeps) runs at most this often; ms. */
const HOUSEKEEPING_MS = 5;
const RTP_HEADER = 12;

/** Room per packet in the native batch buffer; a larger packet goes through sink.send. */
const BATCH_STRIDE = 256;
/** Packets per native send call (a tick with more flushes several times). */
const BATCH_SIZE = 256;

/** Where a stream's packets go: a connected UDP socket, or anything with the same send. */
export interface RtpSink {
  send(packet: Buffer): void;
  /** The connected socket's descriptor for the native batch send; -1 or absent = use send(). */
  readonly fd?: number;
  /** A native send failed with this errno (e.g. ECONNREFUSED after an ICMP port unreachable). */
  sendFailed?(errno: number): void;
}

/** One tick's packets for the native send: built in place, sent in one call per BATCH_SIZE. */
class Batch {
  readonly fds = new Int32Array(BATCH_SIZE);
  readonly lengths = new Int32Array(BATCH_SIZE);
  readonly errors = new Int32Array(BATCH_SIZE);
  readonly packets = Buffer.alloc(BATCH_SIZE * BATCH_STRIDE);
  readonly sinks: (RtpSink | undefined)[] = new Array<RtpSink | undefined>(BATCH_SIZE).fill(undefined);
  n = 0;
  constructor(private readonly sendBatch: SendBatch) {}

  flush(): void {
    const n = this.n;
    if (n === 0) return;
    this.n = 0;
    const sent = this.sendBatch(this.fds, this.packets, BATCH_STRIDE, this.lengths, n, this.errors);
    if (sent === n) return;
    for (let i = 0; i < n; i++) if (this.errors[i] !== 0) this.sinks[i]?.sendFailed?.(this.errors[i]!);
  }
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
  /** When the next frame is due; ms on the scheduler's clock. */
  due = 0;
  /** Queue entry token while scheduled (> 0), -1 when not (see RtpScheduler). */
  slot = -1;
  packets = 0;
  /**
   * The packet buffer, rewritten for every frame: a connected UDP send hands it to the kernel before returning; were
   * a send ever queued instead (EAGAIN), the kernel would get the next frame's bytes 20 ms later, still valid audio.
   */
  packet: Buffer = Buffer.alloc(0);

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
  /** Time in ms for due times and lag (clock.ts's monotonicClock in the edge; tests pass a fake one and call tick()). */
  clock: Clock;
  /**
   * Native batch send (native-send.ts's nativeSendBatch): packets of sinks with an fd go out in one call per batch
   * instead of one dgram send each. Undefined: every packet through sink.send.
   */
  sendBatch?: SendBatch;
}

/**
 * Drives all streams from one setTimeout chain. Every stream has its own due time (20 ms apart) and all of them sit
 * in one queue in due order: as every period is the same, a stream served from the front goes to the back and the
 * queue stays sorted without a heap (it holds at most one period: every due time within 20 ms of the front's). A tick
 * sends whatever is due and sleeps until the front's due time, so the sending is spread evenly over each 20 ms instead
 * of in bursts, and under load the streams still go out in the same cyclic order: a late tick delays a stream's
 * packet, it never reorders the streams. A new stream gets a phase in the 20 ms period from a golden-ratio sequence
 * (evenly spread for any number of streams, without knowing it) and is inserted at its place in the queue, so a
 * thousand calls put on hold at once do not become one burst.
 */
export class RtpScheduler {
  /**
   * Ring of scheduled streams in due order: `count` entries from `head` (capacity a power of two, doubled when full;
   * no allocation in steady state). `tokens` holds each entry's token: an entry is stale when it differs from the
   * stream's slot (removed, or removed and added again).
   */
  private q: (RtpStream | undefined)[] = new Array<RtpStream | undefined>(1024).fill(undefined);
  private tokens = new Float64Array(1024);
  private mask = 1023;
  private head = 0;
  private count = 0;
  private nextToken = 1;
  /** Streams added so far: the index into the golden-ratio sequence of phases. */
  private joined = 0;
  private live = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Set instead of `timer` when the front is due within a millisecond (libuv timers cannot wait less). */
  private immediate: NodeJS.Immediate | undefined;
  private readonly clock: Clock;
  private readonly maxBurst: number;
  /**
   * Both start as doubles (-0 is one; 0 would be a small integer): a field that first holds a small integer and later
   * a fraction changes the object's hidden class, which throws away the optimised code of every method using `this`
   * (measured: a 200 ms burst of 20-30 ms stalls with 2,000 streams, 10 s after start when the window first rolled).
   */
  private windowMax = -0;
  private windowStart = -0;
  private lastHousekeeping = -Infinity;
  /** Largest lag seen since start; ms (benchmarks read it). */
  maxLagMs = -0;
  lateTicks = 0;
  private readonly packets: CounterCell | undefined;
  private readonly skipped: CounterCell | undefined;
  private readonly late: CounterCell | undefined;
  private readonly batch: Batch | undefined;

  constructor(private readonly o: RtpSchedulerOptions) {
    this.clock = o.clock;
    this.batch = o.sendBatch ? new Batch(o.sendBatch) : undefined;
    this.windowStart = this.clock.now();
    this.maxBurst = o.maxBurstFrames ?? 3;
    this.packets = o.metrics?.mohPackets.labels();
    this.skipped = o.metrics?.mohSkippedFrames.labels();
    this.late = o.metrics?.mohLateTicks.labels();
  }

  get size(): number {
    return this.live;
  }

  /**
   * Starts sending `s`: its first frame goes out within a frame time or two, at a golden-ratio phase of the period
   * (k * 0.618... of 20 ms for the k-th stream added). Appending new streams at the back instead, spaced after the
   * last one, cannot work: the queue would span more than one period (200 streams added at once spanned ~100 ms),
   * and a served stream re-queued at the back would then be due before the streams ahead of it, so the ones behind it
   * waited for it and went out together (a burst of ~80 packets every 20 ms).
   */
  add(s: RtpStream): void {
    if (s.slot >= 0) return;
    const now = this.clock.now();
    const phase = ((this.joined++ * 0.6180339887498949) % 1) * FRAME_MS;
    // The due time must lie within one period of every queued one (within [back - 20, front + 20]) to keep the queue
    // sorted; from `now` in the usual case, from the front when the front is overdue.
    const frontDue = this.frontDue();
    const back = this.backDue();
    const from = this.count > 0 ? Math.min(frontDue, Math.max(now, back - FRAME_MS)) : now;
    s.due = from + (((phase - from) % FRAME_MS) + FRAME_MS) % FRAME_MS;
    this.insert(s, this.nextToken++);
    this.live++;
    this.o.metrics?.mohStreams.set(this.live);
    if (this.timer !== undefined && this.frontDue() === s.due) {
      // Due before the stream the timer sleeps for: wake earlier.
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.arm(now);
  }

  /** Stops `s` and releases its version (its queue entry goes stale and is dropped when reached). */
  remove(s: RtpStream): void {
    if (s.slot < 0) return;
    s.slot = -1;
    s.version.refs--;
    this.live--;
    this.o.metrics?.mohStreams.set(this.live);
  }

  /** Wakes the timer for onTick work (it sleeps again once idle). */
  start(): void {
    this.arm(this.clock.now());
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.stopped = true;
  }

  private stopped = false;

  /** Due time of the last live entry; -Infinity when none. */
  private backDue(): number {
    for (let k = this.count - 1; k >= 0; k--) {
      const i = (this.head + k) & this.mask;
      if (this.tokens[i] === this.q[i]!.slot) return this.q[i]!.due;
    }
    return -Infinity;
  }

  /**
   * Queues `s` at its place in due order: after the last live entry due no later than it (stale entries carry no
   * meaningful due time and are skipped). Usually the back (a served stream's next due time is the latest); further
   * in for a new stream and for a stream whose catch-up skipped frames after a late tick (its phase in the period
   * stays, so it may be due before streams served earlier in the same tick).
   */
  private insert(s: RtpStream, token: number): void {
    let k = this.count;
    while (k > 0) {
      const i = (this.head + k - 1) & this.mask;
      const e = this.q[i]!;
      if (this.tokens[i] === e.slot && e.due <= s.due) break;
      k--;
    }
    if (this.count === this.q.length) this.grow();
    s.slot = token;
    // Entries after position k move one back (none in the usual case of k at the back).
    for (let j = this.count; j > k; j--) {
      const to = (this.head + j) & this.mask;
      const from = (this.head + j - 1) & this.mask;
      this.q[to] = this.q[from];
      this.tokens[to] = this.tokens[from]!;
    }
    const i = (this.head + k) & this.mask;
    this.q[i] = s;
    this.tokens[i] = token;
    this.count++;
  }

  private grow(): void {
    const cap = this.q.length * 2;
    const q = new Array<RtpStream | undefined>(cap).fill(undefined);
    const tokens = new Float64Array(cap);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & this.mask;
      q[k] = this.q[i];
      tokens[k] = this.tokens[i]!;
    }
    this.q = q;
    this.tokens = tokens;
    this.mask = cap - 1;
    this.head = 0;
  }

  /** Takes the front entry off the ring. */
  private shift(): void {
    this.q[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.count--;
  }

  /**
   * Sleeps until the front stream is due (libuv timers: at least 1 ms), or HOUSEKEEPING_MS when only busy. A front
   * already overdue (the tick itself took longer than the early window, under load) runs on the next loop turn: a
   * 1 ms sleep there would let the backlog grow into bursts of several milliseconds, the jitter this scheduler
   * exists to avoid.
   */
  private arm(now: number): void {
    if (this.timer !== undefined || this.immediate !== undefined || this.stopped) return;
    let delay: number;
    if (this.live > 0) delay = this.frontDue() - now;
    else if (this.o.isBusy?.() === true) delay = HOUSEKEEPING_MS;
    else return;
    if (delay <= 0) {
      // Not unref'd: an unref'd immediate lets the poll phase block until some other timer, which defeats it.
      this.immediate = setImmediate(this.onImmediate);
    } else {
      this.timer = setTimeout(this.onTimer, Math.max(1, delay));
      this.timer.unref();
    }
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.tick();
  };

  private readonly onImmediate = (): void => {
    this.immediate = undefined;
    this.tick();
  };

  /** Due time of the first live entry (stale entries at the front are dropped here). */
  private frontDue(): number {
    while (this.count > 0 && this.tokens[this.head] !== this.q[this.head]!.slot) this.shift();
    return this.count > 0 ? this.q[this.head]!.due : Infinity;
  }

  /**
   * Sends what is due at the clock's time and runs onTick housekeeping; the scheduler's own timer calls it, and so may
   * a test that moves a fake clock (as the transaction layer's and the upstream set's tick()).
   */
  tick(): void {
    const now = this.clock.now();
    // Lag: how long after its due time the first frame of this run goes out.
    const lag = this.live > 0 ? Math.max(0, now - this.frontDue()) : 0;
    if (lag > this.maxLagMs) this.maxLagMs = lag;
    if (lag >= FRAME_MS) {
      this.lateTicks++;
      this.late?.inc();
    }
    if (now - this.windowStart >= 10_000) this.rollWindow(now);
    if (lag > this.windowMax) this.windowMax = lag;

    const limit = now + EARLY_MS;
    const lateLimit = this.maxBurst * FRAME_MS;
    let sent = 0;
    while (this.count > 0) {
      const s = this.q[this.head]!;
      const token = this.tokens[this.head]!;
      if (token !== s.slot) {
        this.shift();
        continue;
      }
      if (s.due > limit) break;
      this.shift();
      // Measured from the tick's limit, not `now`: a frame due within EARLY_MS goes out in this tick too, and would
      // otherwise be a (maxBurst + 1)th one.
      const behind = limit - s.due;
      if (behind >= lateLimit) {
        // Bounded catch-up: send at most maxBurst frames of the backlog, skip the rest (timestamps keep real time).
        const skip = Math.floor(behind / FRAME_MS) - this.maxBurst + 1;
        this.advance(s, skip);
        s.due += skip * FRAME_MS;
        this.skipped?.inc(skip);
      }
      if (s.paused) this.advance(s, 1);
      else {
        this.sendOne(s);
        sent++;
      }
      s.due += FRAME_MS;
      this.insert(s, token);
    }
    // The batch goes out before onTick: onTick may end calls and close their sockets, and a descriptor must not be
    // closed (and perhaps reused) while a batch still names it (rtp_send.c: descriptor lifetime).
    this.batch?.flush();
    if (sent > 0) this.packets?.inc(sent);
    if (now - this.lastHousekeeping >= HOUSEKEEPING_MS) {
      this.lastHousekeeping = now;
      this.o.onTick?.(now);
    }
    this.arm(this.clock.now());
  }

  /** Publishes the window's largest lag and starts the next 10 s window. */
  private rollWindow(now: number): void {
    this.o.metrics?.mohMaxLag.set(this.windowMax / 1000);
    this.windowMax = 0;
    this.windowStart = now;
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
    const length = RTP_HEADER + payload.length;
    const sink = s.sink;
    const b = this.batch;
    const fd = b === undefined ? -1 : (sink.fd ?? -1);
    if (b !== undefined && fd >= 0 && length <= BATCH_STRIDE) {
      const i = b.n++;
      writePacket(b.packets, i * BATCH_STRIDE, s, payload);
      b.fds[i] = fd;
      b.lengths[i] = length;
      b.sinks[i] = sink;
      if (b.n === BATCH_SIZE) b.flush();
    } else {
      let p = s.packet;
      if (p.length !== length) p = s.packet = Buffer.alloc(length);
      writePacket(p, 0, s, payload);
      sink.send(p);
    }
    s.marker = false;
    s.seq = (s.seq + 1) & 0xffff;
    s.ts = (s.ts + FRAME_SAMPLES) >>> 0;
    s.packets++;
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

/** RTP fixed header (RFC 3550 §5.1) and payload into `p` at `at`. */
function writePacket(p: Buffer, at: number, s: RtpStream, payload: Uint8Array): void {
  const seq = s.seq;
  const ts = s.ts;
  const ssrc = s.ssrc;
  p[at] = 0x80; // V=2, no padding, no extension, no CSRC
  p[at + 1] = (s.marker ? 0x80 : 0) | s.payloadType;
  p[at + 2] = seq >>> 8;
  p[at + 3] = seq & 0xff;
  p[at + 4] = ts >>> 24;
  p[at + 5] = (ts >>> 16) & 0xff;
  p[at + 6] = (ts >>> 8) & 0xff;
  p[at + 7] = ts & 0xff;
  p[at + 8] = ssrc >>> 24;
  p[at + 9] = (ssrc >>> 16) & 0xff;
  p[at + 10] = (ssrc >>> 8) & 0xff;
  p[at + 11] = ssrc & 0xff;
  p.set(payload, at + RTP_HEADER);
}
