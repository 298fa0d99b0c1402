// Authorization / WWW-Authenticate syntax (RFC 3261 §25.1 credentials/challenge, RFC 7616 auth-params): parse and format.
// Nonces, HA1s, response checking and lockout live in auth/; this file only reads and writes the header text.

import { SipError, type DigestCredentials } from './types.ts';
import { TOKEN, firstCharTable, internAt, interner, knownAt, quote, quotedEndTo, scanTo, skipWsTo, unquoteAt } from './token.ts';

const NAMES = ['username', 'realm', 'nonce', 'uri', 'response', 'cnonce', 'nc', 'qop', 'algorithm', 'opaque', 'stale', 'domain'];
const KNOWN = interner(NAMES);
const KNOWN_FIRST = firstCharTable(NAMES);

function fail(label: string): never {
  throw new SipError(400, `${label} is malformed`);
}

/**
 * Parses `Scheme name=value, name="quoted", ...` (credentials or a challenge). Param names are lower-cased,
 * quoted values are unquoted with quoted-pairs resolved. Works for any scheme, so that an unknown scheme
 * (RFC 4475 §3.3.11 regaut01) reaches auth/ as data instead of an exception.
 */
export function parseDigest(value: string, label = 'Authorization'): DigestCredentials {
  return parseDigestTo(value, 0, value.length, label);
}

/** parseDigest over the value s[a..b) of a larger string (a raw message). */
export function parseDigestTo(s: string, a: number, b: number, label: string): DigestCredentials {
  let i = skipWsTo(s, a, b);
  const se = scanTo(s, i, b, TOKEN);
  if (se === i) fail(label);
  const scheme = se - i === 6 && isDigest(s, i) ? 'Digest' : s.slice(i, se);
  const params = new Map<string, string>();
  i = skipWsTo(s, se, b);
  if (i >= b) return { scheme, params };
  // Without any backslash, a quoted value ends at the next '"' (native indexOf instead of a char loop).
  const bs = s.indexOf('\\', i);
  const plain = bs < 0 || bs >= b;
  if (i === se) fail(label); // scheme LWS params
  for (;;) {
    let name = i < b ? knownAt(s, i, b, KNOWN_FIRST) : undefined;
    if (name !== undefined) i += name.length;
    else {
      const ne = scanTo(s, i, b, TOKEN);
      if (ne === i) fail(label);
      name = internAt(s, i, ne, KNOWN);
      i = ne;
    }
    i = skipWsTo(s, i, b);
    if (i >= b || s.charCodeAt(i) !== 61) fail(label);
    i = skipWsTo(s, i + 1, b);
    let v: string;
    if (i < b && s.charCodeAt(i) === 34) {
      let qe: number;
      if (plain) {
        qe = s.indexOf('"', i + 1) + 1;
        if (qe <= 0 || qe > b) fail(label);
        v = s.slice(i + 1, qe - 1);
      } else {
        qe = quotedEndTo(s, i, b);
        if (qe <= 0) fail(label);
        v = unquoteAt(s, i, qe);
      }
      i = qe;
    } else {
      const ve = scanTo(s, i, b, TOKEN);
      if (ve === i) fail(label);
      v = s.slice(i, ve);
      i = ve;
    }
    params.set(name, v);
    i = skipWsTo(s, i, b);
    if (i >= b) return { scheme, params };
    if (s.charCodeAt(i) !== 44) fail(label);
    i = skipWsTo(s, i + 1, b);
  }
}

/** True when s[i..i+6) is exactly 'Digest' (the scheme string is then shared instead of sliced). */
function isDigest(s: string, i: number): boolean {
  return (
    s.charCodeAt(i) === 68 &&
    s.charCodeAt(i + 1) === 105 &&
    s.charCodeAt(i + 2) === 103 &&
    s.charCodeAt(i + 3) === 101 &&
    s.charCodeAt(i + 4) === 115 &&
    s.charCodeAt(i + 5) === 116
  );
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
