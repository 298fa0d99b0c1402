// Lean lazy SIP parser: one latin1 pass indexes the start line and header lines by offsets; accessors parse on demand.
// Header grammar lives in via.ts, name-addr.ts, uri.ts, digest-header.ts; stream framing and limits on size in transport/.

import { SipError } from './types.ts';
import type { CSeq, Contact, DigestCredentials, HeaderField, MessageSource, NameAddr, SipMessage, SipUri, Via } from './types.ts';
import {
  H_AUTHORIZATION,
  H_CALL_ID,
  H_CONTACT,
  H_CONTENT_LENGTH,
  H_CSEQ,
  H_EXPIRES,
  H_FROM,
  H_MAX_FORWARDS,
  H_PROXY_AUTHORIZATION,
  H_TO,
  H_UNKNOWN,
  H_USER_AGENT,
  H_VIA,
  headerId,
  headerIdAt,
} from './header-names.ts';
import { TOKEN, UINT32_MAX, lowerAscii, parseDigits, scan, scanTo, skipWs, skipWsTo } from './token.ts';
import { topLevelComma, trimWs } from './split.ts';
import { parseVias, parseViasTo, type ParsedVia } from './via.ts';
import { parseNameAddrTo, pushContact } from './name-addr.ts';
import { parseDigestTo } from './digest-header.ts';
import { hasScheme, parseUri } from './uri.ts';

/** Most physical header lines (continuations included) a message may carry; more is a flood and gets 400. */
export const MAX_HEADER_LINES = 256;

const EMPTY = Buffer.alloc(0);
/** Numbers per header field in ParsedMessage.h. */
export const HEADER_STRIDE = 6;
const HS = HEADER_STRIDE;

/**
 * The SipMessage parseMessage returns. Exported so that response.ts can read the header index directly (raw, h,
 * the cached Vias); other layers use the SipMessage interface only.
 */
export class ParsedMessage implements SipMessage {
  isRequest = false;
  method = '';
  requestUri = '';
  status = 0;
  reason = '';
  body: Buffer = EMPTY;
  source: MessageSource | undefined = undefined;

  /**
   * The header index, HS numbers per header field: id, name start/end and value start/end in raw (value trimmed),
   * and 1 when the value spans continuation lines. One flat array keeps the parse loop free of per-header objects.
   */
  readonly h: number[] = [];

  /** Parsed Vias once vias() has succeeded (response.ts amends the top one without parsing it again). */
  _vias: ParsedVia[] | undefined = undefined;
  private _from: NameAddr | undefined = undefined;
  private _to: NameAddr | undefined = undefined;
  private _callId: string | undefined = undefined;
  private _cseq: CSeq | undefined = undefined;
  private _maxForwards: number | undefined | null = null;
  private _expires: number | undefined | null = null;
  private _contacts: Contact[] | undefined = undefined;
  private _creds: DigestCredentials[] | undefined = undefined;
  private _proxyCreds: DigestCredentials[] | undefined = undefined;
  private _ruri: SipUri | undefined = undefined;
  /** headerValues results of known headers, by id (allocated on the first call). */
  private _values: Array<string[] | undefined> | undefined = undefined;

  constructor(readonly raw: string) {}

  /** Value of the header field at offset o of h (a multiple of HS). */
  valueAt(o: number): string {
    const h = this.h;
    return h[o + 5] === 1 ? unfold(this.raw, h[o + 3], h[o + 4]) : this.raw.slice(h[o + 3], h[o + 4]);
  }

  private nameAt(o: number): string {
    return this.raw.slice(this.h[o + 1], this.h[o + 2]);
  }

