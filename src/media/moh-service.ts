// The hold-music UAS (LocalService): INVITE to sip:<holdUser|queueUser>@<tenant domain> -> 200 with an SDP answer and an
// RTP stream; ACK, BYE, re-INVITE (new address followed), CANCEL, UPDATE; 2xx retransmission, RTP timeout and session
// timer (RFC 4028) on the scheduler's one timer. Audio is hold-cache.ts's, packets rtp-scheduler.ts's, SDP sdp.ts's.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { newTag } from '../sip/random.ts';
import type { ResponseOptions, SipMessage } from '../sip/types.ts';
import type { MaybePromise } from '../store/maybe-promise.ts';
import type { MohClass, Tenant } from '../store/types.ts';
import { ResponseBuilder } from '../transaction/response-builder.ts';
import { T1, T2 } from '../transaction/server-transaction.ts';
import type { LocalService, ServerTransaction } from '../transaction/types.ts';
import type { Flow } from '../transport/flow.ts';
import { isPrivateAddress, localAddresses } from '../transport/local-address.ts';
import type { HoldCache } from './hold-cache.ts';
import type { MediaRelay } from '../relay/media-relay.ts';
import { MohRelay } from './moh-relay.ts';
import { byeRequest, dialogKey, hostPort, pendingKey, sessionExpires, type Dialog } from './moh-dialog.ts';
import { RtpPortPool } from './rtp-socket.ts';
import { nativeSendBatch, nativeSendError } from './native-send.ts';
import { RtpScheduler, RtpStream } from './rtp-scheduler.ts';
import { answerDirection, readOffer, writeSdp, type OfferInfo } from './sdp.ts';

const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO';
/** RFC 4028 §4: Min-SE floor; seconds. */
const MIN_SE = 90;
/** Dialog sweeps (timeouts) run every this many ms on the scheduler's timer. */
const SWEEP_MS = 1000;

interface PendingInvite {
  tx: ServerTransaction;
  cancelled: boolean;
}

export interface MohServiceDeps {
  config: Config['media'];
  serverName: string;
  /** sip.advertisedHost: how the edge names itself in Contact and Via ('' = by the flow's local address). */
  advertisedHost?: string;
  /** The tenant a URI's user@host names (auth/identity.ts's Identities.of, wired by app.ts). */
  identify(user: string, host: string): MaybePromise<{ tenant: Tenant | undefined } | undefined>;
  cache: HoldCache;
  /** Drives the streams, 2xx retransmissions, session timers and RTP timeouts (clock.ts's monotonicClock in the edge). */
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** rtpengine, for browsers (WebRTC) calling the hold music; undefined: they get 488. */
  relay?: MediaRelay;
}

export class MohService implements LocalService {
  readonly scheduler: RtpScheduler;
  private readonly pool: RtpPortPool;
  private readonly dialogs = new Map<string, Dialog>();
  private readonly pending = new Map<string, PendingInvite>();
  private readonly unacked = new Set<Dialog>();
  private readonly responses: ResponseBuilder;
  private readonly relay: MohRelay;
  private lastSweep = 0;

  constructor(private readonly d: MohServiceDeps) {
    this.relay = new MohRelay(d.relay, d.logger);
    this.pool = new RtpPortPool({ min: d.config.rtpPortMin, max: d.config.rtpPortMax }, d.clock);
    this.responses = new ResponseBuilder(d.serverName);
    this.scheduler = new RtpScheduler({
      cache: d.cache,
      clock: d.clock,
      metrics: d.metrics,
      maxBurstFrames: d.config.maxBurstFrames,
      onTick: (now) => this.onTick(now),
      isBusy: () => this.dialogs.size > 0 || this.unacked.size > 0,
      sendBatch: nativeSendBatch,
    });
    d.logger.info(
      nativeSendBatch
        ? { event: 'moh.rtp.sender', native: true }
        : { event: 'moh.rtp.sender', native: false, why: nativeSendError },
    );
  }

  /** Live dialogs (calls on hold music). */
  get size(): number {
    return this.dialogs.size;
  }

  /** Reads the store's activated versions now, instead of at the cache's next poll (within 250 ms). */
  refreshMusic(): Promise<void> {
    return this.d.cache.refresh();
  }

