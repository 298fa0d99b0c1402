// The two browser SIP stacks our users run, driven in Node against a started edge: JsSIP 3.13 and SIP.js 0.21.
// They are edges we do not own, so they run unmodified with their default User-Agent strings; the only stand-in is
// the browser's WebSocket, which is the `ws` package's, tapped so a test can read the phone's side of the wire and
// drop its connection the way a closed laptop lid does.
import JsSIP from 'jssip';
import { Registerer, RegistererState, UserAgent, type UserAgentOptions } from 'sip.js';
import { WebSocket } from 'ws';

/** How long a softphone may take for one step (connect, register, unregister) on loopback before the test fails. */
const STEP_MS = 5_000;

/** The browser WebSocket, as the `ws` package's, recording every message each way on the phone's side. */
export class TappedWebSocket extends WebSocket {
  /** Every socket opened while the tap is installed, in order; a phone claims the ones it opens. */
  static opened: TappedWebSocket[] = [];
  readonly sent: string[] = [];
  readonly received: string[] = [];

  constructor(address: string | URL, protocols?: string | string[]) {
    super(address, protocols);
    TappedWebSocket.opened.push(this);
    this.on('message', (data, isBinary) => this.received.push(isBinary ? `<binary ${String(data).length} bytes>` : String(data)));
    const send = this.send;
    // ws overloads send(); both libraries call send(text), which is all the tap needs to see.
    this.send = ((data: unknown, ...rest: unknown[]) => {
      this.sent.push(String(data));
      return (send as (...args: unknown[]) => void).call(this, data, ...rest);
    }) as WebSocket['send'];
  }

  /** The local port the edge sees as the phone's source port (undefined before connect). */
  get localPort(): number | undefined {
    return (this as unknown as { _socket?: { localPort?: number } })._socket?.localPort;
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

/** The SIP messages of a phone's sockets, first lines only, for failure messages. */
function transcript(sockets: TappedWebSocket[]): string {
  const lines: string[] = [];
  for (const s of sockets) {
    lines.push(`socket :${s.localPort ?? '?'} readyState=${s.readyState}`);
    for (const m of s.sent) lines.push(`  > ${m.split('\r\n', 1)[0]}`);
    for (const m of s.received) lines.push(`  < ${m.split('\r\n', 1)[0]}`);
  }
  return lines.join('\n');
}

/** Resolves with what `subscribe` resolves, or fails with `what` and the phone's wire after STEP_MS. */
function within<T>(what: string, wire: () => string, subscribe: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${STEP_MS} ms\n${wire()}`)), STEP_MS);
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

export interface SoftphoneAccount {
  wsPort: number;
  ext: string;
  domain: string;
  password: string;
}

/** What a failed registration looked like to the phone. */
export interface RegistrationRefusal {
  status: number | undefined;
  /** JsSIP's cause (JsSIP.C.causes), or 'rejected' for SIP.js. */
  cause: string;
}

/** A JsSIP softphone: `new JsSIP.UA({ sockets: [new WebSocketInterface(url)], uri, password, register: true })`. */
export class JsSipPhone {
  readonly ua: JsSIP.UA;
  private readonly firstSocket: number;
  private stopped = false;

  constructor(readonly account: SoftphoneAccount, opts: { reconnectAfterSeconds?: number } = {}) {
    JsSIP.debug.disable();
    const socket = new JsSIP.WebSocketInterface(`ws://127.0.0.1:${account.wsPort}`);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${account.ext}@${account.domain}`,
      password: account.password,
      register: true,
      // JsSIP reconnects 2 s or more after a dropped connection; a story that drops it decides when.
      connection_recovery_min_interval: opts.reconnectAfterSeconds ?? 2,
      connection_recovery_max_interval: Math.max(opts.reconnectAfterSeconds ?? 30, 30),
    });
    this.firstSocket = TappedWebSocket.opened.length;
  }

  /** The sockets this phone opened (a reconnect opens another). */
  get sockets(): TappedWebSocket[] {
    return TappedWebSocket.opened.slice(this.firstSocket);
  }

  get socket(): TappedWebSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error('the JsSIP phone has not opened a WebSocket');
    return s;
  }

  wire(): string {
    return transcript(this.sockets);
  }

  /** Starts the UA and resolves on `registered`; rejects with the refusal on `registrationFailed`. */
  register(): Promise<void> {
    const done = this.nextRegistration();
    this.ua.start();
    return done.then((r) => {
      if (r !== 'registered') throw Object.assign(new Error(`JsSIP registration failed: ${r.cause} (${r.status})\n${this.wire()}`), { refusal: r });
    });
  }

  /** Starts the UA and resolves with the refusal; fails if the phone registers. */
  async refused(): Promise<RegistrationRefusal> {
    const done = this.nextRegistration();
    this.ua.start();
    const r = await done;
    if (r === 'registered') throw new Error(`JsSIP registered, but a refusal was expected\n${this.wire()}`);
    return r;
  }

  /** The next `registered` or `registrationFailed`. */
  nextRegistration(): Promise<'registered' | RegistrationRefusal> {
    return within(`JsSIP ${this.account.ext} registered or registrationFailed`, () => this.wire(), (resolve) => {
      const ok = (): void => {
        this.ua.off('registrationFailed', failed);
        resolve('registered');
      };
      const failed = (e: JsSIP.UnRegisteredEvent): void => {
        this.ua.off('registered', ok);
        resolve({ status: e.response?.status_code, cause: String(e.cause) });
      };
      this.ua.once('registered', ok);
      this.ua.once('registrationFailed', failed);
    });
  }

  /** The next `disconnected` (the transport's socket closed, by either side). */
  disconnected(): Promise<void> {
    return within(`JsSIP ${this.account.ext} disconnected`, () => this.wire(), (resolve) => this.ua.once('disconnected', () => resolve()));
  }

  /**
   * The user switches the phone off: ua.stop() sends REGISTER with Expires: 0 when registered, then closes the
   * socket (JsSIP waits up to 2 s for open transactions first). Resolves on `unregistered` (or at once when not
   * registered), before the socket is closed.
   */
  switchOff(): Promise<void> {
    this.stopped = true;
    if (!this.ua.isRegistered()) {
      this.ua.stop();
      return Promise.resolve();
    }
    const done = within(`JsSIP ${this.account.ext} unregistered`, () => this.wire(), (resolve) => this.ua.once('unregistered', () => resolve()));
    this.ua.stop();
    return done;
  }

  /** Cleanup: stops the UA and waits until its socket is closed, so no reconnect outlives the edge. */
  async close(): Promise<void> {
    const open = this.sockets.some((s) => s.readyState !== WebSocket.CLOSED);
    const closed = open ? this.disconnected() : Promise.resolve();
    if (!this.stopped) await this.switchOff();
    else this.ua.stop();
    await closed;
  }
}

