// Via header values (RFC 3261 §20.42, §25.1 via-parm) into the Via model, with LWS allowed around '/', ':' and ';'.
// Which Via matches a transaction, and received/rport on responses, are transaction/ and response.ts business.

import { SipError, type Via } from './types.ts';
import { HOSTCHAR, TOKEN, lowerAscii, scanTo, skipWsTo, upperAscii } from './token.ts';
import { parseGenericParamsTo } from './params.ts';
import { isIpv6 } from './uri.ts';

/** A Via plus where it sits in its header value, so that a response can amend it in place. */
export interface ParsedVia extends Via {
  /** Offsets of this via-parm within the (unfolded) header value. */
  start: number;
  end: number;
}

function fail(): never {
  throw new SipError(400, 'Via is malformed');
}

/** Expects SWS "/" SWS at i (before end); returns the index after it. */
function slash(s: string, i: number, end: number): number {
  i = skipWsTo(s, i, end);
  if (i >= end || s.charCodeAt(i) !== 47) fail();
  return skipWsTo(s, i + 1, end);
}

/** Upper-case transport of s[i..e), without allocating for the usual UDP, TCP, TLS, WS and WSS. */
function transportAt(s: string, i: number, e: number): string {
  const len = e - i;
  if (len === 3) {
    const a = s.charCodeAt(i) & 0xdf;
    const b = s.charCodeAt(i + 1) & 0xdf;
    const c = s.charCodeAt(i + 2) & 0xdf;
    if (a === 85 && b === 68 && c === 80) return 'UDP';
    if (a === 84 && b === 67 && c === 80) return 'TCP';
    if (a === 84 && b === 76 && c === 83) return 'TLS';
    if (a === 87 && b === 83 && c === 83) return 'WSS';
  } else if (len === 2 && (s.charCodeAt(i) & 0xdf) === 87 && (s.charCodeAt(i + 1) & 0xdf) === 83) return 'WS';
  return upperAscii(s.slice(i, e));
}

/** Parses one Via header value (one or more comma-separated via-parms) and appends them to out. */
export function parseVias(value: string, out: ParsedVia[]): void {
  parseViasTo(value, 0, value.length, out);
}

/**
 * parseVias over the value s[a..b) of a larger string (a raw message); start and end of each ParsedVia stay relative
 * to a, the start of the value.
 */
export function parseViasTo(s: string, a: number, b: number, out: ParsedVia[]): void {
  let i = skipWsTo(s, a, b);
  for (;;) {
    const start = i;
    let e = scanTo(s, i, b, TOKEN);
    if (e === i) fail();
    i = slash(s, e, b);
    e = scanTo(s, i, b, TOKEN);
    if (e === i) fail();
    i = slash(s, e, b);
    e = scanTo(s, i, b, TOKEN);
    if (e === i) fail();
    const transport = transportAt(s, i, e);
    i = skipWsTo(s, e, b);
    if (i === e) fail(); // sent-protocol LWS sent-by

    let host: string;
    if (i < b && s.charCodeAt(i) === 91) {
      const close = s.indexOf(']', i);
      if (close < 0 || close >= b) fail();
      host = lowerAscii(s.slice(i + 1, close));
      if (!isIpv6(host)) fail();
      i = close + 1;
    } else {
      e = scanTo(s, i, b, HOSTCHAR);
      if (e === i) fail();
      host = lowerAscii(s.slice(i, e));
      i = e;
    }
    let port = 0;
    const c = skipWsTo(s, i, b);
    if (c < b && s.charCodeAt(c) === 58) {
      let pe = skipWsTo(s, c + 1, b);
      const ps = pe;
      for (; pe < b; pe++) {
        const d = s.charCodeAt(pe) - 48;
        if (d < 0 || d > 9) break;
        port = port * 10 + d;
        if (port > 65535) fail();
      }
      if (pe === ps || port <= 0) fail();
      i = pe;
    }

    const params = new Map<string, string>();
    i = parseGenericParamsTo(s, i, b, params, 'Via', true);
    let end = i;
    while (end > start && (s.charCodeAt(end - 1) === 32 || s.charCodeAt(end - 1) === 9)) end--;
    out.push({
      transport,
      host,
      port,
      branch: params.get('branch') ?? '',
      params,
      hasRport: params.has('rport'),
      start: start - a,
      end: end - a,
    });
    if (i >= b) return;
    i = skipWsTo(s, i + 1, b); // past the comma
    if (i >= b) fail();
  }
}
