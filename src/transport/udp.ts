// SIP over UDP (RFC 3261 §18): one socket, one datagram = one message; flows are cheap per-datagram objects.
// Parsing, retransmission and response routing are the transaction layer's; this file only moves datagrams.
import dgram from 'node:dgram';
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
    return `udp:${this.listener.localPort}:${this.remoteAddress}:${this.remotePort}`;
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
  /** One shared callback for async send errors (no closure per send). */
  private readonly onSent = (err: Error | null): void => {
    if (err) this.ctx.logger.debug({ event: 'transport.udp.send-error', code: (err as NodeJS.ErrnoException).code });
  };

  constructor(private readonly ctx: ListenerContext) {}

  listen(host: string, port: number): Promise<AddressInfo> {
    const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
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
        resolve(addr);
      });
    });
  }

  /** Sends one datagram; false when the socket is not open. Errors arrive asynchronously and are only logged. */
  send(data: Buffer | string, port: number, address: string): boolean {
    const socket = this.socket;
    if (socket === undefined) return false;
    try {
      socket.send(data, port, address, this.onSent);
      return true;
    } catch {
      return false; // closed socket or bad address: Flow.send never throws
    }
  }

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
