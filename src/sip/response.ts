// Building a response to a parsed request (RFC 3261 §8.2.6, §18.2.1 received, RFC 3581 rport) as one latin1 string.
// Which status to send, extra headers (challenges, Contact, Server) and sending it are the callers' business.

import type { ResponseOptions, SipMessage } from './types.ts';
import { parseVias, type ParsedVia } from './via.ts';
import { HEADER_STRIDE, ParsedMessage } from './parser.ts';
import { H_CALL_ID, H_CSEQ, H_FROM, H_TO, H_VIA } from './header-names.ts';

/** Default reason phrases (RFC 3261 §21 and extensions the edge answers with). */
const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  423: 'Interval Too Brief',
  429: 'Too Many Requests',
  439: 'First Hop Lacks Outbound Support',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  603: 'Decline',
};

/** Precomputed "SIP/2.0 <code> <default reason>\r\n" lines. */
const STATUS_LINES = new Map<number, string>();
for (const [code, reason] of Object.entries(REASON_PHRASES)) STATUS_LINES.set(Number(code), `SIP/2.0 ${code} ${reason}\r\n`);

/** The status line for code and reason, from the precomputed table when the reason is the default one. */
export function statusLine(status: number, reason: string): string {
  if (REASON_PHRASES[status] === reason) {
    const pre = STATUS_LINES.get(status);
    if (pre !== undefined) return pre;
  }
  return 'SIP/2.0 ' + status + ' ' + reason + '\r\n';
}

/**
 * The top Via value with ;rport=<port> filled in for a bare rport (RFC 3581 §4) and ;received=<address> added when
 * the source differs from the sent-by host (§18.2.1) or rport was asked for (RFC 3581 §4 adds it even when equal).
 * A malformed Via is copied as it is: the request is then being answered with 400 anyway.
 * parsed is the first via-parm of value when the caller has it already (ParsedMessage caches its Vias).
 */
function amendTopVia(value: string, req: SipMessage, parsed: ParsedVia | undefined): string {
  const src = req.source;
  if (src === undefined) return value;
  let top = parsed;
  if (top === undefined) {
    const vias: ParsedVia[] = [];
    try {
      parseVias(value, vias);
    } catch {
      return value;
    }
    top = vias[0];
  }
  const rportEnd = top.params.get('rport') === '' ? bareRportEnd(value, top.start, top.end) : -1;
  const needsReceived = !top.params.has('received') && (top.hasRport || top.host !== src.address.toLowerCase());
  if (rportEnd < 0 && !needsReceived) return value;
  let head =
    rportEnd < 0
      ? value.slice(0, top.end)
      : value.slice(0, rportEnd) + '=' + src.port + value.slice(rportEnd, top.end);
  if (needsReceived) head += ';received=' + src.address;
  return top.end === value.length ? head : head + value.slice(top.end);
}

/**
 * Offset just past the name of a valueless ';rport' inside value[a..b), or -1: the first 'rport' (any case) that
 * follows ';' and optional SP/HT and is followed by optional SP/HT and then the end, ';' or ','.
 */
function bareRportEnd(value: string, a: number, b: number): number {
  for (let semi = value.indexOf(';', a); semi >= 0 && semi < b; semi = value.indexOf(';', semi + 1)) {
    let k = semi + 1;
    while (k < b && (value.charCodeAt(k) === 32 || value.charCodeAt(k) === 9)) k++;
    if (
      k + 5 > b ||
      (value.charCodeAt(k) | 0x20) !== 114 ||
      (value.charCodeAt(k + 1) | 0x20) !== 112 ||
      (value.charCodeAt(k + 2) | 0x20) !== 111 ||
      (value.charCodeAt(k + 3) | 0x20) !== 114 ||
      (value.charCodeAt(k + 4) | 0x20) !== 116
    )
      continue;
    let q = k + 5;
    while (q < b && (value.charCodeAt(q) === 32 || value.charCodeAt(q) === 9)) q++;
    if (q === b || value.charCodeAt(q) === 59 || value.charCodeAt(q) === 44) return k + 5;
  }
  return -1;
}

