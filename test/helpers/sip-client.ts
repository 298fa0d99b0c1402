// Test actor: a phone or softphone speaking raw SIP over a real UDP, TCP, TLS, WebSocket or secure WebSocket socket.
// Independent of src/: builds requests as text, parses responses with string operations, hashes with node:crypto.
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';

export type ClientTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export interface SipResponse {
  status: number;
  reason: string;
  raw: string;
  /** All values of a header (case-insensitive name, one entry per line). */
  headers(name: string): string[];
  header(name: string): string | undefined;
}

export function parseResponse(raw: string): SipResponse {
  const end = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, end < 0 ? raw.length : end).split('\r\n');
  const [, code, ...reason] = lines[0]!.split(' ');
  const map = new Map<string, string[]>();
  const compact: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length' };
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    let n = l.slice(0, c).trim().toLowerCase();
    n = compact[n] ?? n;
    const arr = map.get(n) ?? [];
    arr.push(l.slice(c + 1).trim());
    map.set(n, arr);
  }
  return {
    status: Number(code),
    reason: reason.join(' '),
    raw,
    headers: (n) => map.get(n.toLowerCase()) ?? [],
    header: (n) => map.get(n.toLowerCase())?.[0],
  };
}

const hash = (alg: 'MD5' | 'SHA-256', s: string) => createHash(alg === 'MD5' ? 'md5' : 'sha256').update(s).digest('hex');

export function param(challenge: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|[ ,])${name}=("([^"]*)"|[^,\\s]+)`, 'i').exec(challenge.replace(/^Digest\s+/i, ' '));
  return m ? (m[2] ?? m[1]) : undefined;
}

/** Authorization header value answering `challenge` (a WWW-Authenticate value). */
export function digestAuthorization(
  challenge: string,
  o: { username: string; password: string; method: string; uri: string; nc?: number; cnonce?: string },
): string {
  const alg = (param(challenge, 'algorithm') ?? 'MD5').toUpperCase() === 'SHA-256' ? 'SHA-256' : 'MD5';
  const realm = param(challenge, 'realm')!;
  const nonce = param(challenge, 'nonce')!;
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? randomBytes(8).toString('hex');
  const ha1 = hash(alg, `${o.username}:${realm}:${o.password}`);
  const ha2 = hash(alg, `${o.method}:${o.uri}`);
  const response = hash(alg, `${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${o.username}", realm="${realm}", nonce="${nonce}", uri="${o.uri}", response="${response}", algorithm=${alg}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

export interface ClientOptions {
  transport: ClientTransport;
  port: number;
  host?: string;
  /** Local address to send from (UDP/TCP), e.g. 127.0.0.2 for a second source. */
  localAddress?: string;
  /** WebSocket subprotocols to offer; default ['sip']. */
  protocols?: string[];
  /** TLS/WSS: the CA (PEM) the edge's certificate must chain to, e.g. its self-signed certificate. */
  ca?: string;
}

/** One socket to the edge; send raw text, wait for responses by predicate. */
export class SipClient {
  readonly received: SipResponse[] = [];
  private waiters: Array<{ pred: (r: SipResponse) => boolean; resolve: (r: SipResponse) => void }> = [];
  private udp?: dgram.Socket;
  private tcp?: net.Socket;
  private ws?: WebSocket;
  private buf = '';
  localPort = 0;
  localHost = '127.0.0.1';
  closed = false;

  private constructor(readonly o: ClientOptions) {}

  static async open(o: ClientOptions): Promise<SipClient> {
    const c = new SipClient(o);
    await c.connect();
    return c;
  }

  get transportName(): string {
    return this.o.transport.toUpperCase();
  }

  private async connect(): Promise<void> {
    const host = this.o.host ?? '127.0.0.1';
    if (this.o.transport === 'udp') {
      const s = dgram.createSocket('udp4');
      this.udp = s;
      s.on('message', (m) => this.onData(m.toString('latin1')));
      await new Promise<void>((r) => s.bind(0, this.o.localAddress ?? '127.0.0.1', () => r()));
      this.localPort = s.address().port;
      this.localHost = this.o.localAddress ?? '127.0.0.1';
    } else if (this.o.transport === 'tcp' || this.o.transport === 'tls') {
      const s =
        this.o.transport === 'tcp'
          ? net.connect({ port: this.o.port, host, localAddress: this.o.localAddress })
          : tls.connect({ socket: net.connect({ port: this.o.port, host, localAddress: this.o.localAddress }), host, ca: this.o.ca });
      this.tcp = s;
      s.setEncoding('latin1');
      s.on('data', (d: string) => this.onStream(d));
      s.on('close', () => (this.closed = true));
      await new Promise<void>((r, j) => {
        s.once(this.o.transport === 'tls' ? 'secureConnect' : 'connect', () => r());
        s.once('error', j);
      });
      this.localPort = s.localPort!;
      this.localHost = s.localAddress!;
    } else {
      const scheme = this.o.transport === 'wss' ? 'wss' : 'ws';
      const ws = new WebSocket(`${scheme}://${host}:${this.o.port}`, this.o.protocols ?? ['sip'], { ca: this.o.ca });
      this.ws = ws;
      ws.on('message', (d) => this.onData(Buffer.from(d as Buffer).toString('latin1')));
      ws.on('close', () => (this.closed = true));
      await new Promise<void>((r, j) => {
        ws.once('open', () => r());
        ws.once('error', j);
      });
      this.localHost = 'df7jal23ls0d.invalid';
      this.localPort = 0;
    }
  }

  private onStream(d: string): void {
    this.buf += d;
    for (;;) {
      while (this.buf.startsWith('\r\n')) this.buf = this.buf.slice(2);
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(this.buf.slice(0, end + 2));
      const len = m ? Number(m[1]) : 0;
      if (this.buf.length < end + 4 + len) return;
      this.onData(this.buf.slice(0, end + 4 + len));
      this.buf = this.buf.slice(end + 4 + len);
    }
  }

  private onData(text: string): void {
    if (text.trim() === '') return;
    const r = parseResponse(text);
    this.received.push(r);
    const i = this.waiters.findIndex((w) => w.pred(r));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(r);
  }

  send(text: string | Buffer): void {
    const b = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    if (this.udp) this.udp.send(b, this.o.port, this.o.host ?? '127.0.0.1');
    else if (this.tcp) this.tcp.write(b);
    else this.ws!.send(b.toString('latin1'));
  }

  /** Waits for a response matching `pred` that arrives after this call (or already in `received` if `past`). */
  waitFor(pred: (r: SipResponse) => boolean, timeoutMs = 3000): Promise<SipResponse> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching SIP response within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (r: SipResponse) => {
        clearTimeout(t);
        resolve(r);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** Resolves true if nothing matching arrives within ms. */
  async silentFor(pred: (r: SipResponse) => boolean, ms: number): Promise<boolean> {
    try {
      await this.waitFor(pred, ms);
      return false;
    } catch {
      return true;
    }
  }

  async request(text: string, callId: string, cseq: number, timeoutMs = 3000): Promise<SipResponse> {
    const p = this.waitFor((r) => r.header('call-id') === callId && r.header('cseq')?.startsWith(`${cseq} `) === true && r.status >= 200, timeoutMs);
    this.send(text);
    return p;
  }

  async close(): Promise<void> {
    if (this.udp) await new Promise<void>((r) => this.udp!.close(() => r()));
    if (this.tcp) {
      this.tcp.destroy();
    }
    if (this.ws) {
      this.ws.terminate();
    }
  }
}

