// Two nodes on one host and one real redis-server sharing one WebSocket port (sip.reusePort, README "Many nodes",
// several nodes on one host): phones connect to that one port, the kernel hands each connection to one of the nodes,
// both nodes hold registrations, and a MESSAGE from a phone held by one node reaches a phone held by the other through
// the internal hop on each node's own listener (cluster.listen).
import { afterEach, describe, expect, it } from 'vitest';
import { startEdge, type TestEdge } from '../helpers/edge.ts';
import { register } from '../helpers/phone.ts';
import { buildRequest, rnd, SipPeer } from '../helpers/sip-peer.ts';
import type { Config } from '../../src/config/schema.ts';
import type { DeepPartial } from '../../src/config/load.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
/** Connections tried before giving up on the kernel handing one to each node (each goes to either: 2^-39 to fail). */
const MAX_PHONES = 40;

let nodes: TestEdge[] = [];
let peers: SipPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  for (const n of nodes.splice(0)) await n.stop();
});

function nodeConfig(keyPrefix: string, wsPort: number): DeepPartial<Config> {
  return {
    redis: { keyPrefix },
    sip: { udp: '127.0.0.1:0', tcp: '127.0.0.1:0', ws: `127.0.0.1:${wsPort}`, tls: 'off', wss: 'off', reusePort: true },
    http: { listen: '127.0.0.1:0', https: 'off' },
    // MESSAGE from a registered connection needs no digest: the story is the delivery, not the challenge.
    proxy: { userAuth: 'registered' },
    cluster: { listen: '127.0.0.1:0', heartbeatSeconds: 60, deadAfterSeconds: 120 },
  };
}

/** Open ws connections of a node, by its own /metrics. */
const wsOpen = (n: TestEdge): Promise<number> => n.metric('sipedge_connections_open', { transport: 'ws' });

describe('several nodes on one host sharing the SIP ports (sip.reusePort)', () => {
  it('spreads the phones of one WebSocket port over both nodes and relays a MESSAGE between phones held by different nodes', async () => {
    const keyPrefix = `reuse${process.pid}x${rnd(3)}:`;
    const a = await startEdge({ store: 'redis', overrides: nodeConfig(keyPrefix, 0) });
    nodes.push(a);
    const b = await startEdge({ store: 'redis', overrides: nodeConfig(keyPrefix, a.wsPort) });
    nodes.push(b);
    expect(b.wsPort).toBe(a.wsPort);
    // Each node's internal hop is its own listener, not the shared ports.
    expect(a.app.node.address).not.toBe(b.app.node.address);
    expect(a.app.node.address).toBe(`127.0.0.1:${a.app.addresses.hop!.port}`);
    for (const n of nodes) await n.app.nodes.beat();
    await a.cli(async (p) => {
      await p.addTenant('acme', DOMAIN);
      for (let i = 0; i < MAX_PHONES; i++) await p.addExtension({ ext: String(1001 + i), tenant: 'acme' }, { password: PW });
    });

    // Phones connect to the one port until each node holds one; each registers as its own extension.
    const held = new Map<TestEdge, { phone: SipPeer; ext: string }>();
    let counts = [0, 0];
    for (let i = 0; i < MAX_PHONES && held.size < 2; i++) {
      const phone = await SipPeer.open({ transport: 'ws', port: a.wsPort });
      peers.push(phone);
      const ext = String(1001 + i);
      expect(await register(phone, ext, DOMAIN, PW)).toBe(200);
      const now = [await wsOpen(a), await wsOpen(b)];
      const holder = now[0]! > counts[0]! ? a : b;
      expect(now[0]! + now[1]!).toBe(i + 1);
      counts = now;
      if (!held.has(holder)) held.set(holder, { phone, ext });
    }
    expect(held.size).toBe(2);
    // Each node answered registrations of its own phones.
    expect(await a.metric('sipedge_register_responses_total', { status: '200' })).toBeGreaterThan(0);
    expect(await b.metric('sipedge_register_responses_total', { status: '200' })).toBeGreaterThan(0);

    // The phone on A messages the phone on B: A relays it over B's hop listener, B delivers it on B's connection.
    const from = held.get(a)!;
    const to = held.get(b)!;
    const msg = buildRequest(from.phone, {
      method: 'MESSAGE',
      ruri: `sip:${to.ext}@${DOMAIN}`,
      from: `sip:${from.ext}@${DOMAIN}`,
      to: `sip:${to.ext}@${DOMAIN}`,
      headers: ['Content-Type: text/plain'],
    });
    from.phone.send(msg.text.replace(/Content-Length: 0\r\n\r\n$/, 'Content-Length: 5\r\n\r\nhello'));
    const got = await to.phone.waitFor(to.phone.request('MESSAGE', msg.callId), 5000);
    expect(got.body).toBe('hello');
    to.phone.reply(got, 200);
    await from.phone.waitFor(from.phone.response(200, 'MESSAGE', msg.callId), 5000);
    expect(await b.metric('sipedge_proxy_requests_total', { route: 'from-node' })).toBe(1);
  }, 60_000);
});
