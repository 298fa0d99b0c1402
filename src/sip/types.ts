// The SIP message model every layer uses: what the parser returns and what builders take.
// This file is a contract: parser.ts implements SipMessage; other layers import only these types.

/** A protocol error: becomes a SIP response with this status (or a counted drop) at the transaction boundary. */
export class SipError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(`${status} ${reason}`);
    this.name = 'SipError';
  }
}

export interface SipUri {
  scheme: string; // 'sip' | 'sips' | 'tel' ... lower-case
  user: string; // unescaped is NOT applied; '' when absent
  password: string;
  host: string; // lower-case; IPv6 without brackets
  port: number; // 0 when absent
  /** URI parameters, names lower-cased; value '' for flag params (e.g. ;lr, ;ob). */
  params: Map<string, string>;
  /** Raw '?a=b' header part without the '?', '' when absent. */
  headers: string;
}

export interface NameAddr {
  displayName: string;
  /** The URI text (inside <> when bracketed). */
  uri: string;
  /** Header parameters after the URI, names lower-cased; '' for flag params. */
  params: Map<string, string>;
  tag: string | undefined;
}

export interface Contact extends NameAddr {
  /** The "*" contact of a REGISTER that removes all bindings. */
  isStar: boolean;
  /** ;expires= as a number, undefined when absent. */
  expires: number | undefined;
}

export interface Via {
  /** 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS' | ..., upper-case. */
  transport: string;
  host: string;
  /** 0 when absent. */
  port: number;
  /** '' when absent. */
  branch: string;
  params: Map<string, string>;
  /** ;rport present (RFC 3581). */
  hasRport: boolean;
}

export interface CSeq {
  seq: number;
  /** Upper-case method as written. */
  method: string;
}

/** One Authorization / Proxy-Authorization credential; param names lower-cased, values unquoted. */
export interface DigestCredentials {
  scheme: string; // 'Digest' compared case-insensitively by callers
  params: Map<string, string>;
}

/** Where a message came from; set by the transport layer before anything reads it. */
export interface MessageSource {
  address: string;
  port: number;
  /** 'udp' | 'tcp' | 'tls' | 'ws' | 'wss' */
  transport: string;
  flowId: string;
}

export interface SipMessage {
  readonly isRequest: boolean;
  /** Request method ('' for responses). */
  readonly method: string;
  /** Request-URI text ('' for responses). */
  readonly requestUri: string;
  /** Response status (0 for requests). */
  readonly status: number;
  readonly reason: string;
  readonly body: Buffer;
  source: MessageSource | undefined;

  /** First value of a header; name in any case, full or compact ('v', 'f', 't', 'i', 'm', 'l', ...). */
  header(name: string): string | undefined;
  /** All values of a header, one per header line, in order. */
  headerLines(name: string): string[];
  /** All values split at top-level commas (outside quotes and <>), over all lines: for Via, Contact, Route, Path, Supported... */
  headerValues(name: string): string[];
  has(name: string): boolean;

  // Parsed on first access, then cached. Each throws SipError(400, '<what> is malformed/missing').
  readonly topVia: Via;
  vias(): Via[];
  readonly callId: string;
  readonly cseq: CSeq;
  readonly from: NameAddr;
  readonly to: NameAddr;
  /** undefined when absent. */
  readonly maxForwards: number | undefined;
  /** Expires header; undefined when absent. */
  readonly expires: number | undefined;
  contacts(): Contact[];
  /** Authorization (or Proxy-Authorization) credentials, in order. */
  credentials(proxy?: boolean): DigestCredentials[];
  readonly userAgent: string | undefined;

  /** The Request-URI parsed on first access (requests only); throws SipError 400, or 416 for a scheme other than sip/sips/tel. */
  readonly ruri: SipUri;
  /** Every header field in order: name as written, value unfolded and trimmed. */
  fields(): HeaderField[];
}

/** One header field as it appeared: name as written (any case, compact or full), value unfolded. */
export interface HeaderField {
  name: string;
  value: string;
}

/** Options for building a response to a request. */
/** A final response decided before it is sent: a refusal table's row, a digest refusal, a thrown error's answer. */
export interface SipAnswer {
  status: number;
  reason: string;
  /** Extra header lines, complete ("Retry-After: 5"), without CRLF. */
  headers?: string[];
}

export interface ResponseOptions {
  /** Extra header lines, complete ("WWW-Authenticate: Digest ..."), without CRLF. */
  headers?: string[];
  /** To tag to add when the request's To has none (and status > 100). */
  toTag?: string;
  body?: string | Buffer;
  contentType?: string;
}