  owns(req: SipMessage): boolean {
    try {
      const toTag = req.to.tag;
      if (toTag !== undefined) return this.dialogs.has(dialogKey(req.callId, toTag, req.from.tag ?? ''));
      if (req.method === 'CANCEL') return this.pending.has(pendingKey(req));
      if (req.method !== 'INVITE') return false;
      const user = req.ruri.user;
      return user === this.d.config.holdUser || user === this.d.config.queueUser;
    } catch {
      return false;
    }
  }

  inDialog(req: SipMessage): boolean {
    try {
      const toTag = req.to.tag;
      return toTag !== undefined && this.dialogs.has(dialogKey(req.callId, toTag, req.from.tag ?? ''));
    } catch {
      return false;
    }
  }

  onRequest(tx: ServerTransaction): void {
    const req = tx.request;
    const dialog = this.inDialog(req) ? this.dialogs.get(dialogKey(req.callId, req.to.tag!, req.from.tag ?? '')) : undefined;
    if (dialog !== undefined) {
      this.inDialogRequest(dialog, tx);
      return;
    }
    if (req.method === 'CANCEL') {
      this.cancel(tx);
      return;
    }
    if (req.method !== 'INVITE') {
      tx.respond(481, 'Call/Transaction Does Not Exist');
      return;
    }
    const key = pendingKey(req);
    const p: PendingInvite = { tx, cancelled: false };
    this.pending.set(key, p);
    this.invite(p).catch((err: unknown) => {
      this.d.logger.error({ event: 'moh.invite.error', err: err instanceof Error ? err.message : String(err) });
      if (!tx.isCompleted) tx.respond(500, 'Server Internal Error');
    }).finally(() => this.pending.delete(key));
  }

  onAck(ack: SipMessage, _flow: Flow): boolean {
    let d: Dialog | undefined;
    try {
      const toTag = ack.to.tag;
      if (toTag === undefined) return false;
      d = this.dialogs.get(dialogKey(ack.callId, toTag, ack.from.tag ?? ''));
    } catch {
      return false;
    }
    if (d === undefined) return false;
    d.ok = undefined;
    this.unacked.delete(d);
    if (d.awaitingAnswer) {
      d.awaitingAnswer = false;
      const dialog = d;
      void this.lateAnswer(dialog, ack.body).catch(() => this.end(dialog, 'bad-answer', true));
    }
    return true;
  }

  /** The answer to our offer (late offer), from the ACK: through rtpengine first for a relayed caller. */
  private async lateAnswer(d: Dialog, body: Buffer): Promise<void> {
    const sdp = body.length === 0 ? undefined : d.relayed ? await this.relay.ackAnswer(d.callId, d.localTag, d.remoteTag, body) : body.toString('latin1');
    const r = sdp === undefined ? undefined : readOffer(sdp);
    if (r === undefined || !r.ok) {
      // RFC 3261 §13.3.1.4 leaves a bad answer in an ACK to the UAS: end the call.
      this.end(d, 'bad-answer', true);
      return;
    }
    await this.apply(d, r.offer);
  }

  /** Stops every stream and forgets every dialog (edge shutdown; no BYE). */
  close(): void {
    for (const d of [...this.dialogs.values()]) this.end(d, 'shutdown', false);
    this.scheduler.stop();
  }

