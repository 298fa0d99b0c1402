// The Phone tab's softphone: SIP.js registers the signed-in user's extension over the edge's WebSocket listener with
// the HA1 the gateway hands the session (GET /api/voip/webrtc), dials, rings and answers, hangs up, mutes, sends DTMF
// (RFC 4733 in the media, SIP INFO when that is not possible) and reports call state and audio byte counts from
// getStats(). Media is WebRTC (DTLS-SRTP) peer to peer; a peer offering plain RTP gets a clear message instead.
import { Invitation, Inviter, Registerer, RegistererState, SessionState, UserAgent, type Session, type Web } from 'sip.js';
import type { PhoneCredentials } from './api.ts';

export type RegistrationState = 'off' | 'connecting' | 'registered' | 'failed' | 'unavailable';

export interface CallView {
  direction: 'outgoing' | 'incoming';
  remote: string;
  status: 'dialing' | 'ringing' | 'incoming' | 'connected' | 'ended';
  muted: boolean;
  /** Why it ended or what went wrong, for people. */
  message?: string;
  /** The caller offers media the browser cannot take (plain RTP): answering will fail. */
  mediaWarning?: string;
  connectedAt?: number;
  bytesIn: number;
  bytesOut: number;
  dtmfSent: string;
}

export interface PhoneView {
  registration: RegistrationState;
  detail: string;
  aor?: string;
  call?: CallView;
}

export const MEDIA_MESSAGE =
  'The call could not carry audio: the other phone does not speak WebRTC (DTLS-SRTP), and this edge has no media ' +
  'relay (rtpengine) up to bridge browsers and desk phones or the PBX.';

export const INCOMING_MEDIA_WARNING =
  'This caller\'s phone does not speak WebRTC (DTLS-SRTP) and no media relay bridges the call: answering here cannot ' +
  'carry audio.';

/** A WebRTC offer or answer: DTLS-SRTP with ICE (RFC 8827); desk phones and PBXs send plain RTP/AVP. */
export function isWebRtcSdp(sdp: string | undefined): boolean {
  return sdp !== undefined && /UDP\/TLS\/RTP\/SAVPF/.test(sdp) && /\ba=fingerprint:/.test(sdp);
}

/** An INVITE with an offer the browser cannot take (no offer at all is a late offer: the browser makes one). */
const offersPlainMedia = (body: string | undefined): boolean => body !== undefined && body !== '' && !isWebRtcSdp(body);

const SIGNALS: Record<string, string> = { '*': '10', '#': '11' };

export class Softphone {
  private ua: UserAgent | undefined;
  private registerer: Registerer | undefined;
  private session: Session | undefined;
  private creds: PhoneCredentials | undefined;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private retriedCredentials = false;
  private readonly audio = new Audio();
  private ring: { stop(): void } | undefined;
  private view: PhoneView = { registration: 'off', detail: 'Not registered' };
  private readonly listeners = new Set<(v: PhoneView) => void>();

  constructor(private readonly fetchCredentials: () => Promise<PhoneCredentials>) {
    this.audio.autoplay = true;
  }

  get state(): PhoneView {
    return this.view;
  }

