// The native batched RTP send (src/media/native/rtp_send.c via native-send.ts) on real UDP sockets on loopback:
// RtpPortPool sockets connected to a receiver, their descriptors taken the way the scheduler takes them (RtpSocket.fd),
// one packet each per call; per-entry errno for bad descriptors, bad lengths and refused ports; argument checking.
import dgram from 'node:dgram';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { monotonicClock } from '../../src/clock.ts';
import { nativeSendBatch, nativeSendError, type SendBatch } from '../../src/media/native-send.ts';
import { RtpPortPool, type RtpSocket } from '../../src/media/rtp-socket.ts';

const STRIDE = 256;
const EBADF = 9;
const EINVAL = 22;
const ECONNREFUSED = 111;

let send: SendBatch;
const closers: (() => void)[] = [];

beforeAll(() => {
  // The test install step builds the addon with --require: not loading it is a failure, not a skip.
  if (nativeSendBatch === undefined) throw new Error(`nativeSendBatch did not load: ${nativeSendError}`);
  send = nativeSendBatch;
});

afterEach(() => {
  for (const c of closers.splice(0)) c();
});

interface Received {
  payload: Buffer;
  port: number;
}

/** A bound dgram socket on 127.0.0.1 collecting datagrams; `until(n)` resolves once n have arrived. */
async function receiver(): Promise<{ port: number; got: Received[]; until(n: number): Promise<Received[]> }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  closers.push(() => sock.close());
  const got: Received[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  sock.on('message', (payload, rinfo) => {
    got.push({ payload, port: rinfo.port });
    if (waiter && got.length >= waiter.n) waiter.resolve();
  });
  return {
    port: sock.address().port,
    got,
    until: (n) =>
      new Promise<Received[]>((resolve, reject) => {
        if (got.length >= n) return resolve(got);
        const timer = setTimeout(() => reject(new Error(`received ${got.length} of ${n} datagrams`)), 2000);
        waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(got);
          },
        };
      }),
  };
}

/** `n` RtpSockets from a pool on a random even range, connected to `port` on 127.0.0.1. */
async function senders(n: number, port: number): Promise<RtpSocket[]> {
  const base = 20000 + Math.floor(Math.random() * 400) * 20;
  const pool = new RtpPortPool({ min: base, max: base + 199 }, monotonicClock);
  const out: RtpSocket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await pool.open('127.0.0.1');
    if (s === undefined) throw new Error('no free RTP port');
    closers.push(() => s.close());
    await s.connect('127.0.0.1', port);
    expect(s.fd).toBeGreaterThanOrEqual(0);
    out.push(s);
  }
  return out;
}

/** A distinct payload per entry: its index in every byte, a length of its own. */
function payload(i: number, length: number): Buffer {
  const b = Buffer.alloc(length, i + 1);
  if (length > 0) b[0] = 0xa0 + i;
  return b;
}

/** The call's arguments for these (fd, payload) entries, packets at STRIDE apart. */
function batch(entries: { fd: number; payload: Buffer; length?: number }[]) {
  const n = entries.length;
  const fds = new Int32Array(n);
  const lengths = new Int32Array(n);
  const errors = new Int32Array(n).fill(-7);
  const packets = new Uint8Array(n * STRIDE);
  entries.forEach((e, i) => {
    fds[i] = e.fd;
    packets.set(e.payload.subarray(0, Math.min(e.payload.length, STRIDE)), i * STRIDE);
    lengths[i] = e.length ?? e.payload.length;
  });
  return { fds, packets, lengths, errors, n };
}