  /** True when the header at o has this id, and for H_UNKNOWN this lower-case name (compared without slicing). */
  private matches(o: number, id: number, lower: string): boolean {
    const h = this.h;
    if (h[o] !== id) return false;
    if (id !== H_UNKNOWN) return true;
    const a = h[o + 1];
    const len = h[o + 2] - a;
    if (len !== lower.length) return false;
    // Unknown names in raw are ASCII tokens (checked by parseMessage), so ASCII folding is lowerAscii's answer.
    const raw = this.raw;
    for (let j = 0; j < len; j++) {
      let c = raw.charCodeAt(a + j);
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== lower.charCodeAt(j)) return false;
    }
    return true;
  }

  /** Offset in h of the first header with this id (and lower-case name when unknown), or -1. */
  private find(id: number, lower: string): number {
    const h = this.h;
    if (id !== H_UNKNOWN) {
      for (let o = 0; o < h.length; o += HS) if (h[o] === id) return o;
      return -1;
    }
    for (let o = 0; o < h.length; o += HS) if (this.matches(o, id, lower)) return o;
    return -1;
  }

  /** First offset in h of a known header id, or -1 (response.ts). */
  firstOf(id: number): number {
    const h = this.h;
    for (let o = 0; o < h.length; o += HS) if (h[o] === id) return o;
    return -1;
  }

  header(name: string): string | undefined {
    const id = headerId(name);
    const i = this.find(id, id === H_UNKNOWN ? lowerAscii(name) : '');
    return i < 0 ? undefined : this.valueAt(i);
  }

  headerLines(name: string): string[] {
    const id = headerId(name);
    const lower = id === H_UNKNOWN ? lowerAscii(name) : '';
    const out: string[] = [];
    for (let o = 0; o < this.h.length; o += HS) if (this.matches(o, id, lower)) out.push(this.valueAt(o));
    return out;
  }

  /** The array is cached per known header name: callers read it and must not change it. */
  headerValues(name: string): string[] {
    const id = headerId(name);
    if (id === H_UNKNOWN) return this.splitValues(id, lowerAscii(name));
    let cache = this._values;
    if (cache === undefined) {
      cache = [];
      this._values = cache;
    }
    let v = cache[id];
    if (v === undefined) {
      v = this.splitValues(id, '');
      cache[id] = v;
    }
    return v;
  }

  private splitValues(id: number, lower: string): string[] {
    const out: string[] = [];
    const h = this.h;
    for (let o = 0; o < h.length; o += HS) {
      if (!this.matches(o, id, lower)) continue;
      if (h[o + 5] === 1) {
        const v = this.valueAt(o);
        splitValuesTo(v, 0, v.length, out);
      } else splitValuesTo(this.raw, h[o + 3], h[o + 4], out);
    }
    return out;
  }

  has(name: string): boolean {
    const id = headerId(name);
    return this.find(id, id === H_UNKNOWN ? lowerAscii(name) : '') >= 0;
  }

  fields(): HeaderField[] {
    const out: HeaderField[] = [];
    for (let o = 0; o < this.h.length; o += HS) out.push({ name: this.nameAt(o), value: this.valueAt(o) });
    return out;
  }

  /** Offset in h of a header that must appear once (RFC 4475 §3.3.9 multi01: duplicates get 400); -1 when absent. */
  private single(id: number, label: string, required: boolean): number {
    let found = -1;
    const h = this.h;
    for (let o = 0; o < h.length; o += HS) {
      if (h[o] !== id) continue;
      if (found >= 0) throw new SipError(400, `${label} is malformed`);
      found = o;
    }
    if (found < 0 && required) throw new SipError(400, `${label} is missing`);
    return found;
  }

  vias(): Via[] {
    if (this._vias === undefined) {
      const out: ParsedVia[] = [];
      const h = this.h;
      for (let o = 0; o < h.length; o += HS) {
        if (h[o] !== H_VIA) continue;
        if (h[o + 5] === 1) parseVias(this.valueAt(o), out);
        else parseViasTo(this.raw, h[o + 3], h[o + 4], out);
      }
      this._vias = out;
    }
    return this._vias;
  }

  get topVia(): Via {
    const v = this.vias();
    if (v.length === 0) throw new SipError(400, 'Via is missing');
    return v[0];
  }

  get callId(): string {
    if (this._callId === undefined) {
      const o = this.single(H_CALL_ID, 'Call-ID', true);
      const h = this.h;
      let v: string;
      if (h[o + 5] === 1) {
        v = this.valueAt(o);
        if (v.indexOf(' ') >= 0 || v.indexOf('\t') >= 0) v = '';
      } else {
        // callid = word [ "@" word ]: no LWS inside (RFC 3261 §25.1).
        const a = h[o + 3];
        const b = h[o + 4];
        const raw = this.raw;
        const sp = raw.indexOf(' ', a);
        const ht = raw.indexOf('\t', a);
        v = (sp >= 0 && sp < b) || (ht >= 0 && ht < b) ? '' : raw.slice(a, b);
      }
      if (v === '') throw new SipError(400, 'Call-ID is malformed');
      this._callId = v;
    }
    return this._callId;
  }

  get cseq(): CSeq {
    if (this._cseq === undefined) {
      const o = this.single(H_CSEQ, 'CSeq', true);
      const folded = this.h[o + 5] === 1;
      const v = folded ? this.valueAt(o) : this.raw;
      const a = folded ? 0 : this.h[o + 3];
      const b = folded ? v.length : this.h[o + 4];
      let e = a;
      while (e < b && v.charCodeAt(e) >= 48 && v.charCodeAt(e) <= 57) e++;
      // §8.1.1.5 / §20.16: the number is a 32-bit unsigned integer; RFC 4475 scalar02 carries 2**65.
      const seq = parseDigits(v, a, e, UINT32_MAX);
      const ms = skipWsTo(v, e, b);
      const me = scanTo(v, ms, b, TOKEN);
      if (seq < 0 || ms === e || me === ms || me !== b) throw new SipError(400, 'CSeq is malformed');
      const m = this.method;
      // Share the request's method string when it is the same text (it nearly always is).
      let k = 0;
      if (m.length === me - ms) while (k < m.length && v.charCodeAt(ms + k) === m.charCodeAt(k)) k++;
      const method = k === me - ms && k > 0 ? m : v.slice(ms, me);
      this._cseq = { seq, method };
    }
    return this._cseq;
  }

  /** parseNameAddr of the single header id at its place in raw (or its unfolded value). */
  private nameAddr(id: number, label: string): NameAddr {
    const o = this.single(id, label, true);
    const h = this.h;
    if (h[o + 5] === 1) {
      const v = this.valueAt(o);
      return parseNameAddrTo(v, 0, v.length, label);
    }
    return parseNameAddrTo(this.raw, h[o + 3], h[o + 4], label);
  }

  get from(): NameAddr {
    if (this._from === undefined) this._from = this.nameAddr(H_FROM, 'From');
    return this._from;
  }

  get to(): NameAddr {
    if (this._to === undefined) this._to = this.nameAddr(H_TO, 'To');
    return this._to;
  }

  /** An optional single header read as 1*DIGIT up to max: undefined when absent, -1 when malformed. */
  private number(id: number, label: string, max: number): number | undefined {
    const o = this.single(id, label, false);
    if (o < 0) return undefined;
    if (this.h[o + 5] === 1) {
      const v = this.valueAt(o);
      return parseDigits(v, 0, v.length, max);
    }
    return parseDigits(this.raw, this.h[o + 3], this.h[o + 4], max);
  }

  get maxForwards(): number | undefined {
    if (this._maxForwards === null) {
      // §20.22: 0-255.
      const n = this.number(H_MAX_FORWARDS, 'Max-Forwards', 255);
      if (n === -1) throw new SipError(400, 'Max-Forwards is malformed');
      this._maxForwards = n;
    }
    return this._maxForwards;
  }

  get expires(): number | undefined {
    if (this._expires === null) {
      const n = this.number(H_EXPIRES, 'Expires', UINT32_MAX);
      if (n === -1) throw new SipError(400, 'Expires is malformed');
      this._expires = n;
    }
    return this._expires;
  }

  contacts(): Contact[] {
    if (this._contacts === undefined) {
      const out: Contact[] = [];
      const h = this.h;
      for (let o = 0; o < h.length; o += HS) {
        if (h[o] !== H_CONTACT) continue;
        const folded = h[o + 5] === 1;
        const v = folded ? this.valueAt(o) : this.raw;
        const a = folded ? 0 : h[o + 3];
        const b = folded ? v.length : h[o + 4];
        const comma = v.indexOf(',', a);
        if (comma < 0 || comma >= b) {
          pushContact(v, a, b, out); // one contact: skip the split scan
          continue;
        }
        const ranges: number[] = [];
        splitRangesTo(v, a, b, ranges);
        for (let k = 0; k < ranges.length; k += 2) {
          if (ranges[k] === ranges[k + 1]) throw new SipError(400, 'Contact is malformed');
          pushContact(v, ranges[k], ranges[k + 1], out);
        }
      }
      this._contacts = out;
    }
    return this._contacts;
  }

  credentials(proxy = false): DigestCredentials[] {
    if (proxy ? this._proxyCreds === undefined : this._creds === undefined) {
      const id = proxy ? H_PROXY_AUTHORIZATION : H_AUTHORIZATION;
      const label = proxy ? 'Proxy-Authorization' : 'Authorization';
      const out: DigestCredentials[] = [];
      const h = this.h;
      for (let o = 0; o < h.length; o += HS) {
        if (h[o] !== id) continue;
        if (h[o + 5] === 1) {
          const v = this.valueAt(o);
          out.push(parseDigestTo(v, 0, v.length, label));
        } else out.push(parseDigestTo(this.raw, h[o + 3], h[o + 4], label));
      }
      if (proxy) this._proxyCreds = out;
      else this._creds = out;
    }
    return (proxy ? this._proxyCreds : this._creds) as DigestCredentials[];
  }

  get userAgent(): string | undefined {
    const o = this.firstOf(H_USER_AGENT);
    return o < 0 ? undefined : this.valueAt(o);
  }

  get ruri(): SipUri {
    if (this._ruri === undefined) {
      if (!this.isRequest) throw new SipError(400, 'Request-URI is missing');
      this._ruri = parseUri(this.requestUri, 'Request-URI');
    }
    return this._ruri;
  }
}

