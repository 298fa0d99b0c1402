// Micro-benchmark of the transaction layer with ~800 k live UDP REGISTER transactions (12 k/s x 32 s Timer J + margin).
// No sockets: an in-memory Flow counts sends. Usage: npx tsx load-tests/micro/transaction.bench.ts [--entries 800000]
import { parseArgs } from 'node:util';
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import { FakeClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { parseMessage } from '../../src/sip/parser.ts';
import { transactionKey } from '../../src/transaction/transaction-key.ts';
import { TransactionLayer } from '../../src/transaction/transaction-layer.ts';
import type { ServerTransaction, TransactionUser } from '../../src/transaction/types.ts';
import type { Flow, TransportKind } from '../../src/transport/flow.ts';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '800000' }, ms: { type: 'string', default: '400' } } });
const ENTRIES = Number(values.entries);
const ROUND_MS = Number(values.ms);

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** CPU microseconds (user + system); the VM is shared, so wall time would measure neighbours. */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Best of 3 rounds of about ROUND_MS CPU each, in ops per CPU-second. */
function bench(name: string, fn: () => unknown): number {
  for (let i = 0; i < 20_000; i++) fn();
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let ops = 0;
    const start = cpuMicros();
    let used = 0;
    while (used < ROUND_MS * 1000) {
      for (let i = 0; i < 1000; i++) fn();
      ops += 1000;
      used = cpuMicros() - start;
    }
    best = Math.max(best, ops / (used / 1e6));
  }
  console.log(`${name.padEnd(62)} ${Math.round(best).toLocaleString('en-US').padStart(12)} ops/s`);
  return best;
}

class MemoryFlow implements Flow {
  sent = 0;
  readonly id = 'udp:5060:198.51.100.7:5062';
  readonly transport: TransportKind = 'udp';
  readonly isReliable = false;
  readonly remoteAddress = '198.51.100.7';
  readonly remotePort = 5062;
  readonly localAddress = '0.0.0.0';
  readonly localPort = 5060;
  readonly isOpen = true;
  send(): boolean {
    this.sent++;
    return true;
  }
}

const tu: TransactionUser = {
  onRequest(tx: ServerTransaction) {
    tx.respond(200, 'OK', { toTag: 'srv-tag-1', headers: ['Contact: <sip:1001@198.51.100.7:5062>;expires=3600'] });
  },
};

// A REGISTER whose branch carries a fixed-width counter, written in place per message. Like dgram, each message gets
// its own memory (allocUnsafeSlow), not a slice of Node's shared 8 KiB pool where the kept responses live.
const TEMPLATE = Buffer.from(
  'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK0000000000;rport\r\n' +
    'Max-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=8d7e0a\r\nTo: <sip:1001@example.com>\r\n' +
    'Call-ID: 5f2b1c9e@198.51.100.7\r\nCSeq: 42 REGISTER\r\nContact: <sip:1001@198.51.100.7:5062>\r\n' +
    'Expires: 3600\r\nUser-Agent: bench\r\nContent-Length: 0\r\n\r\n',
  'latin1',
);
const DIGITS_AT = TEMPLATE.indexOf('z9hG4bK') + 7;
function registerNo(n: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(TEMPLATE.length);
  TEMPLATE.copy(buf);
  buf.write(String(n).padStart(10, '0'), DIGITS_AT, 'latin1');
  return buf;
}

const clock = new FakeClock();
const layer = new TransactionLayer({ tu, metrics: new Metrics(), logger: silentLogger(), clock });
const flow = new MemoryFlow();

// Fill: spread arrivals over 32 s of fake time (25 k/s), so that Timer J buckets are spread as in steady state.
/** V8 heap plus Buffer memory (kept responses live outside the V8 heap). */
function usedBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
gc();
const heapBefore = usedBytes();
const stepMs = 32_000 / ENTRIES;
let next = 0;
let sinceTick = 0;
const fillStart = cpuMicros();
for (; next < ENTRIES; next++) {
  layer.onMessage(registerNo(next), flow);
  sinceTick += stepMs;
  if (sinceTick >= 100) {
    clock.advance(sinceTick);
    sinceTick = 0;
    layer.tick();
  }
}
const fillSec = (cpuMicros() - fillStart) / 1e6;
gc();
const heapAfter = usedBytes();
console.log(`node ${process.version}; REGISTER ${TEMPLATE.length} bytes; live transactions after fill: ${layer.size.toLocaleString('en-US')}`);
console.log(`fill: ${Math.round(ENTRIES / fillSec).toLocaleString('en-US')} new transactions/s (parse + key + insert + 200 OK + wheel)`);
console.log(`memory per live transaction: ${Math.round((heapAfter - heapBefore) / layer.size)} bytes (key, 200 OK bytes and Buffer, entry, map and wheel slots)`);

// Steady state: each new transaction is offset by expiries as the fake clock advances at 25 k/s.
bench('new REGISTER transaction at ~800k live (full onMessage path)', () => {
  layer.onMessage(registerNo(next++), flow);
  sinceTick += stepMs;
  if (sinceTick >= 100) {
    clock.advance(sinceTick);
    sinceTick = 0;
    layer.tick();
  }
});
console.log(`  live transactions now: ${layer.size.toLocaleString('en-US')}`);

// Retransmissions of recent REGISTERs: parse + key + lookup + resend of the kept 200 OK.
const recent = Array.from({ length: 4096 }, (_, i) => registerNo(next - 1 - i * 7));
let r = 0;
bench('retransmitted REGISTER absorbed (parse + lookup + resend)', () => {
  layer.onMessage(recent[r++ & 4095], flow);
});

// The table alone, messages pre-parsed: the key, then the key plus a Map.get on the live ~800k table. matchInvite()
// computes the INVITE key of the message and looks it up (a miss here, which costs what a hit costs).
const parsed = recent.map((b) => parseMessage(b));
for (const m of parsed) void m.topVia;
let k = 0;
bench('transactionKey only (message pre-parsed)', () => {
  const m = parsed[k++ & 4095];
  return transactionKey(m, m.method);
});
bench('transactionKey + Map.get on the live table (matchInvite)', () => layer.matchInvite(parsed[k++ & 4095]));
const ref = parseMessage(registerNo(0));
bench('parseMessage + validate fields only (baseline, no table)', () => {
  const m = parseMessage(recent[k++ & 4095]);
  return m.topVia.branch.length + m.callId.length + m.cseq.seq + ref.status;
});
console.log(`  responses sent: ${flow.sent.toLocaleString('en-US')}`);
layer.close();
