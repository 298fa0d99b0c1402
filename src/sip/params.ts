// generic-param lists (";" name [ "=" value ]) shared by Via, From/To/Contact and other header values (RFC 3261 §25.1).
// URI parameters differ (paramchar, escapes, no LWS) and live in uri.ts; what a parameter means is the caller's.

import { SipError } from './types.ts';
import { GENVALUE, TOKEN, firstCharTable, internAt, interner, knownAt, quotedEndTo, scanTo, skipWsTo } from './token.ts';

const NAMES = ['tag', 'branch', 'rport', 'received', 'maddr', 'ttl', 'expires', 'q', 'transport', 'lr', 'ob', '+sip.instance', 'reg-id'];
const KNOWN = interner(NAMES);
const KNOWN_FIRST = firstCharTable(NAMES);

/**
 * Reads SEMI generic-param repeatedly from s[i..], allowing LWS around ';' and '=' (SEMI, EQUAL of §25.1).
 * Names are lower-cased; flag params get ''; quoted values keep their quotes (unquote() them when needed).
 * Stops at the end of s, or at a top-level ',' when stopAtComma; anything else throws SipError(400, '<label> is malformed').
 */
function parseGenericParams(
  s: string,
  i: number,
  map: Map<string, string>,
  label: string,
  stopAtComma: boolean,
): number {
  return parseGenericParamsTo(s, i, s.length, map, label, stopAtComma);
}

/** parseGenericParams over s[i..end) of a larger string (a raw message): end stands for the end of the value. */
export function parseGenericParamsTo(
  s: string,
  i: number,
  end: number,
  map: Map<string, string>,
  label: string,
  stopAtComma: boolean,
): number {
  for (;;) {
    i = skipWsTo(s, i, end);
    if (i >= end) return i;
    const c = s.charCodeAt(i);
    if (c === 44 && stopAtComma) return i;
    if (c !== 59) throw new SipError(400, `${label} is malformed`);
    i = skipWsTo(s, i + 1, end);
    let name = i < end ? knownAt(s, i, end, KNOWN_FIRST) : undefined;
    let ne: number;
    if (name !== undefined) ne = i + name.length;
    else {
      ne = scanTo(s, i, end, TOKEN);
      if (ne === i) throw new SipError(400, `${label} is malformed`);
      name = internAt(s, i, ne, KNOWN);
    }
    let j = skipWsTo(s, ne, end);
    if (j < end && s.charCodeAt(j) === 61) {
      j = skipWsTo(s, j + 1, end);
      let ve: number;
      if (j < end && s.charCodeAt(j) === 34) {
        ve = quotedEndTo(s, j, end);
        if (ve < 0) throw new SipError(400, `${label} is malformed`);
      } else {
        ve = scanTo(s, j, end, GENVALUE);
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
