// Editing a parsed message into the bytes a proxy sends on (RFC 3261 §16.6, §16.7) and building CANCEL/ACK (§9.1, §17.1.1.3).
// Which target, branch, route set and Record-Route value to use, and sending, are proxy/'s and transaction/'s business.

import { SipError } from './types.ts';
import type { SipMessage } from './types.ts';
import { HEADER_ID_COUNT, H_CONTACT, H_CONTENT_LENGTH, H_MAX_FORWARDS, H_UNKNOWN, H_VIA, headerId } from './header-names.ts';
import { HEADER_STRIDE, ParsedMessage, parseMessage } from './parser.ts';
import { serializeMessage } from './request.ts';
import { topLevelComma } from './split.ts';

const HS = HEADER_STRIDE;
const H_ROUTE = headerId('route');
const H_RECORD_ROUTE = headerId('record-route');

/** What forwardRequest changes; every other header line is copied byte for byte. */
export interface RequestEdit {
  /** New Request-URI (§16.6 step 2); default: keep. */
  requestUri?: string;
  /** Complete Via value put on top, e.g. 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK...' (§16.6 step 8). */
  via: string;
  /** Record-Route values added above the existing ones, in this order (§16.6 step 4). */
  recordRoute?: string[];
  /** Remove the first Route value (§16.4: it named this proxy). Ignored when route is given. */
  removeTopRoute?: boolean;
  /** Replaces every Route value with these, in order ([] removes them all); §16.6 step 7. */
  route?: string[];
  /** Decrement Max-Forwards, or add Max-Forwards: 70 when absent (§16.6 step 3); default true. */
  maxForwardsDecrement?: boolean;
  /** Complete header lines without CRLF, added after the copied headers. */
  extraHeaders?: string[];
  /** Drop every existing Via, so that only `via` remains (topology hiding; the response's Vias are restored with ResponseEdit.vias). */
  dropVias?: boolean;
  /** Replaces every Contact line with one `Contact: <value>` (topology hiding). */
  contact?: string;
  /**
   * Lower-case full names (compact forms match too) of headers to drop, e.g. 'proxy-authorization' of our realm.
   * Via, Route, Record-Route, Max-Forwards and Content-Length have their own options and are not dropped here.
   */
  removeHeaders?: string[];
  /** Replaces the body (an SDP rewritten by the media relay); Content-Length follows it. Content-Type is kept. */
  body?: Buffer;
}

/** What forwardResponse changes; every other header line is copied byte for byte. */
export interface ResponseEdit {
  /** Remove the top Via value, the one this proxy added (§16.7 step 3); default true. */
  removeTopVia?: boolean;
  /** Replace the Record-Route value equal to ours (compared as text) with replacement (§16.7 step 4). */
  recordRoute?: { ours: string; replacement: string };
  /** Every Via line is replaced by these values, in order (the Vias a request had before dropVias removed them). */
  vias?: string[];
  /** Replaces every Contact line with one `Contact: <value>` (topology hiding). */
  contact?: string;
  /** Replaces the body (an SDP rewritten by the media relay); Content-Length follows it. */
  body?: Buffer;
}

/**
 * The bytes of req forwarded with edit applied (§16.6 steps 2-8): the request line with the new Request-URI; the
 * new Via just above the first existing Via; Record-Route values above the first existing one (or at the top);
 * Max-Forwards decremented in place (or Max-Forwards: 70 at the top); the top Route value removed or the Route set
 * replaced; Content-Length set to the body's byte length in place (or at the end); extraHeaders; the body unchanged
 * unless edit.body replaces it.
 * Throws SipError(483) when Max-Forwards is 0 (§16.3 step 3 should have answered already) and SipError(400) when it
 * is malformed. Header lines are written with CRLF; inserted strings may hold UTF-8 (written as UTF-8 bytes).
 */
