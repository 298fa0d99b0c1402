// Micro-benchmark of forwardRequest (src/sip/forward.ts) on a 1.2 kB INVITE with SDP: (a) the edit alone on a message
// already parsed and read (as the proxy has it), (b) parse + the edit. Prints µs CPU per op and ops per CPU-second.
// Run with `npx tsx load-tests/micro/forward.bench.ts`.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { forwardRequest, forwardResponse } from '../../src/sip/forward.ts';
import { parseMessage, validateRequest } from '../../src/sip/parser.ts';
import { newBranch } from '../../src/sip/random.ts';
import { benchCpu } from '../lib/cpu-bench.ts';

// test/fixtures/sip/valid/invite-proxied.sip without its Proxy-Authorization line: a 1.2 kB INVITE with SDP.
const fixture = readFileSync(fileURLToPath(new URL('../../test/fixtures/sip/valid/invite-proxied.sip', import.meta.url))).toString('latin1');
const invite = Buffer.from(fixture.replace(/Proxy-Authorization: [^\r]*\r\n/, ''), 'latin1');
const ringing = Buffer.from(
  'SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKedge0001, SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-74f1a3c5;rport=5062\r\n' +
    'Record-Route: <sip:192.0.2.1:5060;lr>, <sip:sbc.example.org;lr>\r\nFrom: "Alice Example" <sip:1001@pbx.example.com>;tag=9fxced76sl\r\n' +
    'To: "Bob" <sip:1007@pbx.example.com>;tag=b0b\r\nCall-ID: 3848276298220188511@198.51.100.23\r\nCSeq: 314159 INVITE\r\n' +
    'Contact: <sip:1007@198.51.100.40:5080>\r\nContent-Length: 0\r\n\r\n',
  'latin1',
);

const bench = (name: string, fn: () => unknown): void => void benchCpu(name, fn);

let sink = 0;
const edit = (branch: string) => ({
  requestUri: 'sip:1007@198.51.100.40:5080;transport=udp',
  via: 'SIP/2.0/UDP 192.0.2.1:5060;branch=' + branch,
  recordRoute: ['<sip:192.0.2.1:5060;lr>'],
  removeTopRoute: true,
});

const parsed = parseMessage(invite);
validateRequest(parsed);
console.log(`INVITE ${invite.length} bytes (body ${parsed.body.length}), forwarded ${forwardRequest(parsed, edit(newBranch())).length} bytes`);
bench('(a) forwardRequest on a parsed INVITE', () => {
  sink += forwardRequest(parsed, edit(newBranch())).length;
});
bench('(b) parseMessage + validateRequest + forwardRequest', () => {
  const m = parseMessage(invite);
  validateRequest(m);
  sink += forwardRequest(m, edit(newBranch())).length;
});
const parsedRinging = parseMessage(ringing);
bench('(c) forwardResponse on a parsed 180 (two-value Via line)', () => {
  sink += forwardResponse(parsedRinging).length;
});
if (sink === 0) console.log('unreachable');
