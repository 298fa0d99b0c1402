// SIP, SIPS and tel URI parsing (RFC 3261 §19.1, §25.1; RFC 3966) into the SipUri model of types.ts.
// Escapes are kept raw (%41 stays %41); comparing URIs (§19.1.4) and choosing targets is the callers' business.

import { SipError, type SipUri } from './types.ts';
import { HCHAR, HEX, HOSTCHAR, PARAMCHAR, PASSWORD, USER, lowerAscii, parseDigits, scan } from './token.ts';

function fail(label: string): never {
  throw new SipError(400, `${label} is malformed`);
}

/** End of a run of tbl chars or valid %HH escapes starting at i; -1 when an escape is broken. */
function scanEscaped(s: string, i: number, end: number, tbl: Uint8Array): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      if (i + 3 > end) return -1;
      if (HEX[s.charCodeAt(i + 1)] !== 1 || HEX[s.charCodeAt(i + 2)] !== 1) return -1;
      i += 3;
    } else if (c < 256 && tbl[c] === 1) i++;
    else break;
  }
  return i;
}

/** True when text starts with a URI scheme followed by ':' (scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )). */
export function hasScheme(text: string): boolean {
  const c0 = text.charCodeAt(0) | 0x20;
  if (c0 < 97 || c0 > 122) return false;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) return true;
    const l = c | 0x20;
    if (!((l >= 97 && l <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)) return false;
  }
  return false;
}

/** Parses ';name[=value]' params from s[i..end) into map (names lower-cased); returns the stop index. */
function parseUriParams(s: string, i: number, end: number, map: Map<string, string>, label: string): number {
  while (i < end && s.charCodeAt(i) === 59) {
    const ns = i + 1;
    const ne = scanEscaped(s, ns, end, PARAMCHAR);
    if (ne <= ns) fail(label);
    const name = lowerAscii(s.slice(ns, ne));
    if (s.charCodeAt(ne) === 61) {
      const ve = scanEscaped(s, ne + 1, end, PARAMCHAR);
      if (ve <= ne + 1) fail(label);
      map.set(name, s.slice(ne + 1, ve));
      i = ve;
    } else {
      map.set(name, '');
      i = ne;
    }
  }
  return i;
}

/**
 * Parses a URI; label names it in the error ('Request-URI', 'Contact URI', ...).
 * Throws SipError(400, '<label> is malformed'), or SipError(416) for schemes other than sip, sips and tel
 * (RFC 3261 §8.2.2.1 and §16.3 step 2 answer those with 416 Unsupported URI Scheme).
 */
export function parseUri(text: string, label = 'Request-URI'): SipUri {
  const colon = text.indexOf(':');
  if (colon <= 0 || !hasScheme(text)) fail(label);
  // 'sip' (any case) without a slice: nearly every URI the edge reads.
  const scheme =
    colon === 3 && (text.charCodeAt(0) | 0x20) === 115 && (text.charCodeAt(1) | 0x20) === 105 && (text.charCodeAt(2) | 0x20) === 112
      ? 'sip'
      : lowerAscii(text.slice(0, colon));
  const params = new Map<string, string>();
  const n = text.length;
  if (scheme === 'tel') return parseTel(text, colon + 1, params, label);
  if (scheme !== 'sip' && scheme !== 'sips') throw new SipError(416, 'Unsupported URI scheme');

  let i = colon + 1;
  let user = '';
  let password = '';
  const at = text.indexOf('@', i);
  if (at >= 0) {
    // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"; user may hold ';', '?', ',' and '/'.
    const ue = scanEscaped(text, i, at, USER);
    if (ue <= i) fail(label);
    user = text.slice(i, ue);
    if (ue < at) {
      if (text.charCodeAt(ue) !== 58) fail(label);
      const pe = scanEscaped(text, ue + 1, at, PASSWORD);
      if (pe !== at) fail(label);
      password = text.slice(ue + 1, at);
    }
    i = at + 1;
  }

  let host: string;
  if (text.charCodeAt(i) === 91) {
    // IPv6reference = "[" IPv6address "]" (RFC 3261 §25.1, RFC 5118); stored without brackets.
    const close = text.indexOf(']', i);
    if (close < 0) fail(label);
    host = lowerAscii(text.slice(i + 1, close));
    if (!isIpv6(host)) fail(label);
    i = close + 1;
  } else {
    const he = scan(text, i, HOSTCHAR);
    if (he === i) fail(label);
    host = lowerAscii(text.slice(i, he));
    i = he;
  }

  let port = 0;
  if (text.charCodeAt(i) === 58) {
    let pe = i + 1;
    while (pe < n && text.charCodeAt(pe) >= 48 && text.charCodeAt(pe) <= 57) pe++;
    port = parseDigits(text, i + 1, pe, 65535);
    if (port < 0) fail(label);
    i = pe;
  }

  i = parseUriParams(text, i, n, params, label);
  let headers = '';
  if (i < n && text.charCodeAt(i) === 63) {
    const he = scanEscaped(text, i + 1, n, HCHAR);
    if (he !== n) fail(label);
    headers = text.slice(i + 1);
    i = n;
  }
  if (i !== n) fail(label);
  return { scheme, user, password, host, port, params, headers };
}

/** tel URI (RFC 3966): the subscriber number goes to user, parameters to params; host stays ''. */
function parseTel(text: string, i: number, params: Map<string, string>, label: string): SipUri {
  const n = text.length;
  const semi = text.indexOf(';', i);
  const ue = semi < 0 ? n : semi;
  const numberEnd = scanEscaped(text, i, ue, PARAMCHAR);
  if (numberEnd !== ue || ue === i) fail(label);
  const end = parseUriParams(text, ue, n, params, label);
  if (end !== n) fail(label);
  return { scheme: 'tel', user: text.slice(i, ue), password: '', host: '', port: 0, params, headers: '' };
}

/** Loose IPv6 text check: hex digits, ':' and '.', at least two colons. */
export function isIpv6(h: string): boolean {
  let colons = 0;
  if (h.length < 2) return false;
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c === 58) colons++;
    else if (c !== 46 && HEX[c] !== 1) return false;
  }
  return colons >= 2;
}
