// The anchored calls: which rtpengine each one is on (picked at its first offer and kept), the profile of each tag,
// offer/answer/delete on the call's rtpengine, and the call's log line with rtpengine's counts when it ends. The rule
// (which calls) and the flags are anchoring.ts's; where SIP meets it is the proxy's and the hold music's.
import type { Clock } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import { flagsToward, type AnchoringMode, type MediaProfile } from './anchoring.ts';
import type { BValue } from './bencode.ts';
import { replyKeys, type NgDict, type NgOutcome } from './ng-client.ts';
import type { Rtpengine, RtpengineSet } from './rtpengine-set.ts';

/** Why an SDP could not be rewritten (metric and log field). */
export type RelayFailure = 'not-configured' | 'unavailable' | 'refused';

export type RelayOutcome = { ok: true; sdp: Buffer } | { ok: false; reason: RelayFailure; detail: string };

/** The SIP answer to a call that needs the relay and cannot have it (the proxy's and the hold music's alike). */
export interface RelayRefusal {
  status: number;
  reason: string;
  headers: string[];
}

/** RFC 3261 §21.4.26 488 for media the edge cannot bridge; §21.5.4 503 (with Retry-After) when it may work later. */
const REFUSALS = {
  'not-configured': { status: 488, reason: 'Not Acceptable Here', warning: 'media bridging (WebRTC to RTP) needs rtpengine and none is configured' },
  unavailable: { status: 503, reason: 'Service Unavailable', warning: 'no media relay (rtpengine) is reachable' },
  refused: { status: 488, reason: 'Not Acceptable Here', warning: 'the media relay (rtpengine) refused this SDP' },
} satisfies Record<RelayFailure, { status: number; reason: string; warning: string }>;

export function refusalFor(failure: RelayFailure): RelayRefusal {
  const r = REFUSALS[failure];
  const headers = [`Warning: 399 sipedge "${r.warning}"`];
  if (r.status === 503) headers.push('Retry-After: 5');
  return { status: r.status, reason: r.reason, headers };
}

/**
 * One SDP on its way through rtpengine. The tags name the offer/answer exchange, not the SDP's sender: rtpengine's
 * from-tag is always the offerer's (the From tag of the request that offered, or the To tag of a 2xx that carried a
 * late offer) and its to-tag the answerer's, on `offer` and on `answer` alike (rtpengine swaps them for an answer).
 */
export interface SdpHop {
  callId: string;
  /** The offerer's tag (rtpengine's from-tag). */
  fromTag: string;
  /** The answerer's tag: absent on an initial offer, required on answers and on offers inside a dialog. */
  toTag?: string;
  sdp: Buffer;
  /** The profile of the side that sent this SDP (the offerer for `offer`, the answerer for `answer`)... */
  from: MediaProfile;
  /** ... and of the side it goes to. */
  toward: MediaProfile;
  /** Tells apart offers of one call made for different branches (a fork whose targets differ in profile). */
  viaBranch?: string;
}

/** An anchored call: kept on its rtpengine until it ends. */
class AnchoredCall {
  /** Tag -> that side's media profile (the caller's, and every tag that answered). */
  readonly profiles = new Map<string, MediaProfile>();
  /**
   * Tag -> the codec that side speaks (the first format of the answer it sent or was sent), for the log line; made by
   * the first answer when that line is at the log level.
   */
  codecs: Map<string, string> | undefined = undefined;
  lastSignal: number;
  ended = false;
  /** A 2xx carried an offer (late offer): the ACK's SDP answers it (fromTag the 2xx's sender, the offerer). */
  ackAnswer: { fromTag: string; toTag: string; from: MediaProfile; toward: MediaProfile } | undefined = undefined;

  constructor(
    readonly callId: string,
    readonly rtpengine: Rtpengine,
    /** The tag of the first offer's sender (rtpengine's call owner; `delete` names it). */
    readonly callerTag: string,
    readonly rule: string,
    readonly startedAt: number,
  ) {
    this.lastSignal = startedAt;
  }

  /** The profile of the side with this tag, when known. */
  profileOf(tag: string | undefined): MediaProfile | undefined {
    return tag === undefined ? undefined : this.profiles.get(tag);
  }
}

export interface MediaRelayOptions {
  set: RtpengineSet;
  mode: AnchoringMode;
  clock: Clock;
  logger: Logger;
}

/** Calls without signalling this long are asked about (`query`); ones rtpengine no longer knows are forgotten; ms. */
const IDLE_MS = 10 * 60_000;
const SWEEP_MS = 60_000;

/**
 * The reply keys read: of an offer or answer; of a delete for the call's log line (statsOf); of a query (whether
 * rtpengine still knows the call), or of a delete whose log line is below the log level (its outcome only).
 */
const SDP_REPLY = replyKeys('sdp');
const STATS_REPLY = replyKeys('tags', 'totals', 'SSRC');
const OUTCOME_ONLY = replyKeys();

