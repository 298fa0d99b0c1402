// Test actor: a phone registering through a SipPeer (REGISTER -> 401 -> REGISTER with a digest), keeping Call-ID and
// CSeq across registrations as real phones do; plus the digest answers (RFC 8760 hashes with node:crypto, not src/).
import { createHash, randomBytes } from 'node:crypto';
import type { Msg, SipPeer } from './sip-peer.ts';

const hash = (alg: 'MD5' | 'SHA-256', s: string) => createHash(alg === 'MD5' ? 'md5' : 'sha256').update(s).digest('hex');

/** A parameter of a digest challenge (quotes removed). */
export function param(challenge: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|[ ,])${name}=("([^"]*)"|[^,\\s]+)`, 'i').exec(challenge.replace(/^Digest\s+/i, ' '));
  return m ? (m[2] ?? m[1]) : undefined;
}

/** Authorization header value answering `challenge` (a WWW-Authenticate or Proxy-Authenticate value). */
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

/** Proxy-Authorization value answering a 407 (its last challenge: MD5). */
export function proxyAuthorization(res: Msg, o: { username: string; password: string; method: string; uri: string }): string {
  return digestAuthorization(res.headers('proxy-authenticate').at(-1)!, o);
}

export interface RegisterOptions {
  ext: string;
  domain: string;
  password?: string;
  /** Digest username; default ext. */
  username?: string;
  /** Contact URI; default sip:EXT@<peer host:port>;transport=... */
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
    readonly client: SipPeer,
    readonly o: RegisterOptions,
  ) {
    this.callId = o.callId ?? `${randomBytes(8).toString('hex')}@test`;
  }

  contactUri(): string {
    const c = this.client;
    return this.o.contact ?? `sip:${this.o.ext}@${c.host}${c.port ? `:${c.port}` : ''};transport=${c.transport}`;
  }

  buildRegister(opts: { expires?: number; authorization?: string; contact?: string | null; extra?: string[] } = {}): { text: string; cseq: number } {
    const cseq = this.cseq++;
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const expires = opts.expires ?? this.o.expires;
    const lines = [
      `REGISTER sip:${this.o.domain} SIP/2.0`,
      `Via: ${this.client.via};branch=${branch};rport`,
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
  async register(opts: { expires?: number; password?: string; contact?: string | null; extra?: string[] } = {}): Promise<Msg> {
    const first = this.buildRegister(opts);
    const r1 = await this.client.sendRequest(first.text, this.callId, first.cseq);
    if (r1.status !== 401) return r1;
    return this.answer(r1, opts);
  }

  /** Answers a 401 with credentials. */
  async answer(challengeResponse: Msg, opts: { expires?: number; password?: string; contact?: string | null; extra?: string[] } = {}): Promise<Msg> {
    const challenges = challengeResponse.headers('www-authenticate');
    // By its algorithm parameter: the SHA-256 challenge's opaque="algorithm=MD5" hint (auth.md5OpaqueHint) names MD5 too.
    const ch = this.o.algorithm === 'MD5' ? challenges.find((c) => param(c, 'algorithm')?.toUpperCase() === 'MD5')! : challenges[0]!;
    const auth = digestAuthorization(ch, {
      username: this.o.username ?? this.o.ext,
      password: opts.password ?? this.o.password ?? '',
      method: 'REGISTER',
      uri: `sip:${this.o.domain}`,
    });
    const second = this.buildRegister({ ...opts, authorization: auth });
    return this.client.sendRequest(second.text, this.callId, second.cseq);
  }
}

/** Registers `peer` as ext@domain for 600 s at its own Contact, answering the MD5 challenge; resolves with the status. */
export async function register(peer: SipPeer, ext: string, domain: string, password: string): Promise<number> {
  const phone = new Phone(peer, { ext, domain, password, contact: peer.contact, expires: 600, algorithm: 'MD5' });
  return (await phone.register()).status;
}
