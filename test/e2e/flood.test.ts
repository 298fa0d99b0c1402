// Under a flood: 120 source addresses on 127.0.0.0/8 send unauthenticated INVITEs and wrong-password REGISTERs as fast
// as a worker thread can for a few seconds, while a proven phone keeps registering. Every registration of the phone
// must succeed; the flood guard drops and bans the flooders, and its tables stay bounded and are given back afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Phone } from '../helpers/phone.ts';
import { SipPeer, type Msg } from '../helpers/sip-peer.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const SOURCES = 120;
const FLOOD_MS = 4_000;
const MAX_SOURCES = 256;

/**
 * The flooder: a worker thread (its own event loop, so the phone's requests are not queued behind it) with one UDP
 * socket per source address, each sending new requests round after round until the time is up; posts how many it sent.
 */
const FLOODER = `
const { workerData, parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
const { port, sources, ms, domain } = workerData;
const sockets = [];
let bound = 0;
for (let i = 0; i < sources; i++) {
  const s = dgram.createSocket('udp4');
  s.on('error', () => {});
  s.bind(0, '127.0.0.' + (10 + i), () => { if (++bound === sources) flood(); });
  sockets.push(s);
}
function request(i, n) {
  const branch = 'z9hG4bKf' + i + 'x' + n;
  const register = n % 2 === 0;
  return Buffer.from([
    (register ? 'REGISTER sip:' + domain : 'INVITE sip:1001@' + domain) + ' SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.' + (10 + i) + ':5060;branch=' + branch,
    'Max-Forwards: 70',
    'From: <sip:' + (1000 + (n % 50)) + '@' + domain + '>;tag=t' + n,
    'To: <sip:' + (register ? 1000 + (n % 50) : 1001) + '@' + domain + '>',
    'Call-ID: flood-' + i + '-' + n,
    'CSeq: 1 ' + (register ? 'REGISTER' : 'INVITE'),
    'Contact: <sip:x@127.0.0.' + (10 + i) + ':5060>',
    ...(register ? ['Authorization: Digest username="' + (1000 + (n % 50)) + '", realm="' + domain + '", nonce="' + 'A'.repeat(43) + '", uri="sip:' + domain + '", response="' + '0'.repeat(64) + '", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c"'] : []),
    'Content-Length: 0', '', ''].join('\\r\\n'));
}
function flood() {
  const end = Date.now() + ms;
  let n = 0;
  const round = () => {
    for (let k = 0; k < 20; k++, n++) for (let i = 0; i < sources; i++) sockets[i].send(request(i, n), port, '127.0.0.1');
    if (Date.now() < end) setImmediate(round);
    else setTimeout(() => { for (const s of sockets) s.close(); parentPort.postMessage(n * sources); }, 200);
  };
  round();
}
`;

function startFlood(port: number): Promise<number> {
  const worker = new Worker(FLOODER, { eval: true, workerData: { port, sources: SOURCES, ms: FLOOD_MS, domain: DOMAIN } });
  return new Promise((resolve, reject) => {
    worker.once('message', (sent: number) => void worker.terminate().then(() => resolve(sent)));
    worker.once('error', reject);
  });
}

/** A request sent as a UDP phone does (RFC 3261 §17.1.2.2): again after 500 ms, 1 s, 2 s, 4 s ... until answered. */
async function transact(peer: SipPeer, text: string, callId: string, cseq: number): Promise<Msg> {
  const answered = peer.waitFor((m) => !m.isRequest && m.status >= 200 && m.header('call-id') === callId && m.header('cseq')?.startsWith(`${cseq} `) === true, 32_000, false);
  let done = false;
  void answered.then(() => (done = true), () => (done = true));
  peer.send(text);
  for (let wait = 500; !done; wait = Math.min(wait * 2, 4_000)) {
    await Promise.race([answered.catch(() => undefined), new Promise((r) => setTimeout(r, wait))]);
    if (!done) peer.send(text);
  }
  return answered;
}

/** REGISTER -> 401 -> REGISTER with the digest, each retransmitted until answered; the final status. */
async function registerOnce(phone: Phone): Promise<number> {
  const first = phone.buildRegister({ expires: 300 });
  const challenge = await transact(phone.client, first.text, phone.callId, first.cseq);
  if (challenge.status !== 401) return challenge.status;
  const { digestAuthorization } = await import('../helpers/phone.ts');
  const authorization = digestAuthorization(challenge.headers('www-authenticate')[0]!, { username: '1001', password: PW, method: 'REGISTER', uri: `sip:${DOMAIN}` });
  const second = phone.buildRegister({ expires: 300, authorization });
  return (await transact(phone.client, second.text, phone.callId, second.cseq)).status;
}

describe('a flood from 120 source addresses', () => {
  let edge: TestEdge | undefined;
  let peer: SipPeer | undefined;
  afterEach(async () => {
    await peer?.close();
    await edge?.stop();
  });

  it("keeps every registration of the proven phone succeeding, bans the flooders and gives the guard's memory back", async () => {
    edge = await startEdge({ overrides: { log: { level: 'info' }, flood: { udp: { rate: 10, burst: 20 }, banDrops: 50, maxSources: MAX_SOURCES, banSeconds: 5 } } });
    await edge.cli(async (p) => {
      await p.addTenant('acme', DOMAIN);
      await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: PW });
    });
    expect(await eventually(async () => !!(await edge!.app.stores.accounts.getExtension('acme', '1001')))).toBe(true);
    peer = await SipPeer.open({ transport: 'udp', port: edge.udpPort, localAddress: '127.0.0.1' });
    const phone = new Phone(peer, { ext: '1001', domain: DOMAIN, password: PW });
    expect(await registerOnce(phone)).toBe(200);

    const flood = startFlood(edge.udpPort);
    const statuses: number[] = [];
    let flooding = true;
    void flood.finally(() => (flooding = false));
    // The phone registers again and again for as long as the flood lasts (at least 10 times).
    while (flooding || statuses.length < 10) statuses.push(await registerOnce(phone));
    const sent = await flood;

    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // The flood was well above what the guard lets through: most of it was dropped before parsing, and its sources banned.
    // The flood was well above the sources' budget: what reached the edge was mostly dropped before parsing, and the
    // sources were banned (a worker thread on a shared machine sends some 10,000 requests/s, hence the small budget).
    expect(sent).toBeGreaterThan(SOURCES * 100);
    const dropped = await edge.metric('sipedge_flood_dropped_total');
    expect(dropped).toBeGreaterThan(await edge.metric('sipedge_sip_messages_total', { kind: 'request' }));
    expect(await edge.metric('sipedge_flood_bans_total', { reason: 'flood' })).toBeGreaterThan(SOURCES / 2);
    // The guard's tables stay within their bound during the attack and are given back once it is over.
    expect(edge.app.flood.size).toBeLessThanOrEqual(3 * MAX_SOURCES);
    expect(
      await eventually(() => {
        edge!.app.flood.sweep();
        return edge!.app.flood.size <= 1; // only the phone's proven mark remains
      }, 30_000, 500),
    ).toBe(true);
    // A quiet sweep after the attack gives the heap it grew back, once, and says so.
    edge.app.flood.sweep();
    const ended = JSON.parse(await edge.waitForLog((l) => l.includes('"flood.ended"'))) as { heapMbBefore: number; heapMbAfter: number };
    expect(ended.heapMbAfter).toBeLessThan(ended.heapMbBefore);
    edge.app.flood.sweep();
    expect(edge.logs.filter((l) => l.includes('"flood.ended"'))).toHaveLength(1);
    expect(await registerOnce(phone)).toBe(200);
  }, 120_000);
});
