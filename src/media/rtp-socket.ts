// RTP sockets from the configured port range (even ports, RFC 3550 §11, each with its RTCP port, the odd one above):
// bind, connect to the peer's address, re-point on a re-INVITE, note what the peer sends (RTP or RTCP) and send
// errors (for the RTP timeout). Scheduling is rtp-scheduler.ts's.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Clock } from '../clock.ts';
import type { RtpSink } from './rtp-scheduler.ts';

export interface PortRange {
  min: number;
  max: number;
}

/** One bound RTP socket, connected to the peer once its address is known. */
export class RtpSocket implements RtpSink {
  /**
   * ms (on the clock) of the last packet from the peer, RTP or RTCP; 0 = none yet. RTCP counts: a phone that sends
   * no RTP while its user is silent (voice activity detection) still sends receiver reports every few seconds.
   */
  lastHeardAt = 0;
  /** ms (on the clock) of the last send error (e.g. ECONNREFUSED after ICMP port unreachable); 0 = none. */
  lastErrorAt = 0;
  /** The socket's descriptor while connected (for the scheduler's native batch send), else -1. */
  fd = -1;
  /**
   * Symmetric RTP for a caller behind NAT: RTP arriving from this IP (the caller's SIP source) moves the stream to
   * the address and port it came from. undefined = off (the SDP's address is used as it is).
   */
  latchFrom: string | undefined;
  /** Called after the stream moved to where the caller's RTP comes from. */
  onLatch: ((address: string, port: number) => void) | undefined;
  private connected = false;
  private remote: { address: string; port: number } | undefined;
  /** Connects run one after the other (a latch may arrive while a re-INVITE's connect is under way). */
  private connecting: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: dgram.Socket,
    readonly address: string,
    readonly port: number,
    private readonly onClose: (port: number) => void,
    private readonly clock: Clock,
    /** Bound on port + 1: takes the peer's RTCP (which would otherwise draw ICMP port-unreachable errors). */
    private readonly rtcp?: dgram.Socket,
  ) {
    const heard = (): void => {
      this.lastHeardAt = clock.now();
    };
    socket.on('message', (_m, from) => {
      heard();
      const r = this.remote;
      if (this.latchFrom === from.address && (r === undefined || r.address !== from.address || r.port !== from.port)) {
        this.connect(from.address, from.port).then(
          () => this.onLatch?.(from.address, from.port),
          () => undefined,
        );
      }
    });
    rtcp?.on('message', heard);
    rtcp?.on('error', () => undefined);
    socket.on('error', () => {
      this.lastErrorAt = clock.now();
    });
  }

  /** Points the socket at the peer's RTP address (first time, a re-INVITE's new one, or where its RTP comes from). */
  connect(address: string, port: number): Promise<void> {
    if (this.remote && this.remote.address === address && this.remote.port === port) return this.connecting;
    this.remote = { address, port };
    const next = this.connecting.then(async () => {
      if (this.connected) {
        this.fd = -1;
        this.socket.disconnect();
        this.connected = false;
      }
      await new Promise<void>((resolve, reject) => {
        this.socket.connect(port, address, (err?: Error) => (err ? reject(err) : resolve()));
      });
      this.connected = true;
      this.fd = socketFd(this.socket);
    });
    // A failed connect (bad address) is the caller's to see; the chain goes on for the next one.
    this.connecting = next.catch(() => undefined);
    return next;
  }

  sendFailed(): void {
    this.lastErrorAt = this.clock.now();
  }

  send(packet: Buffer): void {
    if (!this.connected) return;
    try {
      this.socket.send(packet);
    } catch {
      this.lastErrorAt = this.clock.now();
    }
  }

  close(): void {
    // First: the scheduler's next batch must not name a descriptor that is about to be closed (rtp_send.c).
    this.fd = -1;
    for (const sock of [this.socket, this.rtcp]) {
      try {
        sock?.close();
      } catch {
        // already closed
      }
    }
    this.onClose(this.port);
  }
}

/**
 * The descriptor of a bound dgram socket, for the native batch send; -1 when it cannot be had. dgram keeps its libuv
 * handle (whose `fd` getter Node has had since 0.x) in an internal state object under a symbol; `socket._handle`
 * reaches the same handle but prints a deprecation warning (DEP0112). Node versions without it: -1, dgram sends.
 */
function socketFd(socket: dgram.Socket): number {
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === 'state symbol');
  const state = key === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[key];
  const fd = state?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/**
 * Hands out bound sockets on even ports of the range with their RTCP port (the odd one above, inside the range too),
 * round robin, skipping pairs of which either port is in use by anyone.
 */
export class RtpPortPool {
  private next: number;
  private readonly inUse = new Set<number>();

  constructor(
    private readonly range: PortRange,
    /** The clock the sockets note what they hear and their send errors by (the scheduler's). */
    private readonly clock: Clock,
  ) {
    this.next = range.min + (range.min & 1);
  }

  get used(): number {
    return this.inUse.size;
  }

  /** Binds a socket on `address` (the address the SDP will announce); undefined when the range is exhausted. */
  async open(address: string): Promise<RtpSocket | undefined> {
    const first = this.range.min + (this.range.min & 1);
    // The last RTP port leaves room for its RTCP port: even, at most max - 1.
    const last = this.range.max - 1 - ((this.range.max - 1) & 1);
    const count = last < first ? 0 : (last - first) / 2 + 1;
    for (let tries = 0; tries < count; tries++) {
      const port = this.next > last ? first : this.next;
      this.next = port + 2 > last ? first : port + 2;
      if (this.inUse.has(port)) continue;
      const socket = await bound(address, port);
      if (socket === undefined) continue;
      const rtcp = await bound(address, port + 1);
      if (rtcp === undefined) {
        socket.close();
        continue;
      }
      this.inUse.add(port);
      return new RtpSocket(socket, address, port, (p) => this.inUse.delete(p), this.clock, rtcp);
    }
    return undefined;
  }
}

/** A UDP socket bound to address:port, or undefined when the port is taken (or the address not ours). */
async function bound(address: string, port: number): Promise<dgram.Socket | undefined> {
  const socket = dgram.createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
  const ok = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, address, () => resolve(true));
  });
  if (!ok) {
    try {
      socket.close();
    } catch {
      // never bound
    }
    return undefined;
  }
  socket.removeAllListeners('error');
  return socket;
}