/**
 * The top-level comma-separated elements of s[a..b) as [start, end) pairs pushed onto out, each trimmed of SP/HT;
 * empty elements are kept (start === end). Same rules as splitTopLevel (quotes, quoted-pairs, <>).
 */
function splitRangesTo(s: string, a: number, b: number, out: number[]): void {
  let start = a;
  for (let comma = topLevelComma(s, a, b); comma >= 0; comma = topLevelComma(s, start, b)) {
    pushTrimmed(s, start, comma, out);
    start = comma + 1;
  }
  pushTrimmed(s, start, b, out);
}

function pushTrimmed(s: string, a: number, b: number, out: number[]): void {
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  out.push(a, b);
}

/** The non-empty top-level elements of s[a..b), trimmed, appended to out (headerValues). */
function splitValuesTo(s: string, a: number, b: number, out: string[]): void {
  const ranges: number[] = [];
  splitRangesTo(s, a, b, ranges);
  for (let i = 0; i < ranges.length; i += 2) if (ranges[i]! < ranges[i + 1]!) out.push(s.slice(ranges[i], ranges[i + 1]));
}

/** Value s[a..b) with each line fold (optional WSP, CRLF or LF, WSP) replaced by one SP (RFC 3261 §7.3.1), trimmed. */
function unfold(s: string, a: number, b: number): string {
  let out = '';
  let i = a;
  while (i < b) {
    const nl = s.indexOf('\n', i);
    if (nl < 0 || nl >= b) {
      out += s.slice(i, b);
      break;
    }
    let e = nl;
    if (e > i && s.charCodeAt(e - 1) === 13) e--;
    while (e > i && (s.charCodeAt(e - 1) === 32 || s.charCodeAt(e - 1) === 9)) e--;
    out += s.slice(i, e) + ' ';
    i = skipWs(s, nl + 1);
  }
  return trimWs(out, 0, out.length);
}