export class MediaRelay {
  private readonly calls = new Map<string, AnchoredCall>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: MediaRelayOptions) {}

  get mode(): AnchoringMode {
    return this.o.mode;
  }

  /** Calls anchored now. */
  get size(): number {
    return this.calls.size;
  }

  /** The anchored call with this Call-ID, if any. */
  call(callId: string): AnchoredCall | undefined {
    return this.calls.get(callId);
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether a new call could be anchored now (a late offer is rewritten only when the 2xx brings it). */
  canAnchor(): { ok: true } | { ok: false; reason: RelayFailure; detail: string } {
    if (!this.o.set.configured) return { ok: false, reason: 'not-configured', detail: 'no rtpengine is configured (media.rtpengine)' };
    return this.o.set.pick('') === undefined ? { ok: false, reason: 'unavailable', detail: 'no rtpengine is up' } : { ok: true };
  }

  /**
   * `offer`: a new call's first SDP (picks an rtpengine, another one once when the first does not answer) or a new
   * offer inside an anchored call (re-INVITE, UPDATE, a 2xx's late offer) on the call's own rtpengine. The rewritten
   * SDP goes to the `toward` side.
   */
  async offer(hop: SdpHop, rule: string): Promise<RelayOutcome> {
    const existing = this.calls.get(hop.callId);
    if (existing !== undefined) {
      existing.profiles.set(hop.fromTag, hop.from);
      if (hop.toTag !== undefined) existing.profiles.set(hop.toTag, hop.toward);
      return this.ask(existing, 'offer', hop, true);
    }
    const set = this.o.set;
    if (!set.configured) return { ok: false, reason: 'not-configured', detail: 'no rtpengine is configured (media.rtpengine)' };
    let tried: Set<Rtpengine> | undefined;
    let last: RelayOutcome = { ok: false, reason: 'unavailable', detail: 'no rtpengine is up' };
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = set.pick(hop.callId, tried);
      if (r === undefined) break;
      const call = new AnchoredCall(hop.callId, r, hop.fromTag, rule, this.o.clock.now());
      call.profiles.set(hop.fromTag, hop.from);
      last = await this.ask(call, 'offer', hop, true);
      if (last.ok) {
        // A retransmitted INVITE may have anchored the same call meanwhile: the first one is kept.
        const raced = this.calls.get(hop.callId);
        if (raced !== undefined) return last;
        this.calls.set(hop.callId, call);
        this.o.logger.info({ event: 'relay.call.anchored', callId: hop.callId, rtpengine: r.address, rule });
        return last;
      }
      if (last.reason !== 'unavailable') break;
      // The next attempt leaves this one out (the set is made only then: a call anchored at once needs none).
      tried = new Set([...(tried ?? []), r]);
    }
    return last;
  }

  /** `answer`: the SDP answering the call's last offer, sent by the side tagged toTag to the offerer (fromTag). */
  async answer(hop: SdpHop & { toTag: string }): Promise<RelayOutcome> {
    const call = this.calls.get(hop.callId);
    if (call === undefined) return { ok: false, reason: 'unavailable', detail: 'the call is not anchored (any more)' };
    call.profiles.set(hop.toTag, hop.from);
    const out = await this.ask(call, 'answer', hop, false);
    if (out.ok && this.o.logger.isLevelEnabled('info')) {
      // Both sides' codecs are settled by an answer: the answerer's in its SDP, the offerer's in rtpengine's rewrite.
      // Read only for the call's end line (logEnd), so only when that line is at the log level.
      const codecs = (call.codecs ??= new Map());
      codecs.set(hop.toTag, firstCodec(hop.sdp));
      codecs.set(hop.fromTag, firstCodec(out.sdp));
    }
    return out;
  }

  /**
   * Ends an anchored call (BYE, CANCEL, a failed INVITE, a 2xx from a branch that needs no relay, the hold music's
   * end): `delete` on its rtpengine and one log line with what rtpengine counted. Nothing when it is not anchored.
   */
  async end(callId: string, reason: string): Promise<void> {
    const call = this.calls.get(callId);
    if (call === undefined || call.ended) return;
    call.ended = true;
    this.forget(call);
    // rtpengine's counters are decoded only for the log line that shows them.
    const logged = this.o.logger.isLevelEnabled('info');
    const out = await this.o.set.command(call.rtpengine, 'delete', [{ 'call-id': callId, 'from-tag': call.callerTag }], logged ? STATS_REPLY : OUTCOME_ONLY);
    if (logged) this.logEnd(call, reason, out);
  }

  /** The calls idle for IDLE_MS that rtpengine no longer knows (it timed them out) are forgotten and logged. */
  async sweep(): Promise<void> {
    const now = this.o.clock.now();
    for (const call of [...this.calls.values()]) {
      if (now - call.lastSignal < IDLE_MS) continue;
      const out = await this.o.set.command(call.rtpengine, 'query', [{ 'call-id': call.callId }], OUTCOME_ONLY);
      if (!out.ok && out.reason === 'error' && !call.ended) {
        call.ended = true;
        this.forget(call);
        this.logEnd(call, 'gone', out);
      } else call.lastSignal = now;
    }
  }

  private forget(call: AnchoredCall): void {
    if (this.calls.get(call.callId) === call) this.calls.delete(call.callId);
  }

  private async ask(call: AnchoredCall, command: 'offer' | 'answer', hop: SdpHop, isOffer: boolean): Promise<RelayOutcome> {
    call.lastSignal = this.o.clock.now();
    // The SDP goes as the bytes it came in (encoded before command returns), the flags as one of their constants.
    const own = { 'call-id': hop.callId, 'from-tag': hop.fromTag, 'to-tag': hop.toTag, 'via-branch': hop.viaBranch, sdp: hop.sdp };
    const out = await this.o.set.command(call.rtpengine, command, [own, flagsToward(hop.toward, isOffer)], SDP_REPLY);
    if (out.ok) {
      const sdp = out.reply.sdp;
      if (sdp instanceof Buffer) return { ok: true, sdp };
      return { ok: false, reason: 'refused', detail: `${call.rtpengine.address} answered ${command} without SDP` };
    }
    if (out.reason === 'error') return { ok: false, reason: 'refused', detail: `${call.rtpengine.address}: ${out.detail}` };
    return { ok: false, reason: 'unavailable', detail: `${call.rtpengine.address} ${command}: ${out.reason} (${out.detail})` };
  }

  private logEnd(call: AnchoredCall, reason: string, out: NgOutcome): void {
    const seconds = Math.round((this.o.clock.now() - call.startedAt) / 100) / 10;
    const base = { event: 'relay.call.end', callId: call.callId, rtpengine: call.rtpengine.address, rule: call.rule, reason, seconds };
    if (!out.ok) {
      this.o.logger.info({ ...base, stats: 'unavailable', why: `${out.reason}: ${out.detail}` });
      return;
    }
    this.o.logger.info({ ...base, ...statsOf(call, out.reply) });
  }
}

