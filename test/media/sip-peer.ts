// Test actor for hold-music calls: an upstream PBX at 127.0.0.2 that sends INVITE/ACK/BYE/re-INVITE over a real UDP
// socket and receives RTP on its own UDP socket, parsing each packet's header.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { SipClient, type SipResponse } from '../helpers/sip-client.ts';

export interface RtpPacket {
  at: number;
  version: number;
  marker: boolean;
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  payload: Buffer;
  size: number;
}

/** A UDP socket that records every RTP packet it receives. */
export class RtpReceiver {
  readonly packets: RtpPacket[] = [];
  private constructor(readonly socket: dgram.Socket, readonly address: string, readonly port: number) {
    socket.on('message', (m) => {
      this.packets.push({
        at: performance.now(),
        version: m[0]! >> 6,
        marker: (m[1]! & 0x80) !== 0,
        pt: m[1]! & 0x7f,
        seq: m.readUInt16BE(2),
        ts: m.readUInt32BE(4),
        ssrc: m.readUInt32BE(8),
        payload: m.subarray(12),
        size: m.length,
      });
    });
  }

  static async open(address = '127.0.0.2'): Promise<RtpReceiver> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    return new RtpReceiver(s, address, s.address().port);
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
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
    readonly client: SipClient,
    readonly edgePort: number,
    readonly ruri: string,
  ) {}

  private headers(method: string, branch: string, body: string, extra: string[] = []): string {
    const c = this.client;
    return [
      `${method} ${this.ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${c.localHost}:${c.localPort};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:pbx@${c.localHost}>;tag=${this.fromTag}`,
      `To: <${this.ruri}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${this.cseq} ${method}`,
      `Contact: <sip:pbx@${c.localHost}:${c.localPort}>`,
      ...extra,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /** Sends an INVITE (or re-INVITE once there is a To tag) and resolves with its final response. */
  async invite(sdp: string, extra: string[] = []): Promise<SipResponse> {
    this.cseq++;
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const res = await this.client.request(this.headers('INVITE', branch, sdp, extra), this.callId, this.cseq);
    if (res.status === 200 && this.toTag === undefined) this.toTag = /;tag=([^;>\s]+)/.exec(res.header('to') ?? '')?.[1];
    return res;
  }

  ack(body = ''): void {
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const text = this.headers('ACK', branch, body).replace(/CSeq: \d+ ACK/, `CSeq: ${this.cseq} ACK`);
    this.client.send(text);
  }

  async bye(): Promise<SipResponse> {
    this.cseq++;
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    return this.client.request(this.headers('BYE', branch, ''), this.callId, this.cseq);
  }
}

/** The SDP body of a response. */
export function bodyOf(r: SipResponse): string {
  const i = r.raw.indexOf('\r\n\r\n');
  return i < 0 ? '' : r.raw.slice(i + 4);
}
