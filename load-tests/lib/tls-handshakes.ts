// A TLS handshake load client, run as its own process (pinned away from the edge by run-tls.ts): keeps `concurrency`
// connects in flight for `seconds`, each a full handshake (no session resumption) closed once it is done, then prints
// one JSON line: {"handshakes":N,"failed":N,"seconds":S}. Usage: tsx tls-handshakes.ts PORT SECONDS CONCURRENCY CA_FILE
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

const [portText, secondsText, concurrencyText, caFile] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
const concurrency = Number(concurrencyText);
if (!(port > 0) || !(seconds > 0) || !(concurrency > 0) || caFile === undefined) {
  console.error('usage: tls-handshakes.ts PORT SECONDS CONCURRENCY CA_FILE');
  process.exit(2);
}
const ca = readFileSync(caFile);
let handshakes = 0;
let failed = 0;
const started = performance.now();
const end = started + seconds * 1000;

function one(): void {
  if (performance.now() >= end) return;
  // A fresh socket without a session: every connect is a full handshake (what a phone's first connect costs the edge).
  const s = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => {
    handshakes++;
    s.destroy();
  });
  s.once('error', () => {
    failed++;
    s.destroy();
  });
  s.once('close', one);
}

for (let i = 0; i < concurrency; i++) one();
// The process ends once the last connect after the deadline has closed.
process.on('beforeExit', () => {
  console.log(JSON.stringify({ handshakes, failed, seconds: (performance.now() - started) / 1000 }));
});
