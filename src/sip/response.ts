// Building a response to a parsed request (RFC 3261 §8.2.6, §18.2.1 received, RFC 3581 rport) as one latin1 string.
// Which status to send, extra headers (challenges, Contact, Server) and sending it are the callers' business.

import type { ResponseOptions, SipMessage } from './types.ts';
import { parseVias, type ParsedVia } from './via.ts';

/** Default reason phrases (RFC 3261 §21 and extensions the edge answers with). */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
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
 */
function amendTopVia(value: string, req: SipMessage): string {
  const src = req.source;
  if (src === undefined) return value;
  const vias: ParsedVia[] = [];
  try {
    parseVias(value, vias);
  } catch {
    return value;
  }
  const top = vias[0];
  const rportEnd = top.params.get('rport') === '' ? bareRportEnd(value, top.start, top.end) : -1;
  const needsReceived = !top.params.has('received') && (top.hasRport || top.host !== src.address.toLowerCase());
  if (rportEnd < 0 && !needsReceived) return value;
  let head =
    rportEnd < 0
      ? value.slice(0, top.end)
      : value.slice(0, rportEnd) + '=' + src.port + value.slice(rportEnd, top.end);
  if (needsReceived) head += ';received=' + src.address;
  return head + value.slice(top.end);
}

/** Offset just past the name of a valueless ';rport' inside value[a..b), or -1. */
function bareRportEnd(value: string, a: number, b: number): number {
  const lower = value.slice(a, b).toLowerCase();
  for (let k = lower.indexOf('rport'); k >= 0; k = lower.indexOf('rport', k + 1)) {
    let p = k - 1;
    while (p >= 0 && (lower[p] === ' ' || lower[p] === '\t')) p--;
    let q = k + 5;
    while (q < lower.length && (lower[q] === ' ' || lower[q] === '\t')) q++;
    if (p >= 0 && lower[p] === ';' && (q === lower.length || lower[q] === ';' || lower[q] === ',')) return a + k + 5;
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
 * Builds the bytes of a response to req: status line; every Via in order (the top one amended for received/rport);
 * From, To (with ;tag=opts.toTag added when the To has none and status > 100), Call-ID and CSeq copied;
 * opts.headers; Content-Type when there is a body (default application/sdp); Content-Length always.
 */
export function createResponse(req: SipMessage, status: number, reason: string, opts?: ResponseOptions): Buffer {
  let s = statusLine(status, reason);
  const vias = req.headerLines('via');
  for (let i = 0; i < vias.length; i++) s += 'Via: ' + (i === 0 ? amendTopVia(vias[0], req) : vias[i]) + '\r\n';
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
  if (opts?.headers !== undefined) for (const h of opts.headers) s += h + '\r\n';

  const body = opts?.body;
  if (body === undefined || body.length === 0) return Buffer.from(s + 'Content-Length: 0\r\n\r\n', 'latin1');
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  s += 'Content-Type: ' + (opts?.contentType ?? 'application/sdp') + '\r\nContent-Length: ' + bytes.length + '\r\n\r\n';
  const head = Buffer.from(s, 'latin1');
  return Buffer.concat([head, bytes], head.length + bytes.length);
}
