// Authorization / WWW-Authenticate syntax (RFC 3261 §25.1 credentials/challenge, RFC 7616 auth-params): parse and format.
// Nonces, HA1s, response checking and lockout live in auth/; this file only reads and writes the header text.

import { SipError, type DigestCredentials } from './types.ts';
import { TOKEN, internName, quote, quotedEnd, scan, skipWs, unquote } from './token.ts';

const KNOWN = ['username', 'realm', 'nonce', 'uri', 'response', 'cnonce', 'nc', 'qop', 'algorithm', 'opaque', 'stale', 'domain'];

function fail(label: string): never {
  throw new SipError(400, `${label} is malformed`);
}

/**
 * Parses `Scheme name=value, name="quoted", ...` (credentials or a challenge). Param names are lower-cased,
 * quoted values are unquoted with quoted-pairs resolved. Works for any scheme, so that an unknown scheme
 * (RFC 4475 §3.3.11 regaut01) reaches auth/ as data instead of an exception.
 */
export function parseDigest(value: string, label = 'Authorization'): DigestCredentials {
  const n = value.length;
  let i = skipWs(value, 0);
  const se = scan(value, i, TOKEN);
  if (se === i) fail(label);
  const scheme = value.slice(i, se);
  const params = new Map<string, string>();
  i = skipWs(value, se);
  if (i >= n) return { scheme, params };
  // Without any backslash, a quoted value ends at the next '"' (native indexOf instead of a char loop).
  const plain = value.indexOf('\\') < 0;
  if (i === se) fail(label); // scheme LWS params
  for (;;) {
    const ne = scan(value, i, TOKEN);
    if (ne === i) fail(label);
    const name = internName(value, i, ne, KNOWN);
    i = skipWs(value, ne);
    if (value.charCodeAt(i) !== 61) fail(label);
    i = skipWs(value, i + 1);
    let v: string;
    if (value.charCodeAt(i) === 34) {
      const qe = plain ? value.indexOf('"', i + 1) + 1 : quotedEnd(value, i);
      if (qe <= 0) fail(label);
      v = plain ? value.slice(i + 1, qe - 1) : unquote(value.slice(i, qe));
      i = qe;
    } else {
      const ve = scan(value, i, TOKEN);
      if (ve === i) fail(label);
      v = value.slice(i, ve);
      i = ve;
    }
    params.set(name, v);
    i = skipWs(value, i);
    if (i >= n) return { scheme, params };
    if (value.charCodeAt(i) !== 44) fail(label);
    i = skipWs(value, i + 1);
  }
}

/** Parses a WWW-Authenticate / Proxy-Authenticate value; same grammar as credentials. */
export function parseChallenge(value: string): DigestCredentials {
  return parseDigest(value, 'WWW-Authenticate');
}

/** What auth/ puts in a Digest challenge. */
export interface DigestChallengeParams {
  realm: string;
  nonce: string;
  /** 'MD5' | 'SHA-256' (RFC 8760) ... written unquoted. */
  algorithm: string;
  /** Usually 'auth'; written quoted. */
  qop: string;
  opaque?: string;
  stale?: boolean;
}

/**
 * Formats the value (no header name) of a WWW-Authenticate / Proxy-Authenticate Digest challenge:
 * `Digest realm="r", nonce="n", algorithm=MD5, qop="auth"[, opaque="o"][, stale=true]` (RFC 3261 §20.44, RFC 7616 §3.3).
 */
export function formatDigestChallenge(p: DigestChallengeParams): string {
  let s = 'Digest realm=' + quote(p.realm) + ', nonce=' + quote(p.nonce) + ', algorithm=' + p.algorithm;
  if (p.qop !== '') s += ', qop=' + quote(p.qop);
  if (p.opaque !== undefined) s += ', opaque=' + quote(p.opaque);
  if (p.stale === true) s += ', stale=true';
  return s;
}
