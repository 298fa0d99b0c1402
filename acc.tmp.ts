import { readFileSync } from 'node:fs';
import { parseMessage } from './src/sip/parser.ts';
import { parseDigest } from './src/sip/digest-header.ts';
import { parseNameAddr, parseContact } from './src/sip/name-addr.ts';
import { parseVias, type ParsedVia } from './src/sip/via.ts';
const buf = readFileSync('test/fixtures/sip/valid/register-digest.sip');
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
function b(name: string, fn: () => unknown) {
  for (let i = 0; i < 30000; i++) fn();
  let best = 0;
  for (let r = 0; r < 3; r++) { const t = cpu(); let n = 0; while (cpu() - t < 200000) { for (let i = 0; i < 1000; i++) fn(); n += 1000; } best = Math.max(best, n / ((cpu() - t) / 1e6)); }
  console.log(name.padEnd(20), (1e9 / best).toFixed(0) + 'ns');
}
let sink = 0;
const m0 = parseMessage(buf);
const auth = m0.header('authorization')!;
const from = m0.header('from')!;
const contact = m0.header('contact')!;
const via = m0.header('via')!;
b('parse', () => { sink += parseMessage(buf).method.length; });
b('via only', () => { const o: ParsedVia[] = []; parseVias(via, o); sink += o.length; });
b('digest only', () => { sink += parseDigest(auth).params.size; });
b('from only', () => { sink += parseNameAddr(from, 'From').uri.length; });
b('contact only', () => { sink += parseContact(contact).uri.length; });
b('parse+contacts', () => { sink += parseMessage(buf).contacts().length; });
b('parse+creds', () => { sink += parseMessage(buf).credentials().length; });
b('parse+via', () => { sink += parseMessage(buf).topVia.port; });
b('all', () => { const m = parseMessage(buf); sink += m.topVia.branch.length + (m.from.tag ?? '').length + m.callId.length + m.cseq.seq + m.contacts().length + m.credentials().length + (m.expires ?? 0); });
