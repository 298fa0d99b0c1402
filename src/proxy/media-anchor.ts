// Media anchoring in the proxy (README "WebRTC media"): applies relay/anchoring.ts's rule to each target of a new
// INVITE, has the offer rewritten by rtpengine on the way out and the answers (183, 2xx) on the way back, re-offers
// inside anchored dialogs (re-INVITE, UPDATE; a late offer in a 2xx answered in the ACK), and ends the relay's call on
// BYE, CANCEL and a failed INVITE. Which rtpengine and the call's bookkeeping are relay/media-relay.ts's.
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { decideAnchoring, profileOfSdp, profileOfTransport, type MediaProfile } from '../relay/anchoring.ts';
import { refusalFor, type MediaRelay, type RelayFailure, type RelayOutcome, type RelayRefusal } from '../relay/media-relay.ts';
import type { SipMessage } from '../sip/types.ts';
import type { Flow } from '../transport/flow.ts';
import type { Branch, BranchTarget, MediaSession } from './proxy-transaction.ts';

/** Anchoring outcomes of new calls (metric label, closed set). */
type Decision = 'anchored' | 'direct' | 'refused' | 'unanchored';

function hasSdp(msg: SipMessage): boolean {
  if (msg.body.length === 0) return false;
  const ct = msg.header('content-type');
  return ct !== undefined && ct.trimStart().toLowerCase().startsWith('application/sdp');
}

export class MediaAnchor {
  private readonly decisions: Record<Decision, { inc(): void }>;

  constructor(
    readonly relay: MediaRelay,
    readonly logger: Logger,
    metrics: Metrics,
  ) {
    const d = metrics.anchorDecisions;
    this.decisions = { anchored: d.labels('anchored'), direct: d.labels('direct'), refused: d.labels('refused'), unanchored: d.labels('unanchored') };
  }

  /**
   * A new INVITE about to fork to targets. Each target's profile (WebRTC over WebSocket, plain RTP otherwise) meets the
   * caller's (its SDP, or its transport for a late offer) in the rule; the offer is rewritten once per profile that
   * needs anchoring and given to those targets. Targets whose bridging failed are dropped; when none is left, the
   * refusal to answer. Synchronous (undefined) when nothing is anchored: a plain call costs no promise.
   */
  invite(req: SipMessage, inFlow: Flow, targets: BranchTarget[]): MediaSession | undefined | RelayRefusal | Promise<MediaSession | RelayRefusal> {
    const sdp = hasSdp(req);
    if (!sdp && req.body.length > 0) return undefined;
    const caller = (sdp ? profileOfSdp(req.body) : undefined) ?? profileOfTransport(inFlow.transport);
    const need = new Map<MediaProfile, { required: boolean; rule: string }>();
    for (const t of targets) {
      const callee = t.upstream !== undefined ? 'rtp' : profileOfTransport(t.flow.transport);
      const d = decideAnchoring(this.relay.mode, caller, callee);
      t.media = { profile: callee, anchored: d.anchor };
      if (d.anchor && !need.has(callee)) need.set(callee, { required: d.required, rule: d.rule });
    }
    if (need.size === 0) {
      this.decisions.direct.inc();
      return undefined;
    }
    return this.anchorInvite(req, caller, sdp, targets, need);
  }

  private async anchorInvite(
    req: SipMessage,
    caller: MediaProfile,
    sdp: boolean,
    targets: BranchTarget[],
    need: Map<MediaProfile, { required: boolean; rule: string }>,
  ): Promise<MediaSession | RelayRefusal> {
    const callId = req.callId;
    const fromTag = req.from.tag ?? '';
    const mixed = need.size > 1;
    let failed: Map<MediaProfile, RelayFailure> | undefined;
    for (const [toward, n] of need) {
      // A late offer (no SDP): the callee's 2xx will carry the offer; only whether a relay can be had is known now.
      const out: { ok: true; sdp?: Buffer } | Extract<RelayOutcome, { ok: false }> = sdp
        ? await this.relay.offer({ callId, fromTag, sdp: req.body, from: caller, toward, viaBranch: mixed ? toward : undefined }, n.rule)
        : this.relay.canAnchor();
      if (out.ok) {
        for (const t of targets) {
          if (t.media?.profile !== toward || !t.media.anchored) continue;
          if (out.sdp !== undefined) t.body = out.sdp;
          if (mixed) t.media = { ...t.media, viaBranch: toward };
        }
        continue;
      }
      if (n.required) (failed ??= new Map()).set(toward, out.reason);
      else for (const t of targets) if (t.media?.profile === toward) t.media = { profile: toward, anchored: false };
      this.logger.info({ event: 'relay.call.refused', callId, rule: n.rule, required: n.required, why: out.reason, detail: out.detail });
    }
    if (failed !== undefined) {
      const f = failed;
      const kept = targets.filter((t) => t.media === undefined || !f.has(t.media.profile));
      if (kept.length === 0) {
        this.decisions.refused.inc();
        return refusalFor(f.values().next().value!);
      }
      targets.splice(0, targets.length, ...kept);
    }
    const anchored = targets.some((t) => t.media?.anchored === true);
    this.decisions[anchored ? 'anchored' : failed !== undefined ? 'refused' : 'unanchored'].inc();
    return new RequestMedia(this, callId, fromTag, caller, !sdp, true);
  }