  subscribe(fn: (v: PhoneView) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  private set(patch: Partial<PhoneView>): void {
    this.view = { ...this.view, ...patch };
    for (const l of this.listeners) l(this.view);
  }

  private setCall(patch: Partial<CallView>): void {
    if (this.view.call) this.set({ call: { ...this.view.call, ...patch } });
  }

  /** Fetches the credentials and registers; safe to call again (restarts with fresh credentials). */
  async start(): Promise<void> {
    await this.stop();
    this.set({ registration: 'connecting', detail: 'Connecting to the edge…' });
    let creds: PhoneCredentials;
    try {
      creds = await this.fetchCredentials();
    } catch (e) {
      this.set({ registration: 'failed', detail: `Could not get your phone credentials: ${(e as Error).message}` });
      return;
    }
    this.creds = creds;
    if (creds.wsUrl === null) {
      this.set({ registration: 'unavailable', detail: 'SIP over WebSocket is switched off on this edge, so the browser phone cannot register.' });
      return;
    }
    const ua = new UserAgent({
      uri: UserAgent.makeURI(creds.aor),
      displayName: creds.displayName,
      authorizationUsername: creds.username,
      authorizationHa1: creds.authorizationHa1,
      transportOptions: { server: creds.wsUrl },
      logLevel: 'error',
      logBuiltinEnabled: false,
      userAgentString: 'sipedge-portal (SIP.js 0.21)',
      // No STUN/TURN server: the browser's host candidates; the edge relays no media itself.
      sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] }, iceGatheringTimeout: 1000 },
      delegate: {
        onInvite: (inv) => this.incoming(inv),
        onDisconnect: (err) => {
          if (err) this.set({ registration: 'failed', detail: 'The connection to the edge was lost. Reload the page to reconnect.' });
        },
      },
    });
    this.ua = ua;
    try {
      await ua.start();
    } catch {
      this.set({ registration: 'failed', detail: `Cannot reach the edge at ${creds.wsUrl}.` });
      return;
    }
    const registerer = new Registerer(ua, { expires: 300 });
    this.registerer = registerer;
    registerer.stateChange.addListener((s) => {
      if (this.registerer !== registerer) return; // stopped, or replaced by a restart
      if (s === RegistererState.Registered) {
        this.retriedCredentials = false;
        this.set({ registration: 'registered', detail: `Registered as ${creds.username}`, aor: creds.aor });
      } else if (s === RegistererState.Unregistered && this.view.registration === 'registered') {
        // A refresh was refused: most likely the VoIP password was changed elsewhere (CLI, another session).
        this.retry('The registration was lost.');
      }
    });
    await registerer.register({
      requestDelegate: {
        onReject: (res) => {
          const code = res.message.statusCode;
          // 401/403 with the HA1 we were given: the VoIP password changed since (or the extension is locked). Fetch
          // the credentials once more before telling the user.
          const why = code === 403 ? 'the extension is locked or refused' : `${code} ${res.message.reasonPhrase}`;
          if (code === 401 || code === 403) this.retry(`Registration failed: ${why}.`);
          else this.set({ registration: 'failed', detail: `Registration failed: ${why}.` });
        },
      },
    });
  }

  /** Fetches the credentials once more and registers again (they may be outdated); reports `failure` the second time. */
  private retry(failure: string): void {
    if (this.retriedCredentials) {
      this.set({ registration: 'failed', detail: failure });
      return;
    }
    this.retriedCredentials = true;
    void this.start();
  }

  async stop(): Promise<void> {
    this.endCallLocally();
    const { ua, registerer } = this;
    this.ua = undefined;
    this.registerer = undefined;
    if (registerer?.state === RegistererState.Registered) await registerer.unregister().catch(() => undefined);
    if (ua) await ua.stop().catch(() => undefined);
    this.set({ registration: 'off', detail: 'Not registered', call: undefined });
  }

  /** Calls an extension of the user's tenant, or a full SIP address. */
  async dial(target: string): Promise<void> {
    const ua = this.ua;
    const t = target.trim();
    if (!ua || !this.creds || this.view.registration !== 'registered' || t === '' || this.busy()) return;
    const domain = this.creds.aor.slice(this.creds.aor.indexOf('@') + 1);
    const uri = UserAgent.makeURI(t.startsWith('sip:') ? t : t.includes('@') ? `sip:${t}` : `sip:${t}@${domain}`);
    if (!uri) {
      this.set({ call: this.newCall('outgoing', t, 'ended', `"${t}" is not a number or SIP address.`) });
      return;
    }
    const inviter = new Inviter(ua, uri, { sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
    this.session = inviter;
    this.set({ call: this.newCall('outgoing', t, 'dialing') });
    this.follow(inviter);
    try {
      await inviter.invite({
        requestDelegate: {
          onProgress: (res) => {
            if (res.message.statusCode === 180 || res.message.statusCode === 183) this.setCall({ status: 'ringing' });
          },
          onAccept: (res) => {
            if (!isWebRtcSdp(res.message.body)) this.setCall({ message: MEDIA_MESSAGE });
          },
          onReject: (res) => {
            const code = res.message.statusCode;
            const why: Record<number, string> = { 404: 'Not found: no such extension.', 480: 'Not available: the other phone is not registered.', 486: 'Busy.', 603: 'Declined.', 487: 'Cancelled.', 488: MEDIA_MESSAGE };
            this.setCall({ message: (code !== undefined ? why[code] : undefined) ?? `The call failed: ${code} ${res.message.reasonPhrase}.` });
          },
        },
      });
    } catch (e) {
      this.setCall({ status: 'ended', message: micMessage(e) });
    }
  }

  async accept(): Promise<void> {
    const s = this.session;
    if (!(s instanceof Invitation) || this.view.call?.status !== 'incoming') return;
    this.ring?.stop();
    if (offersPlainMedia(s.request.body)) {
      // The browser cannot take plain RTP: refuse the offer as RFC 3261 §21.4.26 says (SIP.js would answer 480).
      this.setCall({ message: MEDIA_MESSAGE });
      await s.reject({ statusCode: 488 }).catch(() => undefined);
      return;
    }
    try {
      await s.accept({ sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
    } catch (e) {
      this.setCall({ status: 'ended', message: micMessage(e) });
    }
  }

  async decline(): Promise<void> {
    const s = this.session;
    this.ring?.stop();
    if (s instanceof Invitation && s.state === SessionState.Initial) await s.reject({ statusCode: 603 }).catch(() => undefined);
  }

  async hangup(): Promise<void> {
    const s = this.session;
    if (!s) return;
    if (s.state === SessionState.Established) await s.bye().catch(() => undefined);
    else if (s instanceof Inviter && (s.state === SessionState.Initial || s.state === SessionState.Establishing)) await s.cancel().catch(() => undefined);
    else if (s instanceof Invitation && s.state === SessionState.Initial) await s.reject({ statusCode: 486 }).catch(() => undefined);
  }

  toggleMute(): void {
    const sdh = this.sdh();
    const call = this.view.call;
    if (!sdh || !call || call.status !== 'connected') return;
    sdh.enableSenderTracks(call.muted);
    this.setCall({ muted: !call.muted });
  }

  /** Sends one DTMF digit: RFC 4733 telephone-events in the media when possible, else a SIP INFO (dtmf-relay). */
  async dtmf(digit: string): Promise<void> {
    const s = this.session;
    const sdh = this.sdh();
    if (!s || !sdh || this.view.call?.status !== 'connected' || !/^[0-9*#A-D]$/.test(digit)) return;
    if (!sdh.sendDtmf(digit, { duration: 120, interToneGap: 70 })) {
      const signal = SIGNALS[digit] ?? digit;
      await s.info({ requestOptions: { body: { contentDisposition: 'render', contentType: 'application/dtmf-relay', content: `Signal=${signal}\r\nDuration=120` } } });
    }
    this.setCall({ dtmfSent: (this.view.call?.dtmfSent ?? '') + digit });
  }

  /** Clears an ended call from the view. */
  dismiss(): void {
    if (this.view.call?.status === 'ended') this.set({ call: undefined });
  }

  private busy(): boolean {
    return this.view.call !== undefined && this.view.call.status !== 'ended';
  }

  private newCall(direction: CallView['direction'], remote: string, status: CallView['status'], message?: string): CallView {
    return { direction, remote, status, muted: false, bytesIn: 0, bytesOut: 0, dtmfSent: '', ...(message ? { message } : {}) };
  }

  private incoming(inv: Invitation): void {
    if (this.busy()) {
      void inv.reject({ statusCode: 486 }).catch(() => undefined);
      return;
    }
    this.session = inv;
    const who = inv.remoteIdentity;
    const remote = who.displayName && who.displayName !== who.uri.user ? `${who.displayName} (${who.uri.user})` : (who.uri.user ?? who.uri.toString());
    const call = this.newCall('incoming', remote, 'incoming');
    if (offersPlainMedia(inv.request.body)) call.mediaWarning = INCOMING_MEDIA_WARNING;
    this.set({ call });
    this.ring = startRinging();
    this.follow(inv);
  }

  private follow(s: Session): void {
    s.stateChange.addListener((st) => {
      if (this.session !== s) return;
      if (st === SessionState.Established) {
        this.ring?.stop();
        const sdh = this.sdh();
        if (sdh) {
          this.audio.srcObject = sdh.remoteMediaStream;
          void this.audio.play().catch(() => undefined);
        }
        this.setCall({ status: 'connected', connectedAt: Date.now() });
        this.statsTimer = setInterval(() => void this.readStats(), 1000);
      } else if (st === SessionState.Terminated) {
        this.endCallLocally();
      }
    });
  }

  private endCallLocally(): void {
    this.ring?.stop();
    this.ring = undefined;
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    this.audio.srcObject = null;
    this.session = undefined;
    const call = this.view.call;
    if (call && call.status !== 'ended') {
      const message = call.message ?? (call.status === 'connected' ? 'Call ended.' : call.status === 'incoming' ? 'Missed call.' : 'Call ended.');
      this.setCall({ status: 'ended', message });
    }
  }

  private sdh(): Web.SessionDescriptionHandler | undefined {
    return this.session?.sessionDescriptionHandler as Web.SessionDescriptionHandler | undefined;
  }

  /** Audio bytes in and out of the call's peer connection (getStats: inbound-rtp / outbound-rtp). */
  private async readStats(): Promise<void> {
    const pc = this.sdh()?.peerConnection;
    if (!pc) return;
    let bytesIn = 0;
    let bytesOut = 0;
    (await pc.getStats()).forEach((r: { type: string; kind?: string; bytesReceived?: number; bytesSent?: number }) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') bytesIn += r.bytesReceived ?? 0;
      if (r.type === 'outbound-rtp' && r.kind === 'audio') bytesOut += r.bytesSent ?? 0;
    });
    this.setCall({ bytesIn, bytesOut });
  }
}

function micMessage(e: unknown): string {
  const name = (e as { name?: string })?.name;
  if (name === 'NotAllowedError') return 'The browser did not allow the microphone. Allow it for this site and call again.';
  if (name === 'NotFoundError') return 'No microphone was found.';
  return `The call could not be set up: ${(e as Error)?.message ?? String(e)}`;
}

/** A soft two-tone ring from Web Audio (no sound file), until stopped. */
function startRinging(): { stop(): void } {
  let ctx: AudioContext | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    ctx = new AudioContext();
    const c = ctx;
    const burst = (): void => {
      const gain = c.createGain();
      gain.gain.value = 0.05;
      gain.connect(c.destination);
      for (const f of [440, 480]) {
        const o = c.createOscillator();
        o.frequency.value = f;
        o.connect(gain);
        o.start();
        o.stop(c.currentTime + 1.2);
      }
    };
    burst();
    timer = setInterval(burst, 3000);
  } catch {
    // no audio output: the page still shows the incoming call
  }
  return {
    stop() {
      if (timer) clearInterval(timer);
      void ctx?.close().catch(() => undefined);
    },
  };
}