function toHasTag(req: SipMessage): boolean {
  try {
    return req.to.tag !== undefined;
  } catch {
    return true; // a malformed To is echoed untouched
  }
}

/**
 * Via, From, To, Call-ID and CSeq lines of a response, read straight from a ParsedMessage's header index: first
 * From/To/Call-ID/CSeq as header() would give them, every Via in order with the top one amended from the cached parse.
 */
function copiedFromIndex(req: ParsedMessage, status: number, toTag: string | undefined): string {
  const h = req.h;
  let s = '';
  let from = -1;
  let to = -1;
  let callId = -1;
  let cseq = -1;
  let top = true;
  for (let o = 0; o < h.length; o += HEADER_STRIDE) {
    const id = h[o];
    if (id === H_VIA) {
      const v = req.valueAt(o);
      if (top) {
        const cached = req._vias;
        s += 'Via: ' + amendTopVia(v, req, cached !== undefined && cached.length > 0 ? cached[0] : undefined) + '\r\n';
        top = false;
      } else s += 'Via: ' + v + '\r\n';
    } else if (id === H_FROM) {
      if (from < 0) from = o;
    } else if (id === H_TO) {
      if (to < 0) to = o;
    } else if (id === H_CALL_ID) {
      if (callId < 0) callId = o;
    } else if (id === H_CSEQ) {
      if (cseq < 0) cseq = o;
    }
  }
  if (from >= 0) s += 'From: ' + req.valueAt(from) + '\r\n';
  if (to >= 0) {
    s += 'To: ' + req.valueAt(to);
    if (toTag !== undefined && status > 100 && !toHasTag(req)) s += ';tag=' + toTag;
    s += '\r\n';
  }
  if (callId >= 0) s += 'Call-ID: ' + req.valueAt(callId) + '\r\n';
  if (cseq >= 0) s += 'CSeq: ' + req.valueAt(cseq) + '\r\n';
  return s;
}

/**
 * Builds the bytes of a response to req: status line; every Via in order (the top one amended for received/rport);
 * From, To (with ;tag=opts.toTag added when the To has none and status > 100), Call-ID and CSeq copied;
 * opts.headers; Content-Type when there is a body (default application/sdp); Content-Length always.
 */
export function createResponse(req: SipMessage, status: number, reason: string, opts?: ResponseOptions): Buffer {
  let s = statusLine(status, reason);
  if (req instanceof ParsedMessage) s += copiedFromIndex(req, status, opts?.toTag);
  else {
    const vias = req.headerLines('via');
    for (let i = 0; i < vias.length; i++) s += 'Via: ' + (i === 0 ? amendTopVia(vias[0], req, undefined) : vias[i]) + '\r\n';
    const from = req.header('from');
    if (from !== undefined) s += 'From: ' + from + '\r\n';
    const to = req.header('to');
    if (to !== undefined) {
      s += 'To: ' + to;
      if (opts?.toTag !== undefined && status > 100 && !toHasTag(req)) s += ';tag=' + opts.toTag;
      s += '\r\n';
    }
    const callId = req.header('call-id');
    if (callId !== undefined) s += 'Call-ID: ' + callId + '\r\n';
    const cseq = req.header('cseq');
    if (cseq !== undefined) s += 'CSeq: ' + cseq + '\r\n';
  }
  const headers = opts?.headers;
  if (headers !== undefined) for (let i = 0; i < headers.length; i++) s += headers[i] + '\r\n';

  const body = opts?.body;
  if (body === undefined || body.length === 0) return Buffer.from(s + 'Content-Length: 0\r\n\r\n', 'latin1');
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  s += 'Content-Type: ' + (opts?.contentType ?? 'application/sdp') + '\r\nContent-Length: ' + bytes.length + '\r\n\r\n';
  const head = Buffer.from(s, 'latin1');
  return Buffer.concat([head, bytes], head.length + bytes.length);
}
