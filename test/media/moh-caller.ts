// Test actors for hold-music calls: a caller (an upstream PBX at 127.0.0.2 sending INVITE/ACK/BYE/re-INVITE over a
// SipPeer), the UDP socket that receives its RTP and parses each packet's header, and the fake-clock driver that
// moves the edge's streams on as its timer would in real time.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { FakeClock } from '../../src/clock.ts';
import type { Msg, SipPeer } from '../helpers/sip-peer.ts';

export interface RtpPacket {
  version: number;
  marker: boolean;
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  payload: Buffer;
  size: number;
}

/** A datagram the receiver sends itself to know that everything sent to it before has been read (settled()). */
const MARK = Buffer.from('sipedge-test-settled');

/** A UDP socket that records every RTP packet it receives. */
export class RtpReceiver {
  readonly packets: RtpPacket[] = [];
  private mark: (() => void) | undefined;
  private waiting: { count: number; resolve: () => void } | undefined;
  private constructor(readonly socket: dgram.Socket, readonly address: string, readonly port: number) {
    socket.on('message', (m) => {
      if (m.equals(MARK)) {
        this.mark?.();
        return;
      }
      this.packets.push({
        version: m[0]! >> 6,
        marker: (m[1]! & 0x80) !== 0,
        pt: m[1]! & 0x7f,
        seq: m.readUInt16BE(2),
        ts: m.readUInt32BE(4),
        ssrc: m.readUInt32BE(8),
        payload: m.subarray(12),
        size: m.length,
      });
      if (this.waiting !== undefined && this.packets.length >= this.waiting.count) this.waiting.resolve();
    });
  }

  /** Resolves once `count` packets have arrived (real time: for stories on the edge's own clock); fails after timeoutMs. */
  async received(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.packets.length >= count) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`received ${this.packets.length} of ${count} RTP packets`)), timeoutMs);
      this.waiting = {
        count,
        resolve: () => {
          clearTimeout(t);
          this.waiting = undefined;
          resolve();
        },
      };
    });
  }

  static async open(address = '127.0.0.2'): Promise<RtpReceiver> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    return new RtpReceiver(s, address, s.address().port);
  }

  /**
   * Resolves once every packet sent to this socket before the call has been read: a marker it sends itself queues
   * behind them. One loop turn first (the edge sends a turn's SIP datagrams in setImmediate) and one after (other
   * sockets made readable by the same sends, such as the edge's RTP socket, have had their turn too).
   */
  async settled(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    await new Promise<void>((resolve) => {
      this.mark = resolve;
      this.socket.send(MARK, this.port, this.address);
    });
    this.mark = undefined;
    await new Promise((r) => setImmediate(r));
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

/** Fake time played before the receivers read what it sent: 25 packets a stream, well within a socket's buffer. */
const CHUNK_MS = 500;

/**
 * Moves the edge's fake clock on by `ms` in 5 ms steps and runs the hold-music scheduler at each, as its timer does in
 * real time: frames go out when due, 2xx retransmissions and timeouts when theirs come. Every CHUNK_MS it waits until
 * the receivers have read what was sent (a socket's receive buffer holds a few hundred packets; more would be lost).
 */
export async function play(clock: FakeClock, scheduler: { tick(): void }, ms: number, receivers: RtpReceiver[]): Promise<void> {
  for (let t = 0; t < ms; ) {
    const end = Math.min(ms, t + CHUNK_MS);
    for (; t < end; t += 5) {
      clock.advance(5);
      scheduler.tick();
    }
    for (const r of receivers) await r.settled();
  }
}

export function offer(address: string, port: number, pts = '0 8', direction = 'sendrecv', rtpmap = ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000']): string {
  return ['v=0', `o=pbx 1 1 IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0', `m=audio ${port} RTP/AVP ${pts}`, ...rtpmap, `a=${direction}`, ''].join('\r\n');
}

/** One call from the "PBX" to the edge's hold-music URI. */
export class MohCall {
  readonly callId = randomBytes(8).toString('hex');
  readonly fromTag = randomBytes(4).toString('hex');
  toTag: string | undefined;
  cseq = 0;
  constructor(
    readonly client: SipPeer,
    readonly ruri: string,
  ) {}

  private headers(method: string, branch: string, body: string, extra: string[] = []): string {
    const c = this.client;
    return [
      `${method} ${this.ruri} SIP/2.0`,
      `Via: ${c.via};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:pbx@${c.host}>;tag=${this.fromTag}`,
      `To: <${this.ruri}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${this.cseq} ${method}`,
      `Contact: <sip:pbx@${c.host}:${c.port}>`,
      ...extra,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /** Sends an INVITE (or re-INVITE once there is a To tag) and resolves with its final response. */
  async invite(sdp: string, extra: string[] = []): Promise<Msg> {
    this.cseq++;
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const res = await this.client.sendRequest(this.headers('INVITE', branch, sdp, extra), this.callId, this.cseq);
    if (res.status === 200 && this.toTag === undefined) this.toTag = /;tag=([^;>\s]+)/.exec(res.header('to') ?? '')?.[1];
    return res;
  }

  ack(body = ''): void {
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const text = this.headers('ACK', branch, body).replace(/CSeq: \d+ ACK/, `CSeq: ${this.cseq} ACK`);
    this.client.send(text);
  }

  async bye(): Promise<Msg> {
    this.cseq++;
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    return this.client.sendRequest(this.headers('BYE', branch, ''), this.callId, this.cseq);
  }
}