export function forwardRequest(req: SipMessage, edit: RequestEdit): Buffer {
  const p = asParsed(req);
  if (!p.isRequest) throw new TypeError('forwardRequest needs a request');
  const raw = p.raw;
  const h = p.h;
  const decrement = edit.maxForwardsDecrement !== false;
  let maxForwards = -1;
  if (decrement) {
    const mf = p.maxForwards;
    if (mf === 0) throw new SipError(483, 'Too Many Hops');
    maxForwards = mf === undefined ? 70 : mf - 1;
  }
  const via = 'Via: ' + bytesOf(edit.via) + '\r\n';
  const rr = edit.recordRoute === undefined || edit.recordRoute.length === 0 ? '' : lines('Record-Route: ', edit.recordRoute);
  const route = edit.route === undefined ? undefined : lines('Route: ', edit.route);
  let removeTopRoute = edit.removeTopRoute === true && route === undefined;
  const drop = edit.removeHeaders === undefined || edit.removeHeaders.length === 0 ? undefined : dropSet(edit.removeHeaders);

  let firstVia = -1;
  let firstRR = -1;
  let firstRoute = -1;
  let hasMF = false;
  let hasCL = false;
  for (let o = 0; o < h.length; o += HS) {
    const id = h[o];
    if (id === H_VIA) {
      if (firstVia < 0) firstVia = o;
    } else if (id === H_RECORD_ROUTE) {
      if (firstRR < 0) firstRR = o;
    } else if (id === H_ROUTE) {
      if (firstRoute < 0) firstRoute = o;
    } else if (id === H_MAX_FORWARDS) hasMF = true;
    else if (id === H_CONTENT_LENGTH) hasCL = true;
  }

  const w = new Writer(raw, p.method + ' ' + (edit.requestUri === undefined ? p.requestUri : bytesOf(edit.requestUri)) + ' SIP/2.0\r\n');
  if (firstVia < 0) w.put(via);
  if (firstRR < 0) w.put(rr);
  if (decrement && !hasMF) w.put('Max-Forwards: 70\r\n');
  if (firstRoute < 0 && route !== undefined) w.put(route);
  const body = edit.body ?? p.body;
  const bodyLength = body.length;
  let seenCL = false;
  const dropVias = edit.dropVias === true;
  const contact = edit.contact === undefined ? undefined : 'Contact: ' + bytesOf(edit.contact) + '\r\n';
  let contactDone = false;
  for (let o = 0; o < h.length; o += HS) {
    const id = h[o];
    if (id === H_VIA) {
      if (o === firstVia) w.put(via);
      if (dropVias) continue;
    } else if (id === H_CONTACT && contact !== undefined) {
      if (!contactDone) w.put(contact);
      contactDone = true;
      continue;
    } else if (id === H_RECORD_ROUTE) {
      if (o === firstRR) w.put(rr);
    } else if (id === H_MAX_FORWARDS) {
      if (decrement) {
        w.put(raw.slice(h[o + 1], h[o + 2]) + ': ' + maxForwards + '\r\n');
        continue;
      }
    } else if (id === H_ROUTE) {
      if (route !== undefined) {
        if (o === firstRoute) w.put(route);
        continue;
      }
      if (removeTopRoute) {
        removeTopRoute = false;
        w.put(withoutFirstValue(p, o));
        continue;
      }
    } else if (id === H_CONTENT_LENGTH) {
      if (!seenCL) w.put(raw.slice(h[o + 1], h[o + 2]) + ': ' + bodyLength + '\r\n');
      seenCL = true;
      continue;
    } else if (drop !== undefined && isDropped(drop, raw, h, o)) continue;
    w.copy(h, o);
  }
  const extra = edit.extraHeaders;
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) w.put(bytesOf(extra[i]) + '\r\n');
  if (!hasCL) w.put('Content-Length: ' + bodyLength + '\r\n');
  return withBody(w.end(), body);
}

/**
 * The bytes of res passed upstream (§16.7 steps 3, 4, 9): the top Via value removed (only the first value of a
 * header line holding several), our Record-Route value replaced when asked, Content-Length set to the body's byte
 * length; every other line copied byte for byte, the body unchanged unless edit.body replaces it.
 */
