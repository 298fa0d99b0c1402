// SIP over UDP (RFC 3261 §18): one socket, one datagram = one message; flows are cheap per-datagram objects.
// Parsing, retransmission and response routing are the transaction layer's; this file only moves datagrams.
import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import { isIPv6, type AddressInfo } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Flow, TransportKind } from './flow.ts';
import { isKeepAlive, type ListenerContext } from './listener-context.ts';
import { isStun, stunBindingResponse } from './stun.ts';
import { FairQueue } from './fair-queue.ts';
import { nativeUdp, type NativeUdp } from './native-udp.ts';

/** Asked of the kernel so a burst (12 k REGISTER/s) survives a slow event-loop turn; capped by net.core.rmem_max. */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * Native path: the receive buffer, asked past net.core.rmem_max where the process may (sip_udp.c): ~1 s of a flood of
 * 40,000 datagrams/s, so a phone's datagram waits in it through a slow event-loop turn (300 ms while a flood's first
 * admitted INVITEs were handled) instead of being dropped with the flood's; it is read empty at every turn
 * (DRAIN_ROUNDS).
 */
const NATIVE_RECV_BUFFER_BYTES = 32 * 1024 * 1024;
/** Native path: the send buffer for a loop turn's responses, sent in one sendmmsg (capped by net.core.wmem_max). */
const SEND_BUFFER_BYTES = 4 * 1024 * 1024;
/** Native path: datagrams per recvmmsg. */
const BATCH = 64;
/**
 * Native path: recvmmsg calls per readable event at most, enough to empty the receive buffer (NATIVE_RECV_BUFFER_BYTES
 * holds ~25,000 datagrams of a few hundred bytes). Reading it empty before handling what was read is what lets the
 * flood guard see each source's real rate: read only as fast as it was handled (512 per event before), a flood of
 * 47,000 INVITE/s from 200 addresses reached the edge at ~60/s per address, under the guard's budget, for 6 s while
 * the kernel dropped 30,000-45,000 datagrams/s, phones' REGISTERs among them (registration p99 7.5 s, bans only after
 * 6 s; load-tests/run-flood.ts --timeline).
 */
const DRAIN_ROUNDS = 512;
/** Native path: messages handled per turn before the socket is read again (the rest wait in the fair queue). */
const SLICE = 128;
/**
 * Native path: messages read but not yet handled (FairQueue's capacity): ~0.6 s of INVITEs at the edge's capacity.
 * What is over a source's share is dropped (sipedge_sip_dropped_total{reason="overload"}).
 */
const MAX_WAITING = 8192;
/** Native path: receive slot size; a longer datagram arrives truncated and is dropped as oversize. */
const STRIDE = 65_536;
/** Native path: int32s of meta per datagram (sip_udp.c). */
const META = 8;
/** Native path: the reasons sip_udp.c's send counts drops by, in its order (the sipedge_udp_send_dropped_total label). */
const SEND_DROP_REASONS = ['no-room', 'refused', 'bad-entry'] as const;

/**
 * The way back to one UDP peer. Not stored anywhere by the listener: one small object per datagram, with the id
 * string built only when someone asks for it. Id format: 'udp:<localPort>:<ip>:<port>'.
 */
class UdpFlow implements Flow {
  constructor(
    private readonly listener: UdpListener,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {}
  get id(): string {
    return this.listener.idPrefix + this.remoteAddress + ':' + this.remotePort;
  }
  get transport(): TransportKind {
    return 'udp';
  }
  get isReliable(): boolean {
    return false;
  }
  get isOpen(): boolean {
    return true;
  }
  get localAddress(): string {
    return this.listener.localAddress;
  }
  get localPort(): number {
    return this.listener.localPort;
  }
  send(data: Buffer | string): boolean {
    return this.listener.send(data, this.remotePort, this.remoteAddress);
  }
}

/**
 * The UDP listening socket; also the sending socket for every UDP flow. Its I/O is batched native code
 * (native-udp.ts: recvmmsg/sendmmsg) when that is built, else Node's dgram; both behave the same to the layers above.
 */
export class UdpListener {
  private socket: dgram.Socket | undefined;
  /** Native path: the socket's descriptor (-1 when closed), family, and the readiness watch. */
  private fd = -1;
  private family: 4 | 6 = 4;
  private watch: object | undefined;
  private rx: { buf: Buffer; meta: Int32Array; bytes: Uint8Array } | undefined;
  /** Native path: IPv4 source addresses as strings, by their 4 bytes read as an int32 (one string per peer). */
  private readonly v4Names = new Map<number, string>();
  /** Native path: drops of one flush by reason (sip_udp.c adds to it), and their counters, bound once. */
  private readonly sendDrops = new Int32Array(SEND_DROP_REASONS.length);
  private readonly sendDropCounters: { inc(n?: number): void }[];
  localAddress = '';
  localPort = 0;
  /** 'udp:<localPort>:', the start of every flow id of this listener. */
  idPrefix = 'udp:0:';
  constructor(
    private readonly ctx: ListenerContext,
    private readonly native: NativeUdp | undefined = nativeUdp,
  ) {
    this.sendDropCounters = SEND_DROP_REASONS.map((r) => ctx.metrics.udpSendDrops.labels(r));
  }