  private async invite(p: PendingInvite): Promise<void> {
    const { tx } = p;
    const req = tx.request;
    const user = req.ruri.user;
    const cls: MohClass = user === this.d.config.holdUser ? 'hold' : 'queue';
    const require = req.headerValues('require').filter((o) => o.toLowerCase() !== 'timer');
    if (require.length > 0) {
      tx.respond(420, 'Bad Extension', { headers: [`Unsupported: ${require.join(', ')}`] });
      return;
    }
    const tenant = (await this.d.identify(user, req.ruri.host))?.tenant;
    if (p.cancelled) return;
    if (tenant === undefined) {
      this.count('unknown-tenant');
      tx.respond(404, 'Not Found');
      return;
    }
    let offer: OfferInfo | undefined;
    if (req.body.length > 0) {
      const ct = (req.header('content-type') ?? '').toLowerCase();
      if (!ct.startsWith('application/sdp')) {
        tx.respond(415, 'Unsupported Media Type', { headers: ['Accept: application/sdp'] });
        return;
      }
    }
    // A browser's DTLS-SRTP offer is read as rtpengine rewrote it for us (plain RTP, G.711 added by transcoding).
    const inbound = await this.relay.inbound(req, tx.flow, req.from.tag ?? '');
    if (p.cancelled) {
      if ('relayed' in inbound && inbound.relayed) this.relay.end(req.callId, 'cancelled');
      return;
    }
    if (!('relayed' in inbound)) {
      this.count('no-relay');
      tx.respond(inbound.status, inbound.reason, { headers: inbound.headers });
      return;
    }
    const relayed = inbound.relayed;
    const refused = (status: number, reason: string, headers: string[]): void => {
      if (relayed) this.relay.end(req.callId, 'refused');
      tx.respond(status, reason, { headers });
    };
    if (inbound.sdp !== undefined) {
      const r = readOffer(inbound.sdp);
      if (!r.ok) {
        this.count('no-codec');
        refused(488, 'Not Acceptable Here', [`Warning: 305 sipedge "${r.reason}"`]);
        return;
      }
      offer = r.offer;
    }
    const se = sessionExpires(req);
    if (se !== undefined && se < MIN_SE) {
      refused(422, 'Session Interval Too Small', [`Min-SE: ${MIN_SE}`]);
      return;
    }
    const address = this.rtpAddress(tx.flow);
    const socket = await this.pool.open(address);
    if (socket === undefined) {
      this.count('no-port');
      refused(503, 'Service Unavailable', ['Retry-After: 5', 'Warning: 399 sipedge "no free RTP port (media.rtpPortMin..rtpPortMax)"']);
      return;
    }
    if (p.cancelled) {
      socket.close();
      if (relayed) this.relay.end(req.callId, 'cancelled');
      return;
    }
    const localTag = newTag();
    const version = this.d.cache.current(tenant.code, cls);
    const stream = new RtpStream(tenant.code, cls, 0, false, socket, version);
    const contact = req.contacts()[0];
    const d: Dialog = {
      key: dialogKey(req.callId, localTag, req.from.tag ?? ''),
      callId: req.callId,
      localTag,
      remoteTag: req.from.tag ?? '',
      localUri: req.to.uri,
      remoteFrom: req.header('from') ?? '',
      remoteTarget: contact?.uri ?? req.from.uri,
      routeSet: req.headerValues('record-route'),
      flow: tx.flow,
      localCseq: 1,
      remoteCseq: req.cseq.seq,
      tenant: tenant.code,
      cls,
      socket,
      stream,
      sessionId: String(Math.round(this.d.clock.now())),
      sdpVersion: 1,
      offerDirection: 'sendrecv',
      awaitingAnswer: offer === undefined,
      ok: undefined,
      sessionExpiresMs: se === undefined ? 0 : se * 1000,
      refreshBy: 0,
      startedAt: this.d.clock.now(),
      errorSince: 0,
      negotiated: undefined,
      relayed,
    };
    if (offer !== undefined) {
      try {
        await this.apply(d, offer, false);
      } catch {
        socket.close();
        stream.version.refs--;
        this.count('bad-address');
        refused(488, 'Not Acceptable Here', ['Warning: 305 sipedge "unusable connection address"']);
        return;
      }
    } else {
      // Late offer: we offer both codecs; the answer in the ACK picks one.
      stream.payloadType = 0;
    }
    const body = await this.ourSdp(d);
    if (p.cancelled || body === undefined) {
      socket.close();
      stream.version.refs--;
      if (body === undefined && !p.cancelled) refused(503, 'Service Unavailable', ['Retry-After: 5', 'Warning: 399 sipedge "no media relay (rtpengine) is reachable"']);
      else if (relayed) this.relay.end(req.callId, 'cancelled');
      return;
    }
    this.dialogs.set(d.key, d);
    this.scheduler.start();
    if (d.sessionExpiresMs > 0) d.refreshBy = this.d.clock.now() + d.sessionExpiresMs;
    this.sendOk(d, tx, body);
    if (offer !== undefined) this.play(d);
    this.count('answered');
    this.d.logger.debug({ event: 'moh.call.start', tenant: tenant.code, cls, version: version.id });
  }

