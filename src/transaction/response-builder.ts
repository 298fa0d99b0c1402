// Builds the bytes of every response the transaction layer sends: the Server header and a To tag added by default.
// The response format itself (Via received/rport, copied headers) is sip/response.ts's.
import { newTag } from '../sip/random.ts';
import { createResponse } from '../sip/response.ts';
import type { ResponseOptions, SipMessage } from '../sip/types.ts';

export class ResponseBuilder {
  private readonly serverLine: string | undefined;

  /** serverHeader: value of the Server header added to each response unless the caller passes one; none when absent. */
  constructor(serverHeader?: string) {
    this.serverLine = serverHeader ? `Server: ${serverHeader}` : undefined;
  }

  /**
   * createResponse, plus: the Server header, and a To tag for responses above 100 when the caller gave none
   * (§8.2.6.2: the UAS MUST add one; retransmissions resend the same bytes, so the tag stays stable).
   * Throws what createResponse throws.
   */
  build(req: SipMessage, status: number, reason: string, opts?: ResponseOptions): Buffer {
    return createResponse(req, status, reason, this.options(status, opts));
  }

  private options(status: number, opts: ResponseOptions | undefined): ResponseOptions | undefined {
    const needsTag = status > 100 && opts?.toTag === undefined;
    const line = this.serverLine;
    const addServer = line !== undefined && !opts?.headers?.some((h) => h.length > 7 && h.slice(0, 7).toLowerCase() === 'server:');
    if (!needsTag && !addServer) return opts;
    const out: ResponseOptions = { ...opts };
    if (needsTag) out.toTag = newTag();
    if (addServer) out.headers = opts?.headers ? [...opts.headers, line] : [line];
    return out;
  }
}
