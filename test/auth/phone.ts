// Test actor: a SIP phone's digest client. It reads our challenge values and answers them as a real UA would.
// Kept independent of src/auth's verify path on purpose: it hashes with node:crypto directly.
import { createHash } from 'node:crypto';
import type { DigestCredentials } from '../../src/sip/types.ts';

type Algorithm = 'MD5' | 'SHA-256';

const h = (algorithm: Algorithm, s: string): string =>
  createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(s).digest('hex');

/** The value of one parameter in a WWW-Authenticate value (quoted or token). */
export function challengeParam(challenge: string, name: string): string | undefined {
  const m = new RegExp(`[ ,]${name}=("([^"]*)"|[^,\\s]+)`).exec(challenge);
  if (m === null) return undefined;
  return m[2] ?? m[1];
}

export interface PhoneOptions {
  /** Source address the requests come from. */
  ip: string;
  /** Source port; default 5060. */
  port?: number;
  /** Transport; default udp. */
  transport?: string;
  username: string;
  password: string;
  realm: string;
  /** Algorithm the phone prefers among those offered; default SHA-256. */
  algorithm?: Algorithm;
  userAgent?: string;
}

/** A phone that keeps its nonce and increments nc as RFC 7616 §3.4 says. */
export class Phone {
  readonly ip: string;
  /** Where its requests come from (the edge binds nonces and trust to it). */
  readonly source: { address: string; port: number; transport: string };
  readonly userAgent: string;
  password: string;
  private nonce = '';
  private nc = 0;
  private algorithm: Algorithm;

  constructor(private readonly opts: PhoneOptions) {
    this.ip = opts.ip;
    this.source = { address: opts.ip, port: opts.port ?? 5060, transport: opts.transport ?? 'udp' };
    this.password = opts.password;
    this.algorithm = opts.algorithm ?? 'SHA-256';
    this.userAgent = opts.userAgent ?? 'Yealink SIP-T46U 108.86.0.45';
  }

  /** Takes the challenge for its algorithm from a 401's WWW-Authenticate values. */
  hear(challenges: string[]): void {
    const mine = challenges.find((c) => challengeParam(c, 'algorithm') === this.algorithm) ?? challenges[0];
    if (mine === undefined) throw new Error('no challenge to answer');
    this.algorithm = (challengeParam(mine, 'algorithm') ?? 'MD5') as Algorithm;
    this.nonce = challengeParam(mine, 'nonce') ?? '';
    this.nc = 0;
  }

  /** Authorization credentials for the next request (nc + 1), with optional overrides of any parameter. */
  credentials(method = 'REGISTER', uri = `sip:${this.opts.realm}`, override: Record<string, string | undefined> = {}): DigestCredentials[] {
    this.nc += 1;
    const nc = this.nc.toString(16).padStart(8, '0');
    return [this.sign(method, uri, nc, override)];
  }

  /** The same credentials again with an nc this phone already used (a replay). */
  replay(method = 'REGISTER', uri = `sip:${this.opts.realm}`): DigestCredentials[] {
    return [this.sign(method, uri, this.nc.toString(16).padStart(8, '0'), {})];
  }

  private sign(method: string, uri: string, nc: string, override: Record<string, string | undefined>): DigestCredentials {
    const cnonce = `c${this.nc}x`;
    const ha1 = h(this.algorithm, `${this.opts.username}:${this.opts.realm}:${this.password}`);
    const ha2 = h(this.algorithm, `${method}:${uri}`);
    const response = h(this.algorithm, `${ha1}:${this.nonce}:${nc}:${cnonce}:auth:${ha2}`);
    const params = new Map<string, string>([
      ['username', this.opts.username],
      ['realm', this.opts.realm],
      ['nonce', this.nonce],
      ['uri', uri],
      ['response', response],
      ['algorithm', this.algorithm],
      ['qop', 'auth'],
      ['nc', nc],
      ['cnonce', cnonce],
    ]);
    for (const [k, v] of Object.entries(override)) {
      if (v === undefined) params.delete(k);
      else params.set(k, v);
    }
    return { scheme: 'Digest', params };
  }
}
