// The anchoring rule (README "WebRTC media"): which calls go through rtpengine, decided in this one place from the
// media profile of each side, and the NG flags that turn one profile into the other. Asking rtpengine and the per-call
// bookkeeping are media-relay.ts's; where the proxy and the hold music apply the rule is theirs.
import type { NgCommandDict } from './ng-client.ts';

/**
 * A side's media: 'webrtc' = DTLS-SRTP with ICE, rtcp-mux and Opus (RFC 8827, RFC 8829), as browsers speak it;
 * 'rtp' = plain RTP/AVP with G.711 and no ICE, as desk phones and PBXs do.
 */
export type MediaProfile = 'webrtc' | 'rtp';

/**
 * media.anchoring: 'bridge' anchors calls whose sides differ; 'always' anchors every call with SDP (phones behind NAT);
 * 'off' anchors no proxied call (another media relay does it, or every client speaks the same media).
 */
export type AnchoringMode = 'bridge' | 'always' | 'off';

export interface AnchorDecision {
  anchor: boolean;
  /** True when the call cannot carry audio without rtpengine (the sides differ): no rtpengine means refusing it. */
  required: boolean;
  /** Why, for the call's log line: e.g. 'bridge webrtc->rtp', 'always rtp->rtp', 'same profile webrtc'. */
  rule: string;
}

/** The rule. Calls whose sides differ are anchored unless anchoring is off; in 'always' mode every other call too (optional). */
export function decideAnchoring(mode: AnchoringMode, caller: MediaProfile, callee: MediaProfile): AnchorDecision {
  if (mode === 'off') return { anchor: false, required: false, rule: 'off' };
  if (caller !== callee) return { anchor: true, required: true, rule: `bridge ${caller}->${callee}` };
  if (mode === 'always') return { anchor: true, required: false, rule: `always ${caller}->${callee}` };
  return { anchor: false, required: false, rule: `same profile ${caller}` };
}

/**
 * The profile an SDP body offers or answers: 'webrtc' when an m= line uses DTLS-SRTP (`UDP/TLS/RTP/SAVP`, also
 * `.../SAVPF`: RFC 5764 §8), else 'rtp'; undefined for an empty body (a late offer). One scan, no parse (every INVITE).
 */
export function profileOfSdp(body: Buffer): MediaProfile | undefined {
  if (body.length === 0) return undefined;
  return body.indexOf('UDP/TLS/RTP/SAVP') >= 0 ? 'webrtc' : 'rtp';
}

/** The profile a SIP transport implies when there is no SDP to read: browsers reach the edge over WebSocket (RFC 7118). */
export function profileOfTransport(transport: string): MediaProfile {
  return transport === 'ws' || transport === 'wss' ? 'webrtc' : 'rtp';
}

const COMMON = { SDES: ['off'], replace: ['origin', 'session-connection'] };

/** Towards a browser (the answer's flags; an offer's add the codecs). */
const TO_WEBRTC = { ...COMMON, 'transport-protocol': 'UDP/TLS/RTP/SAVPF', ICE: 'force', DTLS: 'passive', 'rtcp-mux': ['offer', 'require'] };
/** Towards a desk phone or PBX (likewise). */
const TO_RTP = { ...COMMON, 'transport-protocol': 'RTP/AVP', ICE: 'remove', DTLS: 'off', 'rtcp-mux': ['demux'] };

/** Built once: every command of an anchored call sends one of these four. */
const FLAGS: Record<MediaProfile, { offer: NgCommandDict; answer: NgCommandDict }> = {
  webrtc: { offer: { ...TO_WEBRTC, codec: { transcode: ['opus'] } }, answer: TO_WEBRTC },
  // The browser that offered gets rtpengine as the DTLS server too: ICE may complete before the answer, and an active
  // rtpengine would then send its ClientHello early, reset to passive on the answer, and no handshake would finish.
  rtp: { offer: { ...TO_RTP, 'DTLS-reverse': 'passive', codec: { transcode: ['PCMU', 'PCMA'] } }, answer: TO_RTP },
};

/**
 * NG flags for an SDP going to a side of `toward`'s profile (rtpengine docs/ng_protocol.md). Towards a browser:
 * UDP/TLS/RTP/SAVPF with ICE, DTLS-SRTP (rtpengine passive when it answers), rtcp-mux offered, and Opus added by
 * transcoding when the plain side lacks it. Towards a desk phone or PBX: RTP/AVP without ICE or DTLS, RTCP on its own
 * port, and PCMU and PCMA added by transcoding when the browser offered only Opus (rtpengine passive towards the
 * offering browser as well). SDES crypto is never offered; the origin and connection lines become rtpengine's.
 * One of four constants: a part of the command (NgClient.command), never changed.
 */
export function flagsToward(toward: MediaProfile, isOffer: boolean): NgCommandDict {
  const f = FLAGS[toward];
  return isOffer ? f.offer : f.answer;
}
