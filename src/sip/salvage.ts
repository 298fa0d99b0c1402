// A last-resort response to a request the parser refused (RFC 4475 badvers, a header line without a colon, ...):
// when the Via, From, To, Call-ID and CSeq lines can still be found, the sender still gets its 400/505.
// Cold path only (malformed input): plain string scans; the normal path is parser.ts + response.ts.
import { H_CALL_ID, H_CSEQ, H_FROM, H_TO, H_VIA, headerId } from './header-names.ts';
import { newTag } from './random.ts';
import { statusLine } from './response.ts';
import type { MessageSource } from './types.ts';


/**
 * The bytes of a `status reason` response to the request in `buf`, built from its raw Via/From/To/Call-ID/CSeq
 * lines; undefined when buf is a response, an ACK (never answered, RFC 3261 §17.1.1.3) or lacks any of those.
 */
export function salvageResponse(buf: Buffer, status: number, reason: string, source: MessageSource): Buffer | undefined {
  const text = buf.toString('latin1', 0, Math.min(buf.length, 65_536));
  let end = text.indexOf('\r\n\r\n');
  if (end < 0) end = text.length;
  const lines = text.slice(0, end).split(/\r?\n/);
  const start = lines[0] ?? '';
  if (start.startsWith('SIP/')) return undefined;
  const method = start.split(' ')[0] ?? '';
  if (!/^[A-Za-z]+$/.test(method) || method.toUpperCase() === 'ACK') return undefined;
  const vias: string[] = [];
  const one = new Map<number, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || line[0] === ' ' || line[0] === '\t') continue;
    const id = headerId(line.slice(0, colon).trim());
    const value = line.slice(colon + 1).trim();
    if (value === '' || /[\x00-\x08\x0a-\x1f\x7f]/.test(value)) continue;
    if (id === H_VIA) vias.push(...value.split(/,(?=\s*SIP\s*\/)/i).map((v) => v.trim()));
    else if ((id === H_FROM || id === H_TO || id === H_CALL_ID || id === H_CSEQ) && !one.has(id)) one.set(id, value);
  }
  const [from, to, callId, cseq] = [one.get(H_FROM), one.get(H_TO), one.get(H_CALL_ID), one.get(H_CSEQ)];
  if (vias.length === 0 || !from || !to || !callId || !cseq) return undefined;
  // RFC 3261 §18.2.1 received, RFC 3581 rport on the top Via.
  let top = vias[0]!.replace(/;\s*rport(?=\s*(;|$))/i, `;rport=${source.port}`);
  if (!/;\s*received=/i.test(top)) top += `;received=${source.address}`;
  vias[0] = top;
  let s = statusLine(status, reason);
  for (const v of vias) s += `Via: ${v}\r\n`;
  s += `From: ${from}\r\nTo: ${to}${status > 100 && !/;\s*tag=/i.test(to) ? `;tag=${newTag()}` : ''}\r\n`;
  s += `Call-ID: ${callId}\r\nCSeq: ${cseq}\r\nContent-Length: 0\r\n\r\n`;
  return Buffer.from(s, 'latin1');
}