describe('native batched send', () => {
  it('is loaded', () => {
    expect(nativeSendError).toBeUndefined();
    expect(typeof nativeSendBatch).toBe('function');
  });

  it('sends packet i on socket i: exact payloads from the right source ports', async () => {
    const r = await receiver();
    const socks = await senders(5, r.port);
    const lengths = [1, 20, 172, 200, STRIDE];
    const payloads = lengths.map((l, i) => payload(i, l));
    const b = batch(socks.map((s, i) => ({ fd: s.fd, payload: payloads[i]! })));
    expect(send(b.fds, b.packets, STRIDE, b.lengths, b.n, b.errors)).toBe(5);
    expect([...b.errors]).toEqual([0, 0, 0, 0, 0]);
    const got = await r.until(5);
    const byPort = new Map(got.map((g) => [g.port, g.payload]));
    expect(got).toHaveLength(5);
    socks.forEach((s, i) => expect(byPort.get(s.port)).toEqual(payloads[i]));
  });

  it('reads the packets from a view with a byte offset (a Buffer slice of a larger pool)', async () => {
    const r = await receiver();
    const [s] = await senders(1, r.port);
    const big = new Uint8Array(3 * STRIDE);
    const view = big.subarray(STRIDE); // byteOffset 256
    const p = payload(3, 33);
    view.set(p, 0);
    big.fill(0xee, 0, STRIDE); // what a send ignoring the offset would read
    const errors = new Int32Array(1);
    expect(send(new Int32Array([s!.fd]), view, STRIDE, new Int32Array([33]), 1, errors)).toBe(1);
    expect((await r.until(1))[0]!.payload).toEqual(p);
  });

  it('reports EBADF for a closed or bogus descriptor and EINVAL for a bad length, sending the others', async () => {
    const r = await receiver();
    const socks = await senders(5, r.port);
    const closedFd = socks[1]!.fd;
    socks[1]!.close(); // libuv closes the descriptor at once; nothing opens another before the call below
    const p = [0, 1, 2, 3, 4, 5, 6].map((i) => payload(i, 40 + i));
    const b = batch([
      { fd: socks[0]!.fd, payload: p[0]! },
      { fd: closedFd, payload: p[1]! },
      { fd: 999_999, payload: p[2]! },
      { fd: socks[2]!.fd, payload: p[3]! },
      { fd: socks[3]!.fd, payload: p[4]!, length: STRIDE + 1 },
      { fd: socks[4]!.fd, payload: p[5]!, length: -1 },
      { fd: socks[4]!.fd, payload: p[6]! },
    ]);
    expect(send(b.fds, b.packets, STRIDE, b.lengths, b.n, b.errors)).toBe(3);
    expect([...b.errors]).toEqual([0, EBADF, EBADF, 0, EINVAL, EINVAL, 0]);
    // A marker sent afterwards on the same loopback path: once it is in, everything sent before it is too.
    const marker = payload(9, 9);
    const m = batch([{ fd: socks[0]!.fd, payload: marker }]);
    expect(send(m.fds, m.packets, STRIDE, m.lengths, 1, m.errors)).toBe(1);
    const got = await r.until(4);
    expect(got.map((g) => [g.port, g.payload])).toEqual([
      [socks[0]!.port, p[0]],
      [socks[2]!.port, p[3]],
      [socks[4]!.port, p[6]],
      [socks[0]!.port, marker],
    ]);
  });

  it('reports ECONNREFUSED for a port nobody listens on (loopback answers with ICMP inside the first send)', async () => {
    const dead = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => dead.bind(0, '127.0.0.1', () => resolve()));
    const deadPort = dead.address().port;
    dead.close();
    const r = await receiver();
    const [live] = await senders(1, r.port);
    const [refused] = await senders(1, deadPort);
    const p = payload(1, 30);
    // The port-unreachable ICMP is generated on loopback while the first send runs, and the socket's pending error
    // is returned by the next send on it: within one batch (no event-loop turn in between, in which libuv's receive
    // path would take the error and dgram report it as an 'error' event instead).
    const b = batch([
      { fd: refused!.fd, payload: p },
      { fd: live!.fd, payload: p },
      { fd: refused!.fd, payload: p },
    ]);
    expect(send(b.fds, b.packets, STRIDE, b.lengths, b.n, b.errors)).toBe(2);
    expect([...b.errors]).toEqual([0, 0, ECONNREFUSED]);
    // Given an event-loop turn, the error goes the other way: RtpSocket's 'error' listener records it.
    const again = batch([{ fd: refused!.fd, payload: p }]);
    send(again.fds, again.packets, STRIDE, again.lengths, 1, again.errors);
    expect(again.errors[0]).toBe(0);
    const deadline = performance.now() + 2000;
    while (refused!.lastErrorAt === 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(refused!.lastErrorAt).toBeGreaterThan(0);
    expect((await r.until(1))[0]!.payload).toEqual(p);
  });

  it('rejects wrong argument types with TypeError', () => {
    const fds = new Int32Array(1);
    const packets = new Uint8Array(STRIDE);
    const lengths = new Int32Array(1);
    const errors = new Int32Array(1);
    const call = (...args: unknown[]) => (send as unknown as (...a: unknown[]) => number)(...args);
    expect(() => call([3], packets, STRIDE, lengths, 1, errors)).toThrow(TypeError);
    expect(() => call(new Uint32Array(1), packets, STRIDE, lengths, 1, errors)).toThrow(TypeError);
    expect(() => call(fds, new Int8Array(STRIDE), STRIDE, lengths, 1, errors)).toThrow(TypeError);
    expect(() => call(fds, Buffer.alloc(STRIDE).buffer, STRIDE, lengths, 1, errors)).toThrow(TypeError);
    expect(() => call(fds, packets, '256', lengths, 1, errors)).toThrow(TypeError);
    expect(() => call(fds, packets, STRIDE, new Uint8Array(4), 1, errors)).toThrow(TypeError);
    expect(() => call(fds, packets, STRIDE, lengths, 1n, errors)).toThrow(TypeError);
    expect(() => call(fds, packets, STRIDE, lengths, 1, undefined)).toThrow(TypeError);
    expect(() => call(fds, packets, STRIDE, lengths, 1)).toThrow(TypeError);
    expect(() => call()).toThrow(TypeError);
  });

  it('rejects a count beyond any of the arrays, a negative count and a stride of 0 with RangeError', () => {
    const ok = { fds: new Int32Array(2), packets: new Uint8Array(2 * STRIDE), lengths: new Int32Array(2), errors: new Int32Array(2) };
    const call = (o: Partial<typeof ok>, count: number, stride = STRIDE) => {
      const a = { ...ok, ...o };
      return send(a.fds, a.packets, stride, a.lengths, count, a.errors);
    };
    expect(() => call({}, 3)).toThrow(RangeError);
    expect(() => call({ fds: new Int32Array(1) }, 2)).toThrow(RangeError);
    expect(() => call({ lengths: new Int32Array(1) }, 2)).toThrow(RangeError);
    expect(() => call({ errors: new Int32Array(1) }, 2)).toThrow(RangeError);
    expect(() => call({ packets: new Uint8Array(2 * STRIDE - 1) }, 2)).toThrow(RangeError);
    expect(() => call({}, -1)).toThrow(RangeError);
    expect(() => call({}, 1, 0)).toThrow(RangeError);
    // Within bounds, nothing to send: 0 and no throw.
    expect(call({}, 0)).toBe(0);
  });
});
