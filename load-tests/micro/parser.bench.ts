// Micro-benchmark of the sip/ hot path on a 924-byte REGISTER with Digest Authorization (the second REGISTER of a
// registration): (a) parse + validateRequest + every accessor the edge reads per request, (b) createResponse for the
// 401 (two WWW-Authenticate lines) and the 200 (one Contact). Prints µs CPU per op and ops per CPU-second.
// Run with `npx tsx load-tests/micro/parser.bench.ts`. Targets: (a) <= 5 µs, (b) <= 1.5 µs each (one core, 12k regs/s).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseMessage, validateRequest } from '../../src/sip/parser.ts';
import { createResponse } from '../../src/sip/response.ts';
import { parseUri } from '../../src/sip/uri.ts';
import { parseVias, type ParsedVia } from '../../src/sip/via.ts';
import type { SipMessage } from '../../src/sip/types.ts';
import { benchCpu } from '../lib/cpu-bench.ts';

const register = readFileSync(fileURLToPath(new URL('../../test/fixtures/sip/valid/register-digest.sip', import.meta.url)));
const source = { address: '203.0.113.5', port: 40123, transport: 'udp', flowId: 'udp:1' };

/** parse-path benchmarks need many calls per round: at least 200k in all. */
const bench = (name: string, fn: () => unknown): number => benchCpu(name, fn, 400, 200_000);

let sink = 0;

/** Everything the edge reads from one REGISTER, in the order it reads it (transaction, auth, registrar). */
function edgeReads(m: SipMessage): void {
  validateRequest(m);
  const via = m.topVia;
  sink += via.branch.length + via.host.length + via.port + (via.hasRport ? 1 : 0);
  sink += m.method.length + m.callId.length + m.cseq.seq + (m.from.tag ?? '').length + (m.to.tag ?? '').length;
  sink += (m.header('user-agent') ?? '').length + (m.userAgent ?? '').length;
  sink += m.headerValues('require').length + m.headerValues('supported').length + m.headerValues('supported').length;
  sink += m.headerValues('path').length + m.headerLines('path').length;
  sink += parseUri(m.to.uri, 'To').user.length;
  for (const c of m.credentials(false)) {
    const p = c.params;
    sink += c.scheme.length + (p.get('username') ?? '').length + (p.get('realm') ?? '').length + (p.get('nonce') ?? '').length;
    sink += (p.get('uri') ?? '').length + (p.get('response') ?? '').length + (p.get('algorithm') ?? '').length;
    sink += (p.get('qop') ?? '').length + (p.get('nc') ?? '').length + (p.get('cnonce') ?? '').length + (p.get('opaque') ?? '').length;
  }
  for (const c of m.contacts()) {
    sink += c.uri.length + (c.expires ?? 0) + (c.params.get('+sip.instance') ?? '').length;
    sink += (c.params.get('reg-id') ?? '').length + (c.params.get('q') ?? '').length;
  }
  sink += m.expires ?? 0;
}

const challenge = (alg: string): string =>
  `WWW-Authenticate: Digest realm="pbx.example.com", nonce="1715871234:7f3a9c2b1d4e5f60718293a4b5c6d7e8", algorithm=${alg}, qop="auth"`;
const challenges = [challenge('SHA-256'), challenge('MD5')];
const contact = 'Contact: <sip:1001@192.0.2.44:5062;rinstance=7d3c5a2b9e1f0c44;transport=UDP>;expires=3600';

/** A request as the edge has it when answering: parsed, validated, accessors read, source set. */
function readRequest(): SipMessage {
  const m = parseMessage(register);
  m.source = source;
  edgeReads(m);
  return m;
}

console.log(`REGISTER fixture: ${register.length} bytes; node ${process.version}`);
bench('parseMessage only (index headers)', () => {
  sink += parseMessage(register).method.length;
});
bench('(a) parse + validateRequest + all edge accessors', () => {
  edgeReads(parseMessage(register));
});
const req = readRequest();
bench('(b) createResponse 401, two WWW-Authenticate (request read once)', () => {
  sink += createResponse(req, 401, 'Unauthorized', { toTag: 'srv-tag-1', headers: challenges }).length;
});
bench('(b) createResponse 200 with Contact (request read once)', () => {
  sink += createResponse(req, 200, 'OK', { toTag: 'srv-tag-1', headers: [contact] }).length;
});
bench('(a)+(b) parse + accessors + createResponse 200 (full turn)', () => {
  const m = readRequest();
  sink += createResponse(m, 200, 'OK', { toTag: 'srv-tag-1', headers: [contact] }).length;
});
const viaText = req.header('via') ?? '';
bench('parseVias of one Via value', () => {
  const out: ParsedVia[] = [];
  parseVias(viaText, out);
  sink += out.length;
});
if (sink === 42) console.log('');
