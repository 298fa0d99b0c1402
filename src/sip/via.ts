// Via header values (RFC 3261 §20.42, §25.1 via-parm) into the Via model, with LWS allowed around '/', ':' and ';'.
// Which Via matches a transaction, and received/rport on responses, are transaction/ and response.ts business.

import { SipError, type Via } from './types.ts';
import { HOSTCHAR, TOKEN, lowerAscii, parseDigits, scan, skipWs, upperAscii } from './token.ts';
import { parseGenericParams } from './params.ts';
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

/** Expects SWS "/" SWS at i; returns the index after it. */
function slash(s: string, i: number): number {
  i = skipWs(s, i);
  if (s.charCodeAt(i) !== 47) fail();
  return skipWs(s, i + 1);
}

/** Parses one Via header value (one or more comma-separated via-parms) and appends them to out. */
export function parseVias(value: string, out: ParsedVia[]): void {
  const n = value.length;
  let i = skipWs(value, 0);
  for (;;) {
    const start = i;
    let e = scan(value, i, TOKEN);
    if (e === i) fail();
    i = slash(value, e);
    e = scan(value, i, TOKEN);
    if (e === i) fail();
    i = slash(value, e);
    e = scan(value, i, TOKEN);
    if (e === i) fail();
    const transport = upperAscii(value.slice(i, e));
    i = skipWs(value, e);
    if (i === e) fail(); // sent-protocol LWS sent-by

    let host: string;
    if (value.charCodeAt(i) === 91) {
      const close = value.indexOf(']', i);
      if (close < 0) fail();
      host = lowerAscii(value.slice(i + 1, close));
      if (!isIpv6(host)) fail();
      i = close + 1;
    } else {
      e = scan(value, i, HOSTCHAR);
      if (e === i) fail();
      host = lowerAscii(value.slice(i, e));
      i = e;
    }
    let port = 0;
    const c = skipWs(value, i);
    if (value.charCodeAt(c) === 58) {
      const ps = skipWs(value, c + 1);
      let pe = ps;
      while (pe < n && value.charCodeAt(pe) >= 48 && value.charCodeAt(pe) <= 57) pe++;
      port = parseDigits(value, ps, pe, 65535);
      if (port <= 0) fail();
      i = pe;
    }

    const params = new Map<string, string>();
    i = parseGenericParams(value, i, params, 'Via', true);
    let end = i;
    while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
    out.push({
      transport,
      host,
      port,
      branch: params.get('branch') ?? '',
      params,
      hasRport: params.has('rport'),
      start,
      end,
    });
    if (i >= n) return;
    i = skipWs(value, i + 1); // past the comma
    if (i >= n) fail();
  }
}
