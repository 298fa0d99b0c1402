// From, To, Contact, Route-style values: name-addr / addr-spec with header parameters (RFC 3261 §20.10, §25.1).
// The URI inside stays text (parse it with uri.ts when needed); binding rules for Contact belong to registrar/.

import { SipError, type Contact, type NameAddr } from './types.ts';
import { TOKEN, UINT32_MAX, parseDigits, quotedEndTo, scanTo, skipWsTo, trimEndJs, trimStartJs, unquoteAt } from './token.ts';
import { parseGenericParamsTo } from './params.ts';

function fail(label: string): never {
  throw new SipError(400, `${label} is malformed`);
}

/**
 * Parses one name-addr or addr-spec followed by header parameters; label names the header in errors.
 * displayName is unquoted with quoted-pairs resolved ('' when absent). In the addr-spec form the URI ends at the first
 * ';' or LWS, and the parameters belong to the header (§20.10): a URI holding '?' or ',' must be in <>, else 400.
 */
export function parseNameAddr(value: string, label: string): NameAddr {
  return parseNameAddrTo(value, 0, value.length, label);
}

/** parseNameAddr over the value s[a..b) of a larger string (a raw message). */
export function parseNameAddrTo(s: string, a: number, b: number, label: string): NameAddr {
  let i = skipWsTo(s, a, b);
  if (i >= b) fail(label);
  let displayName = '';
  let c = s.charCodeAt(i);
  if (c === 34) {
    const qe = quotedEndTo(s, i, b);
    if (qe < 0) fail(label);
    displayName = unquoteAt(s, i, qe);
    i = skipWsTo(s, qe, b);
    if (i >= b || s.charCodeAt(i) !== 60) fail(label);
  } else if (c !== 60) {
    // *(token LWS) before '<', or an addr-spec whose first token is the scheme. RFC 4475 §3.1.1.6 (lwsdisp):
    // accept no LWS between the display name and '<'.
    const first = i;
    let j = i;
    for (;;) {
      const te = scanTo(s, j, b, TOKEN);
      if (te === j) fail(label);
      const nc = te < b ? s.charCodeAt(te) : -1;
      if (nc === 58 && j === first) return addrSpec(s, first, b, label);
      if (nc === 60) {
        displayName = s.slice(first, te);
        i = te;
        break;
      }
      if (nc !== 32 && nc !== 9) fail(label);
      const k = skipWsTo(s, te, b);
      if (k < b && s.charCodeAt(k) === 60) {
        displayName = s.slice(first, te);
        i = k;
        break;
      }
      j = k;
    }
  }
  // s[i] === '<'
  const close = s.indexOf('>', i);
  if (close < 0 || close >= b || !isBracketedUri(s, i + 1, close)) fail(label);
  const uri = s.slice(i + 1, close);
  const params = new Map<string, string>();
  parseGenericParamsTo(s, close + 1, b, params, label, false);
  return { displayName, uri, params, tag: params.get('tag') };
}

/** A URI inside <> (s[a..b)): a scheme, and no LWS or '<' (RFC 4475 §3.1.2.14 badaspec has "< sip:... >"). */
function isBracketedUri(s: string, a: number, b: number): boolean {
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  if (a >= b) return false;
  const c0 = s.charCodeAt(a) | 0x20;
  if (c0 < 97 || c0 > 122) return false;
  let k = a + 1;
  for (;; k++) {
    if (k >= b) return false;
    const c = s.charCodeAt(k);
    if (c === 58) break;
    const l = c | 0x20;
    if (!((l >= 97 && l <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)) return false;
  }
  for (k++; k < b; k++) {
    const ch = s.charCodeAt(k);
    if (ch === 32 || ch === 9 || ch === 60 || ch === 34 || ch === 13 || ch === 10) return false;
  }
  return true;
}

function addrSpec(s: string, i: number, b: number, label: string): NameAddr {
  let e = i;
  for (; e < b; e++) {
    const ch = s.charCodeAt(e);
    if (ch === 59 || ch === 32 || ch === 9) break;
    // RFC 3261 §20.10: a URI with a comma, question mark or semicolon must use the name-addr form.
    if (ch === 63 || ch === 44 || ch === 60 || ch === 62 || ch === 34) fail(label);
  }
  const params = new Map<string, string>();
  parseGenericParamsTo(s, e, b, params, label, false);
  return { displayName: '', uri: s.slice(i, e), params, tag: params.get('tag') };
}

/** One Contact element: '*' or a name-addr/addr-spec with ;expires= read as delta-seconds (§20.10, §10.2.1.1). */
export function parseContact(value: string): Contact {
  const t = value.trim();
  return parseContactTo(t, 0, t.length);
}

/**
 * parseContact over s[a..b) of a latin1 string (a raw message), already trimmed as String.prototype.trim would
 * (see trimContact).
 */
function parseContactTo(s: string, a: number, b: number): Contact {
  if (b - a === 1 && s.charCodeAt(a) === 42) {
    return { displayName: '', uri: '*', params: new Map(), tag: undefined, isStar: true, expires: undefined };
  }
  const na = parseNameAddrTo(s, a, b, 'Contact');
  const ex = na.params.get('expires');
  let expires: number | undefined;
  if (ex !== undefined) {
    expires = parseDigits(ex, 0, ex.length, UINT32_MAX);
    if (expires < 0) throw new SipError(400, 'Contact is malformed');
  }
  return { displayName: na.displayName, uri: na.uri, params: na.params, tag: na.tag, isStar: false, expires };
}

/** Parses the Contact element s[a..b) of a latin1 string after trimming it as parseContact does, appending to out. */
export function pushContact(s: string, a: number, b: number, out: Contact[]): void {
  const ta = trimStartJs(s, a, b);
  out.push(parseContactTo(s, ta, trimEndJs(s, ta, b)));
}