export interface RegisterOptions {
  ext: string;
  domain: string;
  password?: string;
  /** Digest username; default ext. */
  username?: string;
  /** Contact URI; default sip:EXT@<client host:port>;transport=... */
  contact?: string;
  /** Extra Contact params, e.g. ';+sip.instance="<urn:uuid:...>";reg-id=1'. */
  contactParams?: string;
  expires?: number;
  callId?: string;
  extraHeaders?: string[];
  userAgent?: string;
  /** Prefer MD5 (the second challenge) instead of the first (SHA-256). */
  algorithm?: 'MD5' | 'SHA-256';
}

/** A UA that keeps Call-ID and CSeq across registrations, like a real phone. */
export class Phone {
  callId: string;
  cseq = 1;
  constructor(
    readonly client: SipClient,
    readonly o: RegisterOptions,
  ) {
    this.callId = o.callId ?? `${randomBytes(8).toString('hex')}@test`;
  }

  contactUri(): string {
    const c = this.client;
    const t = c.o.transport;
    return this.o.contact ?? `sip:${this.o.ext}@${c.localHost}${c.localPort ? `:${c.localPort}` : ''};transport=${t}`;
  }

  buildRegister(opts: { expires?: number; authorization?: string; contact?: string | null; extra?: string[] } = {}): { text: string; cseq: number } {
    const c = this.client;
    const cseq = this.cseq++;
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const viaHost = c.o.transport === 'ws' || c.o.transport === 'wss' ? c.localHost : `${c.localHost}:${c.localPort}`;
    const expires = opts.expires ?? this.o.expires;
    const lines = [
      `REGISTER sip:${this.o.domain} SIP/2.0`,
      `Via: SIP/2.0/${c.transportName} ${viaHost};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:${this.o.username ?? this.o.ext}@${this.o.domain}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <sip:${this.o.username ?? this.o.ext}@${this.o.domain}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} REGISTER`,
      ...(opts.contact === null ? [] : [opts.contact !== undefined ? `Contact: ${opts.contact}` : `Contact: <${this.contactUri()}>${this.o.contactParams ?? ''}`]),
      ...(expires !== undefined ? [`Expires: ${expires}`] : []),
      ...(opts.authorization ? [`Authorization: ${opts.authorization}`] : []),
      `User-Agent: ${this.o.userAgent ?? 'sipedge-test-phone/1.0'}`,
      ...(this.o.extraHeaders ?? []),
      ...(opts.extra ?? []),
      'Content-Length: 0',
      '',
      '',
    ];
    return { text: lines.join('\r\n'), cseq };
  }

  /** REGISTER -> 401 -> REGISTER with digest; returns the final response (200, 401, 403, ...). */
  async register(opts: { expires?: number; password?: string; contact?: string | null; extra?: string[] } = {}): Promise<SipResponse> {
    const first = this.buildRegister(opts);
    const r1 = await this.client.request(first.text, this.callId, first.cseq);
    if (r1.status !== 401) return r1;
    return this.answer(r1, opts);
  }

  /** Answers a 401 with credentials. */
  async answer(challengeResponse: SipResponse, opts: { expires?: number; password?: string; contact?: string | null; extra?: string[] } = {}): Promise<SipResponse> {
    const challenges = challengeResponse.headers('www-authenticate');
    const ch = this.o.algorithm === 'MD5' ? challenges.find((c) => /algorithm=MD5/i.test(c))! : challenges[0]!;
    const auth = digestAuthorization(ch, {
      username: this.o.username ?? this.o.ext,
      password: opts.password ?? this.o.password ?? '',
      method: 'REGISTER',
      uri: `sip:${this.o.domain}`,
    });
    const second = this.buildRegister({ ...opts, authorization: auth });
    return this.client.request(second.text, this.callId, second.cseq);
  }
}
