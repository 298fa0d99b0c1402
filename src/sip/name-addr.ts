// From, To, Contact, Route-style values: name-addr / addr-spec with header parameters (RFC 3261 §20.10, §25.1).
// The URI inside stays text (parse it with uri.ts when needed); binding rules for Contact belong to registrar/.

import { SipError, type Contact, type NameAddr } from './types.ts';
import { TOKEN, UINT32_MAX, parseDigits, quotedEnd, scan, skipWs, unquote } from './token.ts';
import { parseGenericParams } from './params.ts';
import { hasScheme } from './uri.ts';

/**
 * Parses one name-addr or addr-spec followed by header parameters; label names the header in errors.
 * displayName is unquoted with quoted-pairs resolved ('' when absent). In the addr-spec form the URI ends at the first
 * ';' or LWS, and the parameters belong to the header (§20.10): a URI holding '?' or ',' must be in <>, else 400.
 */
export function parseNameAddr(value: string, label: string): NameAddr {
  const n = value.length;
  let i = skipWs(value, 0);
  if (i >= n) throw new SipError(400, `${label} is malformed`);
  let displayName = '';
  let uri: string;
  let c = value.charCodeAt(i);
  if (c === 34) {
    const qe = quotedEnd(value, i);
    if (qe < 0) throw new SipError(400, `${label} is malformed`);
    displayName = unquote(value.slice(i, qe));
    i = skipWs(value, qe);
    c = value.charCodeAt(i);
    if (c !== 60) throw new SipError(400, `${label} is malformed`);
  } else if (c !== 60) {
    // *(token LWS) before '<', or an addr-spec whose first token is the scheme. RFC 4475 §3.1.1.6 (lwsdisp):
    // accept no LWS between the display name and '<'.
    const first = i;
    let j = i;
    for (;;) {
      const te = scan(value, j, TOKEN);
      if (te === j) throw new SipError(400, `${label} is malformed`);
      const nc = value.charCodeAt(te);
      if (nc === 58 && j === first) return addrSpec(value, first, label);
      if (nc === 60) {
        displayName = value.slice(first, te);
        i = te;
        break;
      }
      if (nc !== 32 && nc !== 9) throw new SipError(400, `${label} is malformed`);
      const k = skipWs(value, te);
      if (value.charCodeAt(k) === 60) {
        displayName = value.slice(first, te);
        i = k;
        break;
      }
      j = k;
    }
  }
  // value[i] === '<'
  const close = value.indexOf('>', i);
  if (close < 0) throw new SipError(400, `${label} is malformed`);
  uri = value.slice(i + 1, close);
  if (!isBracketedUri(uri)) throw new SipError(400, `${label} is malformed`);
  const params = new Map<string, string>();
  parseGenericParams(value, close + 1, params, label, false);
  return { displayName, uri, params, tag: params.get('tag') };
}

/** A URI inside <>: a scheme, and no LWS or '<' (RFC 4475 §3.1.2.14 badaspec has "< sip:... >"). */
function isBracketedUri(uri: string): boolean {
  if (!hasScheme(uri)) return false;
  for (let k = 0; k < uri.length; k++) {
    const ch = uri.charCodeAt(k);
    if (ch === 32 || ch === 9 || ch === 60 || ch === 34 || ch === 13 || ch === 10) return false;
  }
  return true;
}

function addrSpec(value: string, i: number, label: string): NameAddr {
  const n = value.length;
  let e = i;
  for (; e < n; e++) {
    const ch = value.charCodeAt(e);
    if (ch === 59 || ch === 32 || ch === 9) break;
    // RFC 3261 §20.10: a URI with a comma, question mark or semicolon must use the name-addr form.
    if (ch === 63 || ch === 44 || ch === 60 || ch === 62 || ch === 34) throw new SipError(400, `${label} is malformed`);
  }
  const params = new Map<string, string>();
  parseGenericParams(value, e, params, label, false);
  return { displayName: '', uri: value.slice(i, e), params, tag: params.get('tag') };
}

/** One Contact element: '*' or a name-addr/addr-spec with ;expires= read as delta-seconds (§20.10, §10.2.1.1). */
export function parseContact(value: string): Contact {
  const t = value.trim();
  if (t === '*') return { displayName: '', uri: '*', params: new Map(), tag: undefined, isStar: true, expires: undefined };
  const na = parseNameAddr(t, 'Contact');
  const ex = na.params.get('expires');
  let expires: number | undefined;
  if (ex !== undefined) {
    expires = parseDigits(ex, 0, ex.length, UINT32_MAX);
    if (expires < 0) throw new SipError(400, 'Contact is malformed');
  }
  return { displayName: na.displayName, uri: na.uri, params: na.params, tag: na.tag, isStar: false, expires };
}
