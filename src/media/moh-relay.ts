// Hold music for browsers (README "WebRTC media"): a WebRTC caller's SDP goes through rtpengine, which bridges the
// edge's own PCMU/PCMA stream to DTLS-SRTP and Opus, so one cached buffer keeps serving every listener. The UAS
// (dialogs, RTP, timers) is moh-service.ts's; rtpengine and the anchoring rule are relay/'s.
import type { Logger } from '../observability/logger.ts';
import { decideAnchoring, profileOfSdp, profileOfTransport, type MediaProfile } from '../relay/anchoring.ts';
import { refusalFor, type MediaRelay, type RelayRefusal } from '../relay/media-relay.ts';
import type { SipMessage } from '../sip/types.ts';
import type { Flow } from '../transport/flow.ts';

/** The hold music speaks plain RTP (PCMU/PCMA). */
const MOH_PROFILE: MediaProfile = 'rtp';

/** What the hold-music UAS asks of the relay for one dialog. */
export class MohRelay {
  constructor(
    private readonly relay: MediaRelay | undefined,
    private readonly logger: Logger,
  ) {}

  /**
   * Whether this INVITE's caller needs rtpengine (by the one rule: a browser's DTLS-SRTP against our plain RTP; the
   * hold music never anchors optionally, it latches NAT'ed callers itself) and, when it does and has sent an offer,
   * that offer as rtpengine rewrote it for us. A refusal when it needs the relay and cannot have it.
   */
  async inbound(req: SipMessage, flow: Flow, fromTag: string): Promise<{ relayed: boolean; sdp: string | undefined } | RelayRefusal> {
    const body = req.body;
    const caller = profileOfSdp(body) ?? profileOfTransport(flow.transport);
    const rule = decideAnchoring('bridge', caller, MOH_PROFILE);
    if (!rule.required) return { relayed: false, sdp: body.length > 0 ? body.toString('latin1') : undefined };
    if (this.relay === undefined) return refusalFor('not-configured');
    if (body.length === 0) {
      const can = this.relay.canAnchor();
      return can.ok ? { relayed: true, sdp: undefined } : refusalFor(can.reason);
    }
    const out = await this.relay.offer({ callId: req.callId, fromTag, sdp: body, from: caller, toward: MOH_PROFILE }, `moh ${rule.rule}`);
    if (!out.ok) {
      this.logger.info({ event: 'relay.call.refused', callId: req.callId, rule: `moh ${rule.rule}`, required: true, why: out.reason, detail: out.detail });
      return refusalFor(out.reason);
    }
    return { relayed: true, sdp: out.sdp.toString('latin1') };
  }

  /**
   * Our SDP as the relayed caller gets it: an answer to its offer (`answer`) or, for an INVITE without SDP, our offer
   * (`offer`, its answer comes in the ACK). Undefined when rtpengine fails (the caller is then refused or left).
   */
  async outbound(callId: string, localTag: string, remoteTag: string, ours: string, isOffer: boolean): Promise<string | undefined> {
    if (this.relay === undefined) return undefined;
    // rtpengine's from-tag is the offerer's: the caller's for our answer, ours for our (late) offer.
    const tags = isOffer ? { fromTag: localTag, toTag: remoteTag } : { fromTag: remoteTag, toTag: localTag };
    const hop = { callId, ...tags, sdp: Buffer.from(ours, 'latin1'), from: MOH_PROFILE, toward: 'webrtc' as const };
    const out = isOffer ? await this.relay.offer(hop, 'moh late offer') : await this.relay.answer(hop);
    if (out.ok) return out.sdp.toString('latin1');
    this.logger.warn({ event: 'relay.answer.failed', callId, why: out.reason, detail: out.detail });
    return undefined;
  }

  /** A relayed caller's new offer (re-INVITE), as rtpengine rewrote it for us; undefined when that fails. */
  async reoffer(callId: string, remoteTag: string, localTag: string, body: Buffer): Promise<string | undefined> {
    if (this.relay === undefined) return undefined;
    const out = await this.relay.offer({ callId, fromTag: remoteTag, toTag: localTag, sdp: body, from: 'webrtc', toward: MOH_PROFILE }, 'moh re-offer');
    return out.ok ? out.sdp.toString('latin1') : undefined;
  }

  /** A relayed caller's answer in the ACK (to our offer), as rtpengine rewrote it for us. */
  async ackAnswer(callId: string, localTag: string, remoteTag: string, body: Buffer): Promise<string | undefined> {
    if (this.relay === undefined) return undefined;
    const out = await this.relay.answer({ callId, fromTag: localTag, toTag: remoteTag, sdp: body, from: 'webrtc', toward: MOH_PROFILE });
    return out.ok ? out.sdp.toString('latin1') : undefined;
  }

  /** The relayed dialog ended: rtpengine's call goes with it (and its log line says what it carried). */
  end(callId: string, why: string): void {
    if (this.relay !== undefined) void this.relay.end(callId, `moh ${why}`);
  }
}