  /** Applies an offer (or a late answer) to a dialog: codec, peer address, direction. Rejects on an unusable address. */
  private async apply(d: Dialog, o: OfferInfo, playNow = true): Promise<void> {
    // Keep the codec we send when the new offer still has it (no switch mid-call), else the offerer's first.
    const keep = o.payloadTypes.find((pt) => d.negotiated !== undefined && pt === d.stream.payloadType && o.codecs.get(pt) === (d.stream.isAlaw ? 'PCMA' : 'PCMU'));
    const pt = keep ?? o.payloadTypes[0]!;
    // A caller behind NAT names its private address in the SDP, where RTP cannot reach it: stream to wherever its
    // RTP comes from instead, once it sends from the address its SIP comes from (symmetric RTP; a stranger's
    // packets from elsewhere move nothing). A public SDP address, or the SIP source's own, is used as it is; so is
    // rtpengine's for a relayed caller (it sends us nothing to latch on: the caller only listens).
    const sipSource = d.flow.remoteAddress;
    const behindNat = !d.relayed && isPrivateAddress(o.address) && o.address !== sipSource;
    d.socket.latchFrom = behindNat ? sipSource : undefined;
    d.socket.onLatch = (address, port) =>
      this.d.logger.debug({ event: 'moh.rtp.latched', tenant: d.tenant, sdp: `${o.address}:${o.port}`, to: `${address}:${port}` });
    // A refresh (re-INVITE, UPDATE) repeating the private address keeps the stream where the caller's RTP pulled it.
    const sameAsBefore = d.negotiated !== undefined && d.negotiated.address === o.address && d.negotiated.port === o.port;
    try {
      if (!(behindNat && sameAsBefore)) await d.socket.connect(o.address, o.port);
    } catch (e) {
      // Behind NAT the SDP's address may not even be routable from here: wait for the caller's RTP instead.
      if (!behindNat) throw e;
    }
    // A BYE may have ended the dialog while we waited.
    if (d.ended === true) return;
    d.stream.payloadType = pt;
    d.stream.isAlaw = o.codecs.get(pt) === 'PCMA';
    d.offerDirection = o.direction;
    d.negotiated = { ...o, payloadTypes: [pt, ...o.payloadTypes.filter((x) => x !== pt)] };
    d.stream.paused = answerDirection(o.direction) === 'inactive';
    d.startedAt = this.d.clock.now();
    if (playNow) this.scheduler.add(d.stream);
  }

  private play(d: Dialog): void {
    this.scheduler.add(d.stream);
  }

  /** Our SDP for the dialog: the answer to the negotiated offer, or an offer of both codecs (late offer). */
  private sdp(d: Dialog): string {
    const n = d.negotiated;
    return writeSdp({
      sessionId: d.sessionId,
      version: d.sdpVersion,
      address: d.socket.address,
      port: d.socket.port,
      payloadTypes: n ? n.payloadTypes : [0, 8],
      codecs: n ? n.codecs : new Map([[0, 'PCMU'], [8, 'PCMA']]),
      direction: n ? answerDirection(n.direction) : 'sendonly',
    });
  }

  /** Our SDP as the caller gets it: as it is, or through rtpengine for a relayed caller (undefined when that fails). */
  private async ourSdp(d: Dialog): Promise<string | undefined> {
    const sdp = this.sdp(d);
    if (!d.relayed) return sdp;
    return await this.relay.outbound(d.callId, d.localTag, d.remoteTag, sdp, d.awaitingAnswer);
  }

