// The two browser SIP stacks our users run, driven in Node against a started edge: JsSIP 3.13 and SIP.js 0.21.
// They are edges we do not own, so they run unmodified, with their default User-Agent strings. The one stand-in is the
// browser's WebSocket: the `ws` package's, tapped so that a test can read the phone's side of the wire and drop the
// connection the way a lost network does.
import JsSIP from 'jssip';
import { Registerer, RegistererState, UserAgent, type RegistererOptions, type SessionDescriptionHandler, type UserAgentOptions } from 'sip.js';
import { WebSocket } from 'ws';

/** How long one softphone step (connect, register, unregister, stop) may take on loopback before the test fails. */
const STEP_MS = 5_000;

/** The browser WebSocket, as the `ws` package's, recording every message each way on the phone's side. */
export class TappedWebSocket extends WebSocket {
  /** Every socket opened while the tap is installed, in order; phones find theirs by URL. */
  static opened: TappedWebSocket[] = [];
  readonly sent: string[] = [];
  readonly received: string[] = [];
  private port: number | undefined;

  constructor(address: string | URL, protocols?: string | string[]) {
    super(address, protocols);
    TappedWebSocket.opened.push(this);
    // Kept past the close, when ws has let go of its socket.
    this.once('open', () => (this.port = (this as unknown as { _socket: { localPort: number } })._socket.localPort));
    this.on('message', (data, isBinary) => this.received.push(isBinary ? `<binary message>` : String(data)));
    const send = this.send;
    // ws overloads send(); both libraries call send(text), which is all the tap needs to see.
    this.send = ((data: unknown, ...rest: unknown[]) => {
      this.sent.push(String(data));
      return (send as (...args: unknown[]) => void).call(this, data, ...rest);
    }) as WebSocket['send'];
  }

  /** The phone's local port: the source port the edge records for the binding (undefined until open). */
  get localPort(): number | undefined {
    return this.port;
  }
}

const globals = globalThis as { WebSocket?: unknown };
let previous: unknown;

/** Node 20 has no global WebSocket; both libraries construct `new WebSocket(url, 'sip')` from the global. */
export function installBrowserWebSocket(): void {
  previous = globals.WebSocket;
  globals.WebSocket = TappedWebSocket;
}

export function uninstallBrowserWebSocket(): void {
  globals.WebSocket = previous;
  TappedWebSocket.opened = [];
}

export interface SoftphoneAccount {
  /** Names the phone in failure messages and in its WebSocket URL's path. */
  name: string;
  wsPort: number;
  ext: string;
  domain: string;
  password: string;
}

/**
 * The phone's WebSocket URL: the edge's port, with the phone's name as the path (browsers connect to a path too, as in
 * wss://edge.example.com/ws, and the edge serves any). The path tells which sockets, reconnects included, are whose.
 */
function urlOf(account: SoftphoneAccount): string {
  return `ws://127.0.0.1:${account.wsPort}/${encodeURIComponent(account.name)}`;
}

function socketsOf(url: string): TappedWebSocket[] {
  const href = new URL(url).href;
  return TappedWebSocket.opened.filter((s) => s.url === href);
}

/** Header lines worth showing in a failure message, besides the start line. */
const SHOWN = /^(cseq|contact|expires|www-authenticate|authorization|require|supported|user-agent):/i;

/** The SIP messages on a phone's sockets (start lines and the registration headers), for failure messages. */
function transcript(sockets: TappedWebSocket[]): string {
  const lines: string[] = [];
  for (const s of sockets) {
    lines.push(`socket :${s.localPort ?? '?'} readyState=${s.readyState}`);
    // Each direction in order; the two directions are not interleaved.
    for (const [dir, list] of [['>', s.sent], ['<', s.received]] as const) {
      for (const m of list) {
        const [start, ...headers] = m.split('\r\n\r\n', 1)[0]!.split('\r\n');
        lines.push(`  ${dir} ${start}`, ...headers.filter((h) => SHOWN.test(h)).map((h) => `      ${h}`));
      }
    }
  }
  return lines.join('\n');
}