  /** 'native' (recvmmsg/sendmmsg) or 'dgram': how this listener moves datagrams. */
  get io(): 'native' | 'dgram' {
    return this.native === undefined ? 'dgram' : 'native';
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    if (this.native !== undefined) return this.listenNative(this.native, host, port);
    this.family = isIPv6(host) ? 6 : 4;
    const socket = dgram.createSocket({ type: this.family === 6 ? 'udp6' : 'udp4', lookup: lookupLiteral });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.ctx.logger.warn({ event: 'transport.udp.error', code: (err as NodeJS.ErrnoException).code }));
        socket.on('message', (msg, rinfo) => {
          if (this.ctx.admit(rinfo.address, 'udp')) this.onDatagram(msg, rinfo.address, rinfo.port);
        });
        try {
          socket.setRecvBufferSize(RECV_BUFFER_BYTES);
        } catch {
          // Not fatal: the kernel default applies.
        }
        const addr = socket.address();
        this.localAddress = addr.address;
        this.localPort = addr.port;
        this.idPrefix = `udp:${addr.port}:`;
        resolve(addr);
      });
    });
  }

  /**
   * Sends one datagram; false when the socket is not open or the port is not one. The datagram is queued and sent
   * with the rest of this loop turn's after its I/O callbacks (setImmediate): the requests read in one wake-up (up to
   * 32 by libuv's dgram) or handled in one turn (up to SLICE natively) get their responses back to back, natively in
   * sendmmsg calls of up to 64, so a peer that sleeps between packets is woken about once per burst instead of once
   * per datagram (REGISTER load, dgram: ~10 % less edge CPU per request). A host name is resolved first and the datagram queued
   * then (a lookup error is logged at debug), so both I/O paths only ever see IP literals.
   *
   * What the kernel does not take, the two paths treat differently. Native: a datagram it has no room for (socket
   * buffer full) or refuses is dropped and counted (sipedge_udp_send_dropped_total), like one lost on the wire: a
   * request's sender retransmits (RFC 3261 §17.1.2.2), and a lost response is sent again when the retransmitted
   * request reaches its transaction. dgram queues a datagram the kernel has no room for until the socket is writable
   * (memory instead of loss), and drops the others silently: sends carry no callback, because given one, dgram defers a
   * completion callback per send (process.nextTick) even when the kernel took the datagram at once.
   */
  send(data: Buffer | string, port: number, address: string): boolean {
    if ((this.socket === undefined && this.fd < 0) || !(port > 0 && port < 65536 && (port | 0) === port)) return false;
    if (!isIPLiteral(address)) {
      this.resolveThenSend(data, port, address);
      return true;
    }
    const q = this.queue;
    q.push(data, port, address);
    if (q.length === 3) setImmediate(this.flush);
    return true;
  }

  /** Datagrams of this loop turn, flattened (data, port, address): sent together after the turn's I/O callbacks. */
  private queue: (Buffer | string | number)[] = [];
  private readonly flush = (): void => {
    const q = this.queue;
    this.queue = [];
    if (this.native !== undefined) {
      this.flushNative(this.native, q);
      return;
    }
    const socket = this.socket;
    if (socket === undefined) return;
    for (let i = 0; i < q.length; i += 3) {
      try {
        socket.send(q[i] as Buffer, q[i + 1] as number, q[i + 2] as string);
      } catch {
        // dgram refuses an entry it cannot send at once (a bad port or address): dropped like on the native path.
        this.sendDropCounters[2]!.inc();
      }
    }
  };

  /** A Flow for sending to address:port from this socket. */
  flow(address: string, port: number): UdpFlow {
    return new UdpFlow(this, address, port);
  }

  close(): Promise<void> {
    if (this.native !== undefined) {
      if (this.watch !== undefined) this.native.unwatch(this.watch);
      if (this.fd >= 0) this.native.close(this.fd);
      this.watch = undefined;
      this.fd = -1;
      this.rx = undefined;
      this.waiting = new FairQueue(MAX_WAITING);
      return Promise.resolve();
    }
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  private async listenNative(native: NativeUdp, host: string, port: number): Promise<AddressInfo> {
    // As dgram does for a name: an IPv4 socket on the address the name resolves to (fails with ENOTFOUND & co.).
    if (!isIPLiteral(host)) host = (await dnsLookupAsync(host, { family: 4 })).address;
    const [fd, family, boundPort, boundAddress] = native.open(host, port, NATIVE_RECV_BUFFER_BYTES, SEND_BUFFER_BYTES);
    this.fd = fd;
    this.family = family;
    const meta = new Int32Array(BATCH * META);
    this.rx = { buf: Buffer.allocUnsafe(BATCH * STRIDE), meta, bytes: new Uint8Array(meta.buffer) };
    this.watch = native.watch(fd, this.onReadable);
    this.localAddress = boundAddress;
    this.localPort = boundPort;
    this.idPrefix = `udp:${boundPort}:`;
    return { address: boundAddress, family: family === 6 ? 'IPv6' : 'IPv4', port: boundPort };
  }

  /**
   * Native path, called by the event loop while the socket is readable: reads up to DRAIN_ROUNDS batches of BATCH
   * datagrams (the receive buffer, emptied), charges each to the flood guard before it is copied out of its receive
   * slot, and queues the admitted ones by source (FairQueue); then handles one SLICE of them. A failed poll (`status`
   * < 0, a pending socket error) is logged; sip_udp.c has already read the error away and watches again, unless it gave
   * up (`stopped`: the socket no longer receives, which needs an operator's restart).
   */
  private readonly onReadable = (status: number, stopped: boolean): void => {
    const native = this.native;
    const rx = this.rx;
    if (native === undefined || rx === undefined) return;
    if (status < 0) {
      const code = getSystemErrorName(status);
      if (stopped) {
        this.ctx.logger.error({ event: 'transport.udp.poll-stopped', code, address: `${this.localAddress}:${this.localPort}` });
        return;
      }
      this.ctx.logger.warn({ event: 'transport.udp.poll-error', code });
    }
    const { buf, meta } = rx;
    for (let round = 0; round < DRAIN_ROUNDS; round++) {
      const count = native.recv(this.fd, buf, STRIDE, meta, BATCH);
      if (count < 0) {
        this.ctx.logger.debug({ event: 'transport.udp.recv-error', errno: -count });
        break;
      }
      for (let i = 0; i < count; i++) {
        const m = i * META;
        const length = meta[m];
        if (meta[m + 3] === 1) {
          // Longer than a receive slot (64 KiB): no SIP message over UDP.
          this.ctx.drop('oversize');
          continue;
        }
        const address = meta[m + 2] === 4 ? this.v4Name(meta[m + 4], rx.bytes, (m + 4) * 4) : ipv6Name(rx.bytes, (m + 4) * 4);
        // The flood guard's budget before the datagram is copied out of its slot, let alone parsed.
        if (!this.ctx.admit(address, 'udp')) continue;
        // Nor is one copied that the fair queue would refuse (a flood's first second: ~13,000 of them).
        if (!this.waiting.accepts(address)) {
          this.ctx.drop('overload');
          continue;
        }
        const msg = Buffer.allocUnsafe(length);
        buf.copy(msg, 0, i * STRIDE, i * STRIDE + length);
        this.waiting.push(address, { msg, address, port: meta[m + 1] });
      }
      if (count < BATCH) break;
    }
    this.serve();
  };

  /** Native path: messages read and admitted, waiting to be handled, by source. */
  private waiting = new FairQueue<{ msg: Buffer; address: string; port: number }>(MAX_WAITING);
  private serveScheduled = false;

  /**
   * Native path: handles one SLICE of the waiting messages, one per source in turn, in each source's order (as dgram's
   * 'message' events come; onDatagram drops what is too long; the handler's errors are deliver's to contain). What is
   * left waits for the next turn of the event loop, after the socket has been read again.
   */
  private serve(): void {
    const rx = this.rx;
    this.waiting.serve(SLICE, (w) => {
      if (this.rx === rx) this.onDatagram(w.msg, w.address, w.port); // else closed by a handler
    });
    if (this.waiting.size > 0 && this.rx === rx && !this.serveScheduled) {
      this.serveScheduled = true;
      setImmediate(this.serveLater);
    }
  }

  private readonly serveLater = (): void => {
    this.serveScheduled = false;
    this.serve();
  };

  private v4Name(key: number, bytes: Uint8Array, o: number): string {
    let name = this.v4Names.get(key);
    if (name === undefined) {
      if (this.v4Names.size >= 65_536) this.v4Names.clear();
      name = `${bytes[o]}.${bytes[o + 1]}.${bytes[o + 2]}.${bytes[o + 3]}`;
      this.v4Names.set(key, name);
    }
    return name;
  }

  /** Native path: the loop turn's datagrams in sendmmsg batches; what is dropped is counted by reason (see send). */
  private flushNative(native: NativeUdp, q: (Buffer | string | number)[]): void {
    if (this.fd < 0) return;
    const drops = this.sendDrops;
    let dropped: number;
    try {
      dropped = native.send(this.fd, this.family, q, q.length / 3, drops);
    } catch {
      // Only a queue of the wrong shape throws (a bug of ours); count it instead of throwing out of setImmediate.
      dropped = q.length / 3;
      drops[2] = dropped;
    }
    if (dropped === 0) return;
    for (let r = 0; r < drops.length; r++) {
      if (drops[r]! > 0) this.sendDropCounters[r]!.inc(drops[r]);
      drops[r] = 0;
    }
    this.ctx.logger.debug({ event: 'transport.udp.send-dropped', datagrams: dropped });
  }

  /**
   * A host name as the socket's family needs it: IPv4 for an IPv4 socket, IPv6 for dgram's 'udp6', either for the
   * native dual-stack socket (it sends to IPv4 as v4-mapped).
   */
  private resolveThenSend(data: Buffer | string, port: number, address: string): void {
    const family = this.family === 4 ? 4 : this.native !== undefined ? 0 : 6;
    dnsLookup(address, { family }, (err, ip) => {
      if (err) this.ctx.logger.debug({ event: 'transport.udp.send-error', code: err.code });
      else this.send(data, port, ip);
    });
  }

  /** Hot path: no logging, one object (the flow) beyond the Buffer dgram gives us. */
  private onDatagram(msg: Buffer, address: string, port: number): void {
    if (msg.length > this.ctx.maxMessageBytes) {
      this.ctx.drop('oversize');
      return;
    }
    if (isKeepAlive(msg)) return;
    if (msg[0] < 0x20 && isStun(msg)) {
      // RFC 5626 §4.4.2: outbound clients keep UDP flows alive with STUN Binding requests to the SIP port.
      const res = stunBindingResponse(msg, address, port);
      if (res !== undefined) this.send(res, port, address);
      return;
    }
    this.ctx.deliver(msg, new UdpFlow(this, address, port));
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * dgram's address lookup for every send. Node's default (dns.lookup) answers even an IP literal on the next tick,
 * after a regex test, with a closure per send; every address the edge sends to is a literal from a datagram's source,
 * so those are answered synchronously (dgram then sends within socket.send). Anything else goes to dns.lookup as before.
 */
function lookupLiteral(address: string, family: number | LookupOneOptions, callback: LookupCallback): void {
  if (isIPLiteral(address)) {
    callback(null, address, typeof family === 'number' ? family : 0);
    return;
  }
  dnsLookup(address, family as LookupOneOptions, callback);
}

/**
 * The text form of the IPv6 address in bytes[o .. o+16), as inet_ntop(3) (and so Node's rinfo.address) writes it:
 * lower-case hex, the longest run of two or more zero groups as '::' (the first of equal runs), and the IPv4 forms
 * ::ffff:a.b.c.d and ::a.b.c.d.
 */
export function ipv6Name(bytes: Uint8Array, o: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[o + 2 * i]! << 8) | bytes[o + 2 * i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  if (bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    const v4 = `${bytes[o + 12]}.${bytes[o + 13]}.${bytes[o + 14]}.${bytes[o + 15]}`;
    return bestLen === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    out += words[i]!.toString(16) + (i < 7 ? ':' : '');
  }
  return out;
}

function isIPLiteral(address: string): boolean {
  return isIPv4Literal(address) || (address.includes(':') && isIPv6(address));
}

/** Dotted-quad IPv4 as net.isIPv4 accepts it (four 0-255 parts, no leading zeros), with char codes, no regex. */
export function isIPv4Literal(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let i = 0;
  while (i <= n) {
    const start = i;
    let value = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || value > 255 || (len > 1 && s.charCodeAt(start) === 0x30)) return false;
    parts++;
    if (i === n) return parts === 4;
    if (parts === 4 || s.charCodeAt(i) !== 0x2e) return false;
    i++;
  }
  return false;
}