  /** Sends the 200 with our SDP and, on UDP, keeps it for retransmission until the ACK (RFC 3261 §13.3.1.4). */
  private sendOk(d: Dialog, tx: ServerTransaction, body: string): void {
    const req = tx.request;
    const headers = [
      `Contact: <sip:${req.ruri.user}@${hostPort(tx.flow, this.d.advertisedHost)}${tx.flow.transport === 'udp' ? '' : `;transport=${tx.flow.transport}`}>`,
      `Allow: ${ALLOW}`,
      'Supported: timer',
      ...req.headerLines('record-route').map((v) => `Record-Route: ${v}`),
    ];
    if (d.sessionExpiresMs > 0) {
      headers.push(`Session-Expires: ${d.sessionExpiresMs / 1000};refresher=uac`);
      if (req.headerValues('supported').some((o) => o.toLowerCase() === 'timer')) headers.push('Require: timer');
    }
    const opts: ResponseOptions = { headers, toTag: d.localTag, body, contentType: 'application/sdp' };
    tx.respond(200, 'OK', opts);
    if (!tx.flow.isReliable) {
      const now = this.d.clock.now();
      d.ok = { bytes: this.responses.build(req, 200, 'OK', opts), nextAt: now + T1, interval: T1, giveUpAt: now + 64 * T1 };
      this.unacked.add(d);
    }
  }

  private inDialogRequest(d: Dialog, tx: ServerTransaction): void {
    const req = tx.request;
    // RFC 3261 §12.2.2: a lower CSeq than the last one is out of order -> 500.
    if (req.method !== 'ACK' && req.method !== 'CANCEL' && req.cseq.seq <= d.remoteCseq && req.method !== 'BYE') {
      tx.respond(500, 'Server Internal Error', { headers: ['Retry-After: 1'] });
      return;
    }
    if (req.method !== 'CANCEL') d.remoteCseq = Math.max(d.remoteCseq, req.cseq.seq);
    switch (req.method) {
      case 'BYE':
        tx.respond(200, 'OK');
        this.end(d, 'bye', false);
        return;
      case 'INVITE':
        void this.reinvite(d, tx).catch(() => {
          if (!tx.isCompleted) tx.respond(488, 'Not Acceptable Here', { headers: ['Warning: 305 sipedge "unusable connection address"'] });
        });
        return;
      case 'UPDATE':
        // RFC 4028: an UPDATE refreshes the session; we accept it without an offer only.
        if (req.body.length > 0) {
          tx.respond(488, 'Not Acceptable Here', { headers: ['Warning: 399 sipedge "offers in UPDATE are not supported; use re-INVITE"'] });
          return;
        }
        this.refresh(d, req);
        tx.respond(200, 'OK', { headers: d.sessionExpiresMs > 0 ? [`Session-Expires: ${d.sessionExpiresMs / 1000};refresher=uac`] : [] });
        return;
      case 'OPTIONS':
      case 'INFO':
        tx.respond(200, 'OK', { headers: [`Allow: ${ALLOW}`] });
        return;
      default:
        tx.respond(405, 'Method Not Allowed', { headers: [`Allow: ${ALLOW}`] });
    }
  }

  /** re-INVITE: a new offer (new address, codec list or direction) or a session refresh without one. */
  private async reinvite(d: Dialog, tx: ServerTransaction): Promise<void> {
    const req = tx.request;
    this.refresh(d, req);
    if (req.body.length > 0) {
      const sdp = d.relayed ? await this.relay.reoffer(d.callId, d.remoteTag, d.localTag, req.body) : req.body.toString('latin1');
      const r = sdp === undefined ? { ok: false as const, reason: 'the media relay (rtpengine) did not take the new offer' } : readOffer(sdp);
      if (!r.ok) {
        // RFC 3264 §8: a refused re-offer leaves the session as it was.
        tx.respond(488, 'Not Acceptable Here', { headers: [`Warning: 305 sipedge "${r.reason}"`] });
        return;
      }
      await this.apply(d, r.offer, true);
      d.sdpVersion++;
    }
    const contact = req.contacts()[0];
    if (contact !== undefined) d.remoteTarget = contact.uri;
    const body = this.dialogs.get(d.key) === d ? await this.ourSdp(d) : undefined;
    if (this.dialogs.get(d.key) !== d) {
      tx.respond(481, 'Call/Transaction Does Not Exist');
      return;
    }
    if (body === undefined) {
      tx.respond(503, 'Service Unavailable', { headers: ['Retry-After: 5', 'Warning: 399 sipedge "no media relay (rtpengine) is reachable"'] });
      return;
    }
    this.sendOk(d, tx, body);
  }