/** The REGISTERs with expiry 0 (un-REGISTERs) among `messages`. */
export function unregisters(messages: string[]): string[] {
  return messages.filter((m) => m.startsWith('REGISTER ') && (/\r\nExpires: *0\r\n/i.test(m) || /;expires=0(?![0-9])/i.test(m)));
}

/** Resolves as `subscribe` does, or fails naming `what` and showing the phone's wire after STEP_MS. */
function within<T>(what: string, wire: () => string, subscribe: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${STEP_MS} ms\n${wire()}`)), STEP_MS);
    subscribe(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** How a registration ended for JsSIP: `registered`, or `registrationFailed` with its cause and status. */
export type JsSipRegistration = { registered: true } | { registered: false; cause: string; status: number | undefined };

/** A JsSIP softphone: `new JsSIP.UA({ sockets: [new WebSocketInterface(url)], uri, password, register: true })`. */
export class JsSipPhone {
  readonly ua: JsSIP.UA;
  readonly url: string;
  private stopping = false;

  constructor(readonly account: SoftphoneAccount) {
    JsSIP.debug.disable();
    this.url = urlOf(account);
    // JsSIP's defaults otherwise: register_expires 600, and a reconnect 2 s after a dropped connection.
    this.ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(this.url)],
      uri: `sip:${account.ext}@${account.domain}`,
      password: account.password,
      register: true,
    });
  }

  /** The sockets this phone opened, oldest first (a reconnect opens another). */
  get sockets(): TappedWebSocket[] {
    return socketsOf(this.url);
  }

  /** The phone's current (latest) socket. */
  get socket(): TappedWebSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error(`JsSIP ${this.account.name} has not opened a WebSocket`);
    return s;
  }

  wire(): string {
    return transcript(this.sockets);
  }

  /** The user starts the phone: ua.start() connects and registers. Resolves with how the registration ended. */
  start(): Promise<JsSipRegistration> {
    const done = this.nextRegistration();
    this.ua.start();
    return done;
  }

  /** The next `registered` or `registrationFailed` (JsSIP registers again by itself after a reconnect). */
  nextRegistration(): Promise<JsSipRegistration> {
    return within<JsSipRegistration>(`JsSIP ${this.account.name}: registered or registrationFailed`, () => this.wire(), (resolve) => {
      const ok = (): void => {
        this.ua.off('registrationFailed', failed);
        resolve({ registered: true });
      };
      const failed = (e: { cause?: unknown; response?: { status_code: number } | null }): void => {
        this.ua.off('registered', ok);
        resolve({ registered: false, cause: String(e.cause), status: e.response?.status_code });
      };
      this.ua.once('registered', ok);
      this.ua.once('registrationFailed', failed);
    });
  }

  /** The next `disconnected`; `error` is true when the phone did not close the socket itself. */
  disconnected(): Promise<{ error: boolean }> {
    return within(`JsSIP ${this.account.name}: disconnected`, () => this.wire(), (resolve) =>
      this.ua.once('disconnected', (e: { error: boolean }) => resolve({ error: e.error })),
    );
  }

  /**
   * The user switches the phone off: ua.stop() sends an un-REGISTER when registered, and closes the socket once its
   * transactions are done (JsSIP waits 2 s for them). Resolves on `unregistered` with the final status of the
   * un-REGISTER, or at once (undefined) when the phone was not registered.
   */
  switchOff(): Promise<number | undefined> {
    this.stopping = true;
    if (!this.ua.isRegistered()) {
      this.ua.stop();
      return Promise.resolve(undefined);
    }
    const done = within<number | undefined>(`JsSIP ${this.account.name}: unregistered`, () => this.wire(), (resolve) =>
      this.ua.once('unregistered', (e: { response?: { status_code: number } | null }) => resolve(e.response?.status_code)),
    );
    this.ua.stop();
    return done;
  }

  /** Cleanup: stops the UA and waits until its socket is closed, so that no reconnect outlives the edge. */
  async close(): Promise<void> {
    const open = this.sockets.some((s) => s.readyState !== WebSocket.CLOSED);
    const closed = open ? this.disconnected() : undefined;
    if (this.stopping) this.ua.stop();
    else await this.switchOff();
    await closed;
  }
}

/** A SIP.js softphone: a UserAgent on SIP.js's WebSocket transport and one Registerer, as the SIP.js guide shows. */
export class SipJsPhone {
  readonly ua: UserAgent;
  readonly registerer: Registerer;
  readonly url: string;
  /** SIP.js's warnings and errors, for failure messages. */
  readonly log: string[] = [];

  constructor(readonly account: SoftphoneAccount, registererOptions: RegistererOptions = {}, uaOptions: Partial<UserAgentOptions> = {}) {
    this.url = urlOf(account);
    const uri = UserAgent.makeURI(`sip:${account.ext}@${account.domain}`);
    if (!uri) throw new Error(`SIP.js cannot make a URI of ${account.ext}@${account.domain}`);
    this.ua = new UserAgent({
      uri,
      transportOptions: { server: this.url },
      authorizationUsername: account.ext,
      authorizationPassword: account.password,
      logBuiltinEnabled: false,
      logConfiguration: false,
      logConnector: (level, category, _label, content) => {
        if (level === 'warn' || level === 'error') this.log.push(`${level} ${category}: ${content}`);
      },
      ...uaOptions,
    });
    this.registerer = new Registerer(this.ua, { logConfiguration: false, ...registererOptions });
  }

  get sockets(): TappedWebSocket[] {
    return socketsOf(this.url);
  }

  get socket(): TappedWebSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error(`SIP.js ${this.account.name} has not opened a WebSocket`);
    return s;
  }

  wire(): string {
    return [transcript(this.sockets), ...this.log.map((l) => `  sip.js ${l}`)].join('\n');
  }

  /**
   * The user starts the phone: userAgent.start() connects, registerer.register() sends REGISTER (answering a challenge
   * by itself). Resolves with the final response's status and the registerer's state after it.
   */
  async start(): Promise<{ status: number | undefined; state: RegistererState }> {
    await within<void>(`SIP.js ${this.account.name}: connected`, () => this.wire(), (resolve, reject) => {
      this.ua.start().then(resolve, reject);
    });
    return await within(`SIP.js ${this.account.name}: final response to REGISTER`, () => this.wire(), (resolve, reject) => {
      // The registerer changes state before it calls the delegate.
      const settle = (status: number | undefined): void => resolve({ status, state: this.registerer.state });
      this.registerer
        .register({ requestDelegate: { onAccept: (r) => settle(r.message.statusCode), onReject: (r) => settle(r.message.statusCode) } })
        .catch(reject);
    });
  }

  /** Cleanup: SIP.js's graceful stop (un-REGISTER when registered, then disconnect). */
  async close(): Promise<void> {
    await within<void>(`SIP.js ${this.account.name}: stopped`, () => this.wire(), (resolve, reject) => {
      this.ua.stop().then(resolve, reject);
    });
  }
}

/** A fixed audio offer/answer (SIP.js's FixedSdp and raw test peers). */
export const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n';

/** SIP.js's session description handler without WebRTC: offers and accepts a fixed SDP. */
class FixedSdp implements SessionDescriptionHandler {
  remote: string | undefined;
  close(): void {}
  getDescription(): Promise<{ body: string; contentType: string }> {
    return Promise.resolve({ body: SDP, contentType: 'application/sdp' });
  }
  hasDescription(contentType: string): boolean {
    return contentType === 'application/sdp';
  }
  setDescription(sdp: string): Promise<void> {
    this.remote = sdp;
    return Promise.resolve();
  }
  sendDtmf(): boolean {
    return false;
  }
}
export const fixedSdp: Partial<UserAgentOptions> = { sessionDescriptionHandlerFactory: () => new FixedSdp() };
