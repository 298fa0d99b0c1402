// SDP offer/answer for hold music (RFC 3264 with sdp-transform): pick PCMU or PCMA from the offer in the offerer's
// order, answer sendonly with ptime 20 (inactive when the offer does not let us send), or say why not (488).
import sdpTransform from 'sdp-transform';

/** Codecs we can send, by static payload type (RFC 3551) and encoding name. */
const SUPPORTED: Record<string, number> = { PCMU: 0, PCMA: 8 };
const NAMES: Record<number, string> = { 0: 'PCMU', 8: 'PCMA' };

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface OfferInfo {
  /** Peer's RTP address and port. */
  address: string;
  port: number;
  /** Offered formats we support, in the offerer's order (payload types as offered). */
  payloadTypes: number[];
  /** Codec name per payload type. */
  codecs: Map<number, string>;
  /** The offer's direction (from the peer's point of view). */
  direction: Direction;
}

export type OfferResult = { ok: true; offer: OfferInfo } | { ok: false; reason: string };

/** Reads an SDP offer; { ok: false } with a reason when it has no usable audio stream or no common codec. */
export function readOffer(body: string): OfferResult {
  let s: sdpTransform.SessionDescription;
  try {
    s = sdpTransform.parse(body);
  } catch {
    return { ok: false, reason: 'unreadable SDP' };
  }
  const m = (s.media ?? []).find((x) => x.type === 'audio' && x.port !== 0);
  if (m === undefined) return { ok: false, reason: 'no active audio stream in the offer' };
  if (!/^RTP\/AVP$/i.test(m.protocol)) return { ok: false, reason: `transport ${m.protocol} is not supported (RTP/AVP only)` };
  const address = m.connection?.ip ?? s.connection?.ip;
  if (address === undefined) return { ok: false, reason: 'no connection address (c=) in the offer' };
  const codecs = new Map<number, string>();
  const pts: number[] = [];
  for (const p of String(m.payloads ?? '').split(' ').filter(Boolean).map(Number)) {
    const rtp = m.rtp.find((r) => r.payload === p);
    const name = rtp ? rtp.codec.toUpperCase() : NAMES[p];
    const rate = rtp ? rtp.rate : 8000;
    if (name !== undefined && SUPPORTED[name] !== undefined && (rate === undefined || rate === 8000)) {
      codecs.set(p, name);
      pts.push(p);
    }
  }
  if (pts.length === 0) return { ok: false, reason: 'no common codec (PCMU or PCMA at 8000 Hz)' };
  const direction = (m.direction ?? s.direction ?? 'sendrecv') as Direction;
  return { ok: true, offer: { address, port: m.port, payloadTypes: pts, codecs, direction } };
}

/** Our direction answering `offered` (RFC 3264 §6.1): we only send. */
export function answerDirection(offered: Direction): 'sendonly' | 'inactive' {
  return offered === 'sendrecv' || offered === 'recvonly' ? 'sendonly' : 'inactive';
}

export interface AnswerParams {
  sessionId: string;
  version: number;
  address: string;
  port: number;
  /** Formats we accept from the offer, first = the one we send. */
  payloadTypes: number[];
  codecs: Map<number, string>;
  direction: 'sendonly' | 'inactive';
}

/** Our SDP (answer, or offer when the INVITE had none). */
export function writeSdp(a: AnswerParams): string {
  const ip = a.address.includes(':') ? 'IP6' : 'IP4';
  const lines = [
    'v=0',
    `o=sipedge ${a.sessionId} ${a.version} IN ${ip} ${a.address}`,
    's=sipedge hold music',
    `c=IN ${ip} ${a.address}`,
    't=0 0',
    `m=audio ${a.port} RTP/AVP ${a.payloadTypes.join(' ')}`,
    ...a.payloadTypes.map((p) => `a=rtpmap:${p} ${a.codecs.get(p) ?? NAMES[p]}/8000`),
    'a=ptime:20',
    `a=${a.direction}`,
  ];
  return lines.join('\r\n') + '\r\n';
}