export function forwardResponse(res: SipMessage, edit?: ResponseEdit): Buffer {
  const p = asParsed(res);
  if (p.isRequest) throw new TypeError('forwardResponse needs a response');
  const raw = p.raw;
  const h = p.h;
  let removeTopVia = edit?.removeTopVia !== false;
  const rr = edit?.recordRoute;
  const rrOurs = rr === undefined ? '' : rr.ours.trim();
  let rrPending = rr !== undefined;
  const body = edit?.body ?? p.body;
  const bodyLength = body.length;
  const w = new Writer(raw, 'SIP/2.0 ' + p.status + ' ' + p.reason + '\r\n');
  let seenCL = false;
  const vias = edit?.vias;
  let viasDone = false;
  const contact = edit?.contact === undefined ? undefined : 'Contact: ' + bytesOf(edit.contact) + '\r\n';
  let contactDone = false;
  for (let o = 0; o < h.length; o += HS) {
    const id = h[o];
    if (id === H_VIA && vias !== undefined) {
      if (!viasDone) w.put(lines('Via: ', vias));
      viasDone = true;
      continue;
    }
    if (id === H_CONTACT && contact !== undefined) {
      if (!contactDone) w.put(contact);
      contactDone = true;
      continue;
    }
    if (id === H_VIA && removeTopVia) {
      removeTopVia = false;
      w.put(withoutFirstValue(p, o));
      continue;
    }
    if (id === H_RECORD_ROUTE && rrPending) {
      const replaced = replaceValue(p, o, rrOurs, bytesOf(rr!.replacement));
      if (replaced !== undefined) {
        rrPending = false;
        w.put(replaced);
        continue;
      }
    } else if (id === H_CONTENT_LENGTH) {
      if (!seenCL) w.put(raw.slice(h[o + 1], h[o + 2]) + ': ' + bodyLength + '\r\n');
      seenCL = true;
      continue;
    }
    w.copy(h, o);
  }
  if (!seenCL) w.put('Content-Length: ' + bodyLength + '\r\n');
  return withBody(w.end(), body);
}

/**
 * A CANCEL for req (§9.1): the same Request-URI, From, To, Call-ID and CSeq number (method CANCEL), one Via (via,
 * default the top Via value of req, which must be the request as it was sent), the Route values of req,
 * Max-Forwards: 70 and no body. Throws SipError(400) when req has no Via or a malformed CSeq.
 */
export function buildCancel(req: SipMessage, via?: string): Buffer {
  return buildHopRequest('CANCEL', req, req.header('to'), via);
}

/**
 * The ACK for a non-2xx final response res to the INVITE req (§17.1.1.3): as a CANCEL would be, but with the To of
 * res (it carries the tag) and method ACK. A 2xx is acknowledged end to end by the UAC, never by this edge.
 */
export function buildAck(req: SipMessage, res: SipMessage, via?: string): Buffer {
  return buildHopRequest('ACK', req, res.header('to'), via);
}

function buildHopRequest(method: string, req: SipMessage, to: string | undefined, via: string | undefined): Buffer {
  const top = via ?? req.headerValues('via')[0];
  if (top === undefined) throw new SipError(400, 'Via is missing');
  const seq = req.cseq.seq;
  const from = req.header('from');
  if (from === undefined) throw new SipError(400, 'From is missing');
  if (to === undefined) throw new SipError(400, 'To is missing');
  let s = method + ' ' + req.requestUri + ' SIP/2.0\r\nVia: ' + bytesOf(top) + '\r\nMax-Forwards: 70\r\n';
  const routes = req.headerLines('route');
  for (let i = 0; i < routes.length; i++) s += 'Route: ' + routes[i] + '\r\n';
  s += 'From: ' + from + '\r\nTo: ' + to + '\r\nCall-ID: ' + req.callId + '\r\n';
  s += 'CSeq: ' + seq + ' ' + method + '\r\nContent-Length: 0\r\n\r\n';
  return Buffer.from(s, 'latin1');
}

/** req itself when it came from parseMessage, else parsed again from its canonical bytes (slow path, other models). */
function asParsed(msg: SipMessage): ParsedMessage {
  return msg instanceof ParsedMessage ? msg : (parseMessage(serializeMessage(msg)) as ParsedMessage);
}

/**
 * The head of a message being written. Header lines copied unchanged are collected as runs of raw and appended as
 * one slice per run (fewer, longer pieces for Buffer.from to flatten): a run ends at an inserted string, a skipped
 * line, or a line ending in a bare LF (written with CRLF instead).
 */
class Writer {
  private s: string;
  private a = -1;
  private b = -1;

  constructor(
    private readonly raw: string,
    startLine: string,
  ) {
    this.s = startLine;
  }

  /** Appends text (complete lines with CRLF). */
  put(text: string): void {
    if (this.a >= 0) {
      this.s += this.raw.slice(this.a, this.b);
      this.a = -1;
    }
    this.s += text;
  }

