// generic-param lists (";" name [ "=" value ]) shared by Via, From/To/Contact and other header values (RFC 3261 §25.1).
// URI parameters differ (paramchar, escapes, no LWS) and live in uri.ts; what a parameter means is the caller's.

import { SipError } from './types.ts';
import { GENVALUE, TOKEN, internName, quotedEnd, scan, skipWs } from './token.ts';

const KNOWN = ['tag', 'branch', 'rport', 'received', 'maddr', 'ttl', 'expires', 'q', 'transport', 'lr', 'ob', '+sip.instance', 'reg-id'];

function internParam(s: string, a: number, b: number): string {
  return internName(s, a, b, KNOWN);
}

/**
 * Reads SEMI generic-param repeatedly from s[i..], allowing LWS around ';' and '=' (SEMI, EQUAL of §25.1).
 * Names are lower-cased; flag params get ''; quoted values keep their quotes (unquote() them when needed).
 * Stops at the end of s, or at a top-level ',' when stopAtComma; anything else throws SipError(400, '<label> is malformed').
 */
export function parseGenericParams(
  s: string,
  i: number,
  map: Map<string, string>,
  label: string,
  stopAtComma: boolean,
): number {
  const n = s.length;
  for (;;) {
    i = skipWs(s, i);
    if (i >= n) return i;
    const c = s.charCodeAt(i);
    if (c === 44 && stopAtComma) return i;
    if (c !== 59) throw new SipError(400, `${label} is malformed`);
    i = skipWs(s, i + 1);
    const ne = scan(s, i, TOKEN);
    if (ne === i) throw new SipError(400, `${label} is malformed`);
    const name = internParam(s, i, ne);
    let j = skipWs(s, ne);
    if (s.charCodeAt(j) === 61) {
      j = skipWs(s, j + 1);
      let ve: number;
      if (s.charCodeAt(j) === 34) {
        ve = quotedEnd(s, j);
        if (ve < 0) throw new SipError(400, `${label} is malformed`);
      } else {
        ve = scan(s, j, GENVALUE);
        if (ve === j) throw new SipError(400, `${label} is malformed`);
      }
      map.set(name, s.slice(j, ve));
      i = ve;
    } else {
      map.set(name, '');
      i = ne;
    }
  }
}
