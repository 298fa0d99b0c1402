// SIP over UDP (RFC 3261 §18): one socket, one datagram = one message; flows are cheap per-datagram objects.
// Parsing, retransmission and response routing are the transaction layer's; this file only moves datagrams.
import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIPv6, type AddressInfo } from 'node:net';
import type { Flow, TransportKind } from './flow.ts';
import { isKeepAlive, type ListenerContext } from './listener-context.ts';
import { isStun, stunBindingResponse } from './stun.ts';

/** Asked of the kernel so a burst (12 k REGISTER/s) survives a slow event-loop turn; capped by net.core.rmem_max. */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * The way back to one UDP peer. Not stored anywhere by the listener: one small object per datagram, with the id
 * string built only when someone asks for it. Id format: 'udp:<localPort>:<ip>:<port>'.
 */
export class UdpFlow implements Flow {
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

/** The UDP listening socket; also the sending socket for every UDP flow. */
export class UdpListener {
  private socket: dgram.Socket | undefined;
  localAddress = '';
  localPort = 0;
  /** 'udp:<localPort>:', the start of every flow id of this listener. */
  idPrefix = 'udp:0:';
  /** Send errors for addresses that need resolving (the rare slow path): logged at debug, one shared callback. */
  private readonly onSent = (err: Error | null): void => {
    if (err) this.ctx.logger.debug({ event: 'transport.udp.send-error', code: (err as NodeJS.ErrnoException).code });
  };

  constructor(private readonly ctx: ListenerContext) {}

  listen(host: string, port: number): Promise<AddressInfo> {
    const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', lookup: lookupLiteral });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.ctx.logger.warn({ event: 'transport.udp.error', code: (err as NodeJS.ErrnoException).code }));
        socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port));
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
   * with the rest of this loop turn's after its I/O callbacks (setImmediate): the up to 32 requests libuv reads per
   * wake-up get their responses back to back, so a peer that sleeps between packets is woken about once per burst
   * instead of once per datagram (REGISTER load: ~10 % less edge CPU per request). Hot path: no callback,
   * because given one, dgram defers a completion callback per send (process.nextTick) even when the kernel took the
   * datagram at once; a datagram the kernel refuses is lost like one lost on the wire (the peer retransmits,
   * §17.1.2.2). Other addresses are resolved first, and their errors (lookup or send) are logged at debug.
   */
  send(data: Buffer | string, port: number, address: string): boolean {
    const socket = this.socket;
    if (socket === undefined || !(port > 0 && port < 65536 && (port | 0) === port)) return false;
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
    const socket = this.socket;
    if (socket === undefined) return;
    for (let i = 0; i < q.length; i += 3) {
      const address = q[i + 2] as string;
      try {
        if (isIPLiteral(address)) socket.send(q[i] as Buffer, q[i + 1] as number, address);
        else socket.send(q[i] as Buffer, q[i + 1] as number, address, this.onSent);
      } catch {
        // closed socket or bad address
      }
    }
  };

  /** A Flow for sending to address:port from this socket. */
  flow(address: string, port: number): UdpFlow {
    return new UdpFlow(this, address, port);
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
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