  /**
   * Copies the header line at o of the index h byte for byte, from its name to the end of its last continuation
   * line: the first LF at or after the value end, since the parser trims only SP/HT there.
   */
  copy(h: number[], o: number): void {
    const raw = this.raw;
    const start = h[o + 1];
    const nl = raw.indexOf('\n', h[o + 4]);
    if (nl > 0 && raw.charCodeAt(nl - 1) === 13) {
      if (this.a >= 0 && this.b === start) this.b = nl + 1;
      else {
        if (this.a >= 0) this.s += raw.slice(this.a, this.b);
        this.a = start;
        this.b = nl + 1;
      }
      return;
    }
    this.put(raw.slice(start, nl < 0 ? raw.length : nl) + '\r\n');
  }

  /** The head written so far plus the blank line that ends it. */
  end(): string {
    this.put('\r\n');
    return this.s;
  }
}

/** The value of the header at o as [text, start, end): raw itself unless the value is folded. */
function valueRange(p: ParsedMessage, o: number): [string, number, number] {
  if (p.h[o + 5] === 1) {
    const v = p.valueAt(o);
    return [v, 0, v.length];
  }
  return [p.raw, p.h[o + 3], p.h[o + 4]];
}

/** The header line at o without its first comma-separated value ('' when that was its only value). */
function withoutFirstValue(p: ParsedMessage, o: number): string {
  const [v, a, b] = valueRange(p, o);
  const comma = topLevelComma(v, a, b);
  if (comma < 0) return '';
  let r = comma + 1;
  while (r < b && (v.charCodeAt(r) === 32 || v.charCodeAt(r) === 9 || v.charCodeAt(r) === 44)) r++;
  if (r === b) return '';
  return p.raw.slice(p.h[o + 1], p.h[o + 2]) + ': ' + v.slice(r, b) + '\r\n';
}

/** The header line at o with its value equal to ours replaced, or undefined when no value of the line is ours. */
function replaceValue(p: ParsedMessage, o: number, ours: string, replacement: string): string | undefined {
  const [v, a, b] = valueRange(p, o);
  let start = a;
  while (start <= b) {
    let end = topLevelComma(v, start, b);
    if (end < 0) end = b;
    let x = start;
    let y = end;
    while (x < y && (v.charCodeAt(x) === 32 || v.charCodeAt(x) === 9)) x++;
    while (y > x && (v.charCodeAt(y - 1) === 32 || v.charCodeAt(y - 1) === 9)) y--;
    if (y - x === ours.length && v.startsWith(ours, x)) {
      return p.raw.slice(p.h[o + 1], p.h[o + 2]) + ': ' + v.slice(a, x) + replacement + v.slice(y, b) + '\r\n';
    }
    start = end + 1;
  }
  return undefined;
}

/** Header lines 'prefix + value' for each value. */
function lines(prefix: string, values: string[]): string {
  let s = '';
  for (let i = 0; i < values.length; i++) s += prefix + bytesOf(values[i]) + '\r\n';
  return s;
}

/**
 * s as the latin1 string of its UTF-8 bytes, so that the message, written as latin1, carries UTF-8. Values are
 * nearly always ASCII, for which this is s itself after one scan.
 */
function bytesOf(s: string): string {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1');
  return s;
}

interface DropSet {
  ids: Uint8Array;
  unknown: string[];
}

function dropSet(names: string[]): DropSet {
  const ids = new Uint8Array(HEADER_ID_COUNT);
  const unknown: string[] = [];
  for (const name of names) {
    const id = headerId(name);
    if (id === H_UNKNOWN) unknown.push(name.toLowerCase());
    else ids[id] = 1;
  }
  return { ids, unknown };
}

/** True when the header at o is in the drop set; unknown names are compared ASCII case-insensitively without slicing. */
function isDropped(drop: DropSet, raw: string, h: number[], o: number): boolean {
  const id = h[o];
  if (id !== H_UNKNOWN) return drop.ids[id] === 1;
  const a = h[o + 1];
  const len = h[o + 2] - a;
  next: for (const name of drop.unknown) {
    if (name.length !== len) continue;
    for (let j = 0; j < len; j++) {
      let c = raw.charCodeAt(a + j);
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== name.charCodeAt(j)) continue next;
    }
    return true;
  }
  return false;
}

/** The message's bytes: the head (latin1: one byte per char) and the body written into one buffer, one copy each. */
function withBody(head: string, body: Buffer): Buffer {
  if (body.length === 0) return Buffer.from(head, 'latin1');
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  out.set(body, head.length);
  return out;
}