/** "SIP/" 1*DIGIT "." 1*DIGIT, case-insensitive: a version we can name in a 505 rather than garbage (400). */
function isSipVersion(v: string): boolean {
  if (v.length < 7 || lowerAscii(v.slice(0, 4)) !== 'sip/') return false;
  const dot = v.indexOf('.', 4);
  if (dot < 5 || dot === v.length - 1) return false;
  return parseDigits(v, 4, dot, 1e6) >= 0 && parseDigits(v, dot + 1, v.length, 1e6) >= 0;
}

function parseStartLine(m: ParsedMessage, s: string, a: number, b: number): void {
  if (b - a >= 8 && (s.charCodeAt(a) | 0x20) === 0x73 && lowerAscii(s.slice(a, a + 8)) === 'sip/2.0 ') {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; RFC 4475 noreason: reason may be empty.
    const code = parseDigits(s, a + 8, a + 11, 999);
    const after = s.charCodeAt(a + 11);
    if (code < 100 || code > 699 || (a + 11 < b && after !== 32)) throw new SipError(400, 'Status-Line is malformed');
    m.status = code;
    m.reason = a + 12 < b ? s.slice(a + 12, b) : '';
    return;
  }
  // Request-Line = Method SP Request-URI SP SIP-Version; extra or trailing SP is rejected (RFC 4475 lwsstart, trws).
  const sp1 = s.indexOf(' ', a);
  if (sp1 < 0 || sp1 >= b || scan(s, a, TOKEN) !== sp1) {
    if (lowerAscii(s.slice(a, Math.min(b, a + 4))) === 'sip/') throw new SipError(400, 'Status-Line is malformed');
    throw new SipError(400, 'Request-Line is malformed');
  }
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 >= b || sp2 === sp1 + 1) throw new SipError(400, 'Request-Line is malformed');
  const version = s.slice(sp2 + 1, b);
  if (version !== 'SIP/2.0' && lowerAscii(version) !== 'sip/2.0') {
    if (isSipVersion(version)) throw new SipError(505, 'Version Not Supported');
    throw new SipError(400, 'Request-Line is malformed');
  }
  const uri = s.slice(sp1 + 1, sp2);
  if (!hasScheme(uri)) throw new SipError(400, 'Request-URI is malformed'); // RFC 4475 ltgtruri: "<sip:...>"
  m.isRequest = true;
  m.method = s.slice(a, sp1);
  m.requestUri = uri;
}