/** The leg-by-leg counts of a delete or query reply (rtpengine's `tags`, `totals` and `SSRC` dictionaries). */
function statsOf(call: AnchoredCall, reply: NgDict): { legs: Record<string, unknown>[]; totals: unknown; loss: Record<string, unknown>[] } {
  const legs: Record<string, unknown>[] = [];
  const tags = dict(reply.tags);
  for (const [tag, v] of Object.entries(tags)) {
    const t = dict(v);
    if (tag === '' || tag.startsWith('<untagged')) continue;
    let packets = 0;
    let bytes = 0;
    let errors = 0;
    let codec = call.codecs?.get(tag);
    for (const media of list(t.medias)) {
      const md = dict(media);
      if (typeof md.codec === 'string') codec = md.codec;
      for (const stream of list(md.streams)) {
        const st = dict(dict(stream).stats);
        packets += num(st.packets);
        bytes += num(st.bytes);
        errors += num(st.errors);
      }
    }
    legs.push({ side: tag === call.callerTag ? 'caller' : 'callee', profile: call.profileOf(tag) ?? 'unknown', codec: codec ?? 'none', packets, bytes, errors });
  }
  const loss: Record<string, unknown>[] = [];
  for (const [ssrc, v] of Object.entries(dict(reply.SSRC))) {
    const avg = dict(dict(v)['average MOS']);
    if (Object.keys(avg).length === 0) continue;
    loss.push({ ssrc, packetLossPercent: num(avg['packet loss']), jitterMs: num(avg.jitter), mos: num(avg.MOS) / 10 });
  }
  return { legs, totals: dict(reply.totals).RTP ?? {}, loss };
}

function dict(v: BValue | Buffer | undefined): { [k: string]: BValue | undefined } {
  if (typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) return {};
  return v;
}

function list(v: BValue | Buffer | undefined): BValue[] {
  return Array.isArray(v) ? v : [];
}

function num(v: BValue | undefined): number {
  return typeof v === 'number' ? v : 0;
}

/** Static RTP payload types (RFC 3551 §6) an SDP may name without an rtpmap. */
const STATIC_PT: Record<string, string> = { '0': 'PCMU/8000', '8': 'PCMA/8000', '9': 'G722/8000', '18': 'G729/8000' };

/** The first format of the first audio m= line, by its rtpmap name (or static payload type); 'none' without one. */
function firstCodec(sdp: Buffer): string {
  // Read in the bytes: only the m= line and the rtpmap line become strings (two of these per anchored call).
  const m = sdp.indexOf('m=audio ');
  if (m < 0) return 'none';
  const fields = sdp.toString('latin1', m, lineEnd(sdp, m)).trim().split(' ');
  const pt = fields[3];
  if (pt === undefined || fields[1] === '0') return 'none';
  const prefix = 'a=rtpmap:' + pt + ' ';
  const map = sdp.indexOf(prefix, m);
  if (map >= 0) return sdp.toString('latin1', map + prefix.length, lineEnd(sdp, map)).trim();
  return STATIC_PT[pt] ?? `pt ${pt}`;
}

/** Where the line that holds byte `from` ends (its LF, or the end of the SDP). */
function lineEnd(sdp: Buffer, from: number): number {
  const eol = sdp.indexOf(0x0a, from);
  return eol < 0 ? sdp.length : eol;
}
