// Micro-benchmark of the sip/ hot path: parse + registrar fields of a ~900-byte REGISTER, and a 200 OK with Contact.
// Prints ops per CPU-second; run with `npx tsx load-tests/micro/parser.bench.ts`. Targets: >= 250k parse+fields/s (DEPENDENCIES.md §1).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseMessage } from '../../src/sip/parser.ts';
import { createResponse } from '../../src/sip/response.ts';
import { parseVias, type ParsedVia } from '../../src/sip/via.ts';

const register = readFileSync(fileURLToPath(new URL('../../test/fixtures/sip/valid/register-digest.sip', import.meta.url)));

/** CPU microseconds (user + system) this process has used; the VM is shared, so wall time would measure neighbours. */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Runs fn for about ms of CPU time per round after a warm-up; prints and returns the best of 5 rounds in ops per CPU-second. */
function bench(name: string, fn: () => unknown, ms = 400): number {
  for (let i = 0; i < 50_000; i++) fn();
  let best = 0;
  for (let round = 0; round < 5; round++) {
    let ops = 0;
    const start = cpuMicros();
    let used = 0;
    while (used < ms * 1000) {
      for (let i = 0; i < 2000; i++) fn();
      ops += 2000;
      used = cpuMicros() - start;
    }
    best = Math.max(best, ops / (used / 1e6));
  }
  console.log(`${name.padEnd(58)} ${Math.round(best).toLocaleString('en-US').padStart(12)} ops/s`);
  return best;
}

let sink = 0;
console.log(`REGISTER fixture: ${register.length} bytes; node ${process.version}`);
bench('parseMessage only (index headers)', () => {
  sink += parseMessage(register).method.length;
});
bench('parseMessage + registrar fields', () => {
  const m = parseMessage(register);
  sink += m.topVia.branch.length;
  sink += (m.from.tag ?? '').length;
  sink += m.callId.length;
  sink += m.cseq.seq;
  sink += m.contacts().length;
  sink += m.credentials().length;
  sink += m.expires ?? 0;
});
const req = parseMessage(register);
req.source = { address: '203.0.113.5', port: 40123, transport: 'udp', flowId: 'udp:1' };
const contact = 'Contact: <sip:1001@192.0.2.44:5062;rinstance=7d3c5a2b9e1f0c44;transport=UDP>;expires=3600';
bench('createResponse 200 OK with Contact (request parsed once)', () => {
  sink += createResponse(req, 200, 'OK', { toTag: 'srv-tag-1', headers: [contact] }).length;
});
bench('parse + fields + createResponse 200 (full registrar turn)', () => {
  const m = parseMessage(register);
  m.source = req.source;
  sink += m.topVia.branch.length + m.callId.length + m.cseq.seq + m.contacts().length + m.credentials().length;
  sink += createResponse(m, 200, 'OK', { toTag: 'srv-tag-1', headers: [contact] }).length;
});
const viaText = req.header('via') ?? '';
bench('parseVias of one Via value', () => {
  const out: ParsedVia[] = [];
  parseVias(viaText, out);
  sink += out.length;
});
if (sink === 42) console.log('');