  /**
   * A request inside a dialog, to `target`: BYE ends an anchored call; a re-INVITE or UPDATE of an anchored call has its
   * offer rewritten towards the other side's profile (or, without SDP, the offer its 2xx carries). Undefined when the
   * call is not anchored or the request carries no media.
   */
  inDialog(req: SipMessage, target: BranchTarget): MediaSession | undefined | RelayRefusal | Promise<MediaSession | RelayRefusal> {
    const call = this.relay.call(req.callId);
    if (call === undefined) return undefined;
    const method = req.method;
    if (method === 'BYE') {
      void this.relay.end(req.callId, 'bye');
      return undefined;
    }
    if (method !== 'INVITE' && !(method === 'UPDATE' && hasSdp(req))) return undefined;
    const fromTag = req.from.tag ?? '';
    const from = call.profileOf(fromTag) ?? profileOfSdp(req.body) ?? 'rtp';
    const toward = call.profileOf(req.to.tag) ?? (from === 'webrtc' ? 'rtp' : 'webrtc');
    target.media = { profile: toward, anchored: true };
    if (!hasSdp(req)) return new RequestMedia(this, req.callId, fromTag, from, true, false);
    return this.relay.offer({ callId: req.callId, fromTag, toTag: req.to.tag, sdp: req.body, from, toward }, call.rule).then((out) => {
      if (!out.ok) {
        this.logger.info({ event: 'relay.reoffer.failed', callId: req.callId, method, why: out.reason, detail: out.detail });
        return refusalFor(out.reason);
      }
      target.body = out.sdp;
      return new RequestMedia(this, req.callId, fromTag, from, false, false);
    });
  }

  /**
   * The body of an ACK that answers a 2xx's offer in an anchored call (a late offer), rewritten towards the side that
   * made the offer; undefined when the ACK carries no such answer.
   */
  ackBody(ack: SipMessage): Promise<Buffer | undefined> | undefined {
    const call = this.relay.call(ack.callId);
    const pending = call?.ackAnswer;
    if (call === undefined || pending === undefined || !hasSdp(ack)) return undefined;
    call.ackAnswer = undefined;
    return this.relay.answer({ callId: ack.callId, ...pending, sdp: ack.body }).then((out) => {
      if (out.ok) return out.sdp;
      this.logger.info({ event: 'relay.answer.failed', callId: ack.callId, method: 'ACK', why: out.reason, detail: out.detail });
      return undefined;
    });
  }
}

/** The media of one proxied request: its responses' SDP through the relay; a failed new INVITE ends the call. */
class RequestMedia implements MediaSession {
  /** To-tag -> the rewritten body of its 2xx (for retransmissions); made by the first 2xx with SDP. */
  private answered: Map<string, Buffer> | undefined = undefined;

  constructor(
    private readonly anchor: MediaAnchor,
    private readonly callId: string,
    /** The request's sender: its From tag and profile. */
    private readonly fromTag: string,
    private readonly from: MediaProfile,
    /** The request carried no SDP: a response's SDP is the offer, and the ACK will answer it. */
    private readonly lateOffer: boolean,
    /** A new INVITE: its failure ends the anchored call (a failed re-INVITE leaves the call as it was). */
    private readonly initial: boolean,
  ) {}

  responseBody(b: Branch, res: SipMessage): Buffer | undefined | Promise<Buffer | undefined> {
    const media = b.target.media;
    const relay = this.anchor.relay;
    if (media === undefined) return undefined;
    const toTag = res.to.tag;
    const is2xx = res.status >= 200 && res.status < 300;
    if (!media.anchored) {
      // A target that needed no relay answered: the call does not use the one other branches may have set up.
      if (is2xx && this.initial) void relay.end(this.callId, 'answered-unanchored');
      return undefined;
    }
    if (toTag === undefined || !hasSdp(res)) return undefined;
    // The responder answers the request's offer, or (late offer) offers: rtpengine's from-tag is the offerer's.
    const tags = this.lateOffer ? { fromTag: toTag, toTag: this.fromTag } : { fromTag: this.fromTag, toTag };
    const hop = { callId: this.callId, ...tags, sdp: res.body, from: media.profile, toward: this.from, viaBranch: media.viaBranch };
    const asked = this.lateOffer ? relay.offer(hop, `late offer ${media.profile}->${this.from}`) : relay.answer(hop);
    return asked.then((out) => {
      if (!out.ok) {
        // The caller gets the SDP as it came: its phone refuses what it cannot use, and says so.
        this.anchor.logger.warn({ event: 'relay.answer.failed', callId: this.callId, status: res.status, why: out.reason, detail: out.detail });
        return undefined;
      }
      if (this.lateOffer && is2xx) {
        const call = relay.call(this.callId);
        if (call !== undefined) call.ackAnswer = { fromTag: toTag, toTag: this.fromTag, from: this.from, toward: media.profile };
      }
      if (is2xx) (this.answered ??= new Map()).set(toTag, out.sdp);
      return out.sdp;
    });
  }

  cachedBody(res: SipMessage): Buffer | undefined {
    const tag = res.to.tag;
    return tag === undefined ? undefined : this.answered?.get(tag);
  }

  finished(status: number): void {
    if (status >= 300 && this.initial) void this.anchor.relay.end(this.callId, status === 487 ? 'cancelled' : `failed ${status}`);
  }
}