/**
 * Parses one SIP message (a datagram, or one framed stream message). Throws SipError(400) for anything malformed
 * at the message level, SipError(505) for a request with a SIP version other than 2.0. Headers are only indexed here;
 * their insides are parsed by the accessors. CRLF and bare LF line ends are both accepted.
 * Body: exactly Content-Length bytes; extra trailing bytes are ignored (RFC 3261 §18.3); without Content-Length the
 * rest of the buffer is the body (datagrams; stream framing requires Content-Length and is done in transport/).
 */
export function parseMessage(buf: Buffer): SipMessage {
  const s = buf.toString('latin1');
  const n = s.length;
  let pos = 0;
  // §7.5: CRLFs before the start-line are ignored.
  while (pos < n && (s.charCodeAt(pos) === 13 || s.charCodeAt(pos) === 10)) pos++;
  let nl = s.indexOf('\n', pos);
  if (nl < 0) throw new SipError(400, 'Message has no header end');
  const m = new ParsedMessage(s);
  parseStartLine(m, s, pos, nl > pos && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
  pos = nl + 1;

  const h = m.h;
  let lines = 0;
  let bodyStart = -1;
  while (pos < n) {
    nl = s.indexOf('\n', pos);
    if (nl < 0) break;
    let le = nl;
    if (le > pos && s.charCodeAt(le - 1) === 13) le--;
    if (le === pos) {
      bodyStart = nl + 1;
      break;
    }
    if (++lines > MAX_HEADER_LINES) throw new SipError(400, 'Too many header lines');
    const c = s.charCodeAt(pos);
    if (c === 32 || c === 9) {
      // Continuation line (§7.3.1): extends the previous header's value.
      const last = h.length - HS;
      if (last < 0) throw new SipError(400, 'Header line is malformed');
      let e = le;
      while (e > pos && (s.charCodeAt(e - 1) === 32 || s.charCodeAt(e - 1) === 9)) e--;
      if (e > pos) {
        h[last + 4] = e;
        h[last + 5] = 1;
      }
      pos = nl + 1;
      continue;
    }
    const colon = s.indexOf(':', pos);
    if (colon < 0 || colon > le) throw new SipError(400, 'Header line has no colon');
    let ne = colon;
    while (ne > pos && (s.charCodeAt(ne - 1) === 32 || s.charCodeAt(ne - 1) === 9)) ne--;
    if (ne === pos) throw new SipError(400, 'Header name is malformed');
    const id = headerIdAt(s, pos, ne);
    if (id === H_UNKNOWN && scan(s, pos, TOKEN) !== ne) throw new SipError(400, 'Header name is malformed');
    const vs = skipWs(s, colon + 1);
    let ve = le;
    while (ve > vs && (s.charCodeAt(ve - 1) === 32 || s.charCodeAt(ve - 1) === 9)) ve--;
    h.push(id, pos, ne, vs < ve ? vs : ve, ve, 0);
    pos = nl + 1;
  }
  if (bodyStart < 0) throw new SipError(400, 'Message has no header end');

  const avail = n - bodyStart;
  let length = -1;
  for (let o = 0; o < h.length; o += HS) {
    if (h[o] !== H_CONTENT_LENGTH) continue;
    let cl: number;
    if (h[o + 5] === 1) {
      const v = m.valueAt(o);
      cl = parseDigits(v, 0, v.length, 0x7fffffff);
    } else cl = parseDigits(s, h[o + 3], h[o + 4], 0x7fffffff);
    if (cl < 0) throw new SipError(400, 'Content-Length is malformed'); // RFC 4475 ncl: -999
    if (length >= 0 && cl !== length) throw new SipError(400, 'Content-Length appears with different values');
    length = cl;
  }
  if (length < 0) length = avail;
  else if (length > avail) throw new SipError(400, 'Content-Length is larger than the body');
  if (length > 0) m.body = buf.subarray(bodyStart, bodyStart + length);
  return m;
}

/**
 * Touches what every request needs before a transaction is made: Via, From, To, Call-ID, CSeq (its method must equal
 * the request method, RFC 3261 §8.2.2 / RFC 4475 mismatch01), Max-Forwards when present, and the Request-URI
 * (416 for an unknown scheme, §16.3 step 2; 400 for URI headers, §19.1.1 table). Throws the first SipError found.
 */
export function validateRequest(msg: SipMessage): void {
  void msg.topVia;
  void msg.from;
  void msg.to;
  void msg.callId;
  const cseq = msg.cseq;
  if (!msg.isRequest) return;
  if (cseq.method !== msg.method) throw new SipError(400, 'CSeq method does not match the request method');
  void msg.maxForwards;
  if (msg.ruri.headers !== '') throw new SipError(400, 'Request-URI is malformed');
}
