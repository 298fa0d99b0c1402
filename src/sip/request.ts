// Writing messages: serializeMessage (model → bytes, canonical form) and buildRequest for requests the edge originates.
// Responses to requests are built by response.ts; routing and Via/branch choice belong to proxy/ and transaction/.

import type { SipMessage } from './types.ts';

/**
 * Writes msg back as bytes in canonical form: the start line, each header as `Name: value` (name as written,
 * folded values unfolded), a blank line and the body. A message already in that form comes back byte for byte.
 */
export function serializeMessage(msg: SipMessage): Buffer {
  let s = msg.isRequest ? msg.method + ' ' + msg.requestUri + ' SIP/2.0\r\n' : 'SIP/2.0 ' + msg.status + ' ' + msg.reason + '\r\n';
  for (const f of msg.fields()) s += f.name + ': ' + f.value + '\r\n';
  s += '\r\n';
  const head = Buffer.from(s, 'latin1');
  return msg.body.length === 0 ? head : Buffer.concat([head, msg.body], head.length + msg.body.length);
}

/** What buildRequest needs; headers are complete lines without CRLF and without Content-Length. */
export interface RequestSpec {
  method: string;
  uri: string;
  headers: string[];
  body?: string | Buffer;
  /** Written as Content-Type when there is a body. */
  contentType?: string;
}

/** Builds a request (e.g. an OPTIONS probe): request line, the given header lines, Content-Length, body. */
export function buildRequest(spec: RequestSpec): Buffer {
  let s = spec.method + ' ' + spec.uri + ' SIP/2.0\r\n';
  for (const h of spec.headers) s += h + '\r\n';
  const body = spec.body === undefined ? undefined : typeof spec.body === 'string' ? Buffer.from(spec.body, 'utf8') : spec.body;
  if (body !== undefined && body.length > 0 && spec.contentType !== undefined) s += 'Content-Type: ' + spec.contentType + '\r\n';
  s += 'Content-Length: ' + (body?.length ?? 0) + '\r\n\r\n';
  const head = Buffer.from(s, 'latin1');
  return body === undefined || body.length === 0 ? head : Buffer.concat([head, body], head.length + body.length);
}
