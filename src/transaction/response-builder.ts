// Builds the bytes of every response the transaction layer sends: the Server header and a To tag added by default.
// The response format itself (Via received/rport, copied headers) is sip/response.ts's.
import { newTag } from '../sip/random.ts';
import { createResponse } from '../sip/response.ts';
import type { ResponseOptions, SipMessage } from '../sip/types.ts';

export class ResponseBuilder {
  private readonly serverLine: string | undefined;
  /** Options used when the caller passes none: the Server line alone (the To tag is added per response). */
  private readonly serverOnly: string[] | undefined;

  /** serverHeader: value of the Server header added to each response unless the caller passes one; none when absent. */
  constructor(serverHeader?: string) {
    this.serverLine = serverHeader ? `Server: ${serverHeader}` : undefined;
    this.serverOnly = this.serverLine !== undefined ? Object.freeze([this.serverLine]) as string[] : undefined;
  }

  /**
   * createResponse, plus: the Server header, and a To tag for responses above 100 when the caller gave none
   * (§8.2.6.2: the UAS MUST add one; retransmissions resend the same bytes, so the tag stays stable).
   * Throws what createResponse throws.
   */
  build(req: SipMessage, status: number, reason: string, opts?: ResponseOptions): Buffer {
    return createResponse(req, status, reason, this.options(req, status, opts));
  }

  /**
   * Hot path (every response): one small object of one shape when something is added, no closure, no spread, no
   * string slicing; the caller's options and headers array are never modified (TUs may share them).
   */
  private options(req: SipMessage, status: number, opts: ResponseOptions | undefined): ResponseOptions | undefined {
    // createResponse adds a tag only when the request's To has none: draw a random one only then (in-dialog requests
    // and 100 Trying need none).
    const needsTag = status > 100 && (opts === undefined || opts.toTag === undefined) && !toHasTag(req);
    const line = this.serverLine;
    const headers = opts?.headers;
    const addServer = line !== undefined && (headers === undefined || !hasServerHeader(headers));
    if (!needsTag && !addServer) return opts;
    let outHeaders = headers;
    if (addServer) {
      if (headers === undefined || headers.length === 0) outHeaders = this.serverOnly;
      else {
        const n = headers.length;
        outHeaders = new Array<string>(n + 1);
        for (let i = 0; i < n; i++) outHeaders[i] = headers[i];
        outHeaders[n] = line;
      }
    }
    return {
      headers: outHeaders,
      toTag: needsTag ? newTag() : opts?.toTag,
      body: opts?.body,
      contentType: opts?.contentType,
    };
  }
}

/** As sip/response.ts decides: a malformed To counts as tagged (it is echoed untouched, so no tag is added). */
function toHasTag(req: SipMessage): boolean {
  try {
    return req.to.tag !== undefined;
  } catch {
    return true;
  }
}

const CH_S = 0x73;
const CH_E = 0x65;
const CH_R = 0x72;
const CH_V = 0x76;
const COLON = 0x3a;

/** True when a line starts with "Server:" in any case and has something after it (as `h.length > 7`). */
function hasServerHeader(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    if (
      h.length > 7 &&
      h.charCodeAt(6) === COLON &&
      (h.charCodeAt(0) | 0x20) === CH_S &&
      (h.charCodeAt(1) | 0x20) === CH_E &&
      (h.charCodeAt(2) | 0x20) === CH_R &&
      (h.charCodeAt(3) | 0x20) === CH_V &&
      (h.charCodeAt(4) | 0x20) === CH_E &&
      (h.charCodeAt(5) | 0x20) === CH_R
    )
      return true;
  }
  return false;
}