  private refresh(d: Dialog, req: SipMessage): void {
    const se = sessionExpires(req);
    if (se !== undefined && se >= MIN_SE) d.sessionExpiresMs = se * 1000;
    if (d.sessionExpiresMs > 0) d.refreshBy = this.d.clock.now() + d.sessionExpiresMs;
  }

  /** CANCEL of an INVITE still being set up: 200 for the CANCEL, 487 for the INVITE (RFC 3261 §9.2). */
  private cancel(tx: ServerTransaction): void {
    const p = this.pending.get(pendingKey(tx.request));
    tx.respond(200, 'OK');
    if (p === undefined || p.tx.isCompleted) return;
    p.cancelled = true;
    p.tx.respond(487, 'Request Terminated');
    this.count('cancelled');
  }

  /** Runs on the scheduler's timer: 2xx retransmissions every tick, timeouts once a second. */
  private onTick(now: number): void {
    for (const d of this.unacked) {
      const ok = d.ok;
      if (ok === undefined) {
        this.unacked.delete(d);
        continue;
      }
      if (now >= ok.giveUpAt) {
        // §13.3.1.4: no ACK within 64*T1 -> the UAS ends the dialog with a BYE.
        this.unacked.delete(d);
        d.ok = undefined;
        this.end(d, 'no-ack', true);
        continue;
      }
      if (now >= ok.nextAt) {
        d.flow.send(ok.bytes);
        ok.interval = Math.min(2 * ok.interval, T2);
        ok.nextAt = now + ok.interval;
      }
    }
    if (now - this.lastSweep < SWEEP_MS) return;
    this.lastSweep = now;
    const timeoutMs = this.d.config.rtpTimeoutSeconds * 1000;
    for (const d of this.dialogs.values()) {
      if (d.refreshBy > 0 && now > d.refreshBy) {
        this.end(d, 'session-expired', true);
        continue;
      }
      const s = d.socket;
      if (s.lastErrorAt > 0 && now - s.lastErrorAt < 2 * SWEEP_MS) {
        if (d.errorSince === 0) d.errorSince = now;
        else if (now - d.errorSince > timeoutMs) {
          this.end(d, 'rtp-unreachable', true);
          continue;
        }
      } else d.errorSince = 0;
      // Only a peer that said it sends (sendrecv/sendonly) can be timed out on silence; rtpengine sends a relayed
      // caller's RTCP to nobody here, and its own timeout ends what a silent browser left.
      const peerSends = !d.relayed && (d.offerDirection === 'sendrecv' || d.offerDirection === 'sendonly');
      if (peerSends && d.negotiated !== undefined && now - Math.max(s.lastHeardAt, d.startedAt) > timeoutMs) {
        this.end(d, 'rtp-timeout', true);
      }
    }
  }

  /** Tears a dialog down: stream, socket, maps; with a BYE to the peer when we end it. */
  private end(d: Dialog, why: string, sendBye: boolean): void {
    if (this.dialogs.get(d.key) === d) this.dialogs.delete(d.key);
    this.unacked.delete(d);
    if (d.stream.slot >= 0) this.scheduler.remove(d.stream);
    else if (!d.ended) d.stream.version.refs--;
    d.ended = true;
    d.socket.close();
    if (d.relayed) this.relay.end(d.callId, why);
    if (sendBye) d.flow.send(byeRequest(d, this.d.serverName, this.d.advertisedHost));
    this.d.logger.debug({ event: 'moh.call.end', tenant: d.tenant, cls: d.cls, why, packets: d.stream.packets });
  }

  /**
   * Where RTP binds and what the SDP announces: media.rtpAddress, else the address the INVITE arrived on; for a UDP
   * listener on a wildcard, the address the caller reaches this host on (local-address.ts: 127.0.0.1 for a caller on
   * this host, the LAN address for one on the LAN, the default route's address for anybody else).
   */
  private rtpAddress(flow: Flow): string {
    if (this.d.config.rtpAddress !== '') return this.d.config.rtpAddress;
    return localAddresses.forFlow(flow);
  }

  private count(outcome: string): void {
    this.d.metrics?.mohCalls.labels(outcome).inc();
  }
}