/** A SIP.js softphone: a UserAgent on the Web transport and one Registerer, as the SIP.js docs show. */
export class SipJsPhone {
  readonly ua: UserAgent;
  readonly registerer: Registerer;
  /** SIP.js's own log lines (warnings and errors), kept for failure messages. */
  readonly log: string[] = [];
  private readonly firstSocket: number;

  constructor(
    readonly account: SoftphoneAccount,
    opts: { registerer?: ConstructorParameters<typeof Registerer>[1]; ua?: Partial<UserAgentOptions> } = {},
  ) {
    const uri = UserAgent.makeURI(`sip:${account.ext}@${account.domain}`);
    if (!uri) throw new Error(`bad AOR for SIP.js: ${account.ext}@${account.domain}`);
    this.ua = new UserAgent({
      uri,
      transportOptions: { server: `ws://127.0.0.1:${account.wsPort}` },
      authorizationUsername: account.ext,
      authorizationPassword: account.password,
      logBuiltinEnabled: false,
      logLevel: 'warn',
      logConnector: (level, category, _label, content) => this.log.push(`${level} ${category}: ${content}`),
      ...opts.ua,
    });
    this.registerer = new Registerer(this.ua, { logConfiguration: false, ...opts.registerer });
    this.firstSocket = TappedWebSocket.opened.length;
  }

  get sockets(): TappedWebSocket[] {
    return TappedWebSocket.opened.slice(this.firstSocket);
  }

  get socket(): TappedWebSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error('the SIP.js phone has not opened a WebSocket');
    return s;
  }

  wire(): string {
    return [transcript(this.sockets), ...this.log.map((l) => `  sip.js ${l}`)].join('\n');
  }

  /** Connects, sends REGISTER, and resolves with the final response's status and the registerer's state after it. */
  async register(): Promise<{ status: number; state: RegistererState }> {
    await within(`SIP.js ${this.account.ext} connected`, () => this.wire(), (resolve, reject) => {
      this.ua.start().then(resolve, reject);
    });
    return await within(`SIP.js ${this.account.ext} final response to REGISTER`, () => this.wire(), (resolve, reject) => {
      const settle = (status: number): void => {
        // The state changes before the delegate is called (Registerer.register's onAccept/onReject).
        resolve({ status, state: this.registerer.state });
      };
      this.registerer
        .register({
          requestDelegate: {
            onAccept: (r) => settle(r.message.statusCode),
            onReject: (r) => settle(r.message.statusCode),
          },
        })
        .catch(reject);
    });
  }

  /** Cleanup: a graceful stop (un-REGISTER when registered, then disconnect). */
  async close(): Promise<void> {
    await within(`SIP.js ${this.account.ext} stopped`, () => this.wire(), (resolve, reject) => {
      this.ua.stop().then(resolve, reject);
    });
  }
}
