// An edge on a redis-server of its own that is frozen (SIGSTOP), killed, or restarted empty. While Redis cannot serve:
// REGISTER and a phone's INVITE get 503 with Retry-After, the gateway API 503 SIPEDGE_ERR_API_UNAVAILABLE, /readyz
// 503 with the reason, one log line when the outage starts and one when it ends (its length and the requests refused),
// no stack; a PBX's call still reaches a phone registered before (README "Redis outages"). A Redis that lost its data
// is told apart by its marker key: logged loudly, and no node mints a new nonce secret while another holds the old one.
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { NONCE_SECRET_META_KEY } from '../../src/auth/nonce.ts';
import { startEdge, type TestEdge } from '../helpers/edge.ts';
import { Phone, proxyAuthorization } from '../helpers/phone.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { buildRequest, SipPeer, type Msg } from '../helpers/sip-peer.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

let server: RedisServer | undefined;
let admin: Redis | undefined;
const edges: TestEdge[] = [];
const peers: SipPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  for (const e of edges.splice(0)) await e.stop();
  admin?.disconnect();
  admin = undefined;
  await server?.stop();
  server = undefined;
});

interface Scene {
  edge: TestEdge;
  pbx: SipPeer;
  /** 1002, registered before the outage: the PBX calls it. */
  callee: SipPeer;
  /** 1001: registers and calls out. */
  caller: Phone;
}

async function peer(address: string, edgePort: number): Promise<SipPeer> {
  const p = await SipPeer.open({ transport: 'udp', port: edgePort, localAddress: address });
  peers.push(p);
  return p;
}

/** Redis with an append-only file, an edge on it with a PBX (127.0.0.2) as upstream, 1001 and 1002 registered. */
async function scene(keyPrefix = `outage${process.pid}:`): Promise<Scene> {
  server = await RedisServer.start({ persistent: true });
  admin = new Redis(server.url, { keyPrefix, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  admin.on('error', () => undefined);
  const pbx = await peer('127.0.0.2', 0);
  const edge = await startEdge({
    store: 'redis',
    overrides: {
      redis: { url: server.url, keyPrefix },
      upstreams: [{ uri: `sip:${pbx.host}:${pbx.port}`, priority: 1, weight: 1, transport: 'udp' }],
    },
  });
  edges.push(edge);
  pbx.edgePort = edge.udpPort;
  await edge.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
  });
  const callee = await peer('127.0.0.1', edge.udpPort);
  expect((await new Phone(callee, { ext: '1002', domain: DOMAIN, password: PW, contact: callee.contact, expires: 600 }).register()).status).toBe(200);
  const caller = new Phone(await peer('127.0.0.1', edge.udpPort), { ext: '1001', domain: DOMAIN, password: PW, expires: 600 });
  expect((await caller.register()).status).toBe(200);
  return { edge, pbx, callee, caller };
}

/** 1001 calls 2000 at the PBX, answering a 407 if one comes; the final answer. */
async function callOut(caller: Phone): Promise<Msg> {
  const phone = caller.client;
  const to = `sip:2000@${DOMAIN}`;
  const base = { method: 'INVITE', ruri: to, from: `sip:1001@${DOMAIN}`, to, body: SDP };
  const first = buildRequest(phone, base);
  const r1 = await phone.sendRequest(first.text, first.callId, 1);
  if (r1.status !== 407) return r1;
  const auth = proxyAuthorization(r1, { username: '1001', password: PW, method: 'INVITE', uri: to });
  const inv = buildRequest(phone, { ...base, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
  return await phone.sendRequest(inv.text, inv.callId, 2);
}

/** The PBX calls 1002; resolves when the INVITE reaches 1002's socket. */
async function pbxCallsCallee(s: Scene): Promise<Msg> {
  const down = buildRequest(s.pbx, { method: 'INVITE', ruri: `sip:1002@${DOMAIN}`, from: `sip:2000@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, body: SDP });
  s.pbx.send(down.text);
  return await s.callee.waitFor(s.callee.request('INVITE', down.callId), 5000);
}

async function login(edge: TestEdge): Promise<Response> {
  return await fetch(`http://127.0.0.1:${edge.httpPort}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: '1001-acme', password: PW }),
  });
}

async function readyz(edge: TestEdge): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const r = await fetch(`http://127.0.0.1:${edge.httpPort}/readyz`);
  return { status: r.status, body: (await r.json()) as { status: string; reason?: string } };
}

const events = (edge: TestEdge): Array<{ event?: string; level: number; lengthMs?: number; refused?: number; kind?: string; err?: string }> =>
  edge.logs.map((l) => JSON.parse(l) as { event?: string; level: number });
const lineWith = (event: string) => (l: string): boolean => (JSON.parse(l) as { event?: string }).event === event;

/**
 * While the store cannot serve: what a phone, a PBX, an API client and a load balancer see. Three requests are
 * refused (REGISTER, INVITE, login).
 */
async function expectRefusals(s: Scene, why: RegExp): Promise<void> {
  const reg = await s.caller.register();
  expect(reg.status).toBe(503);
  expect(reg.header('retry-after')).toBe('5');
  const inv = await callOut(s.caller);
  expect(inv.status).toBe(503);
  expect(inv.header('retry-after')).toBe('5');
  const api = await login(s.edge);
  expect(api.status).toBe(503);
  expect(api.headers.get('retry-after')).toBe('5');
  expect(((await api.json()) as { error: string }).error).toBe('SIPEDGE_ERR_API_UNAVAILABLE');
  const ready = await readyz(s.edge);
  expect(ready.status).toBe(503);
  expect(ready.body.reason).toMatch(why);
  expect(await s.edge.metric('sipedge_store_up')).toBe(0);
  // 1002 registered before the outage: the PBX's call still reaches it (bindings and tenant as last read here).
  expect((await pbxCallsCallee(s)).ruri).toBe(s.callee.contact);
}

/** After the outage: one start line, one end line with its length and the three refusals, no error or stack. */
async function expectOneOutageLogged(s: Scene, kind: string): Promise<void> {
  const end = JSON.parse(await s.edge.waitForLog(lineWith('store.outage.end'), 15_000)) as { lengthMs: number; refused: number; kind: string };
  expect(end.kind).toBe(kind);
  expect(end.refused).toBe(3);
  expect(end.lengthMs).toBeGreaterThanOrEqual(0);
  const all = events(s.edge);
  expect(all.filter((e) => e.event === 'store.outage.start')).toHaveLength(1);
  expect(all.filter((e) => e.event === 'store.outage.end')).toHaveLength(1);
  expect(all.filter((e) => e.event === 'store.empty')).toHaveLength(kind === 'empty' ? 1 : 0);
  expect(all.filter((e) => e.level >= 50 && e.event !== 'store.empty')).toEqual([]);
  expect(s.edge.logs.filter((l) => l.includes('    at '))).toEqual([]);
  expect(await s.edge.metric('sipedge_store_refused_total')).toBe(3);
  expect(await s.edge.metric('sipedge_store_outages_total', { kind })).toBe(1);
  expect(await s.edge.metric('sipedge_store_up')).toBe(1);
  expect((await readyz(s.edge)).status).toBe(200);
  expect((await s.caller.register()).status).toBe(200);
}

describe('an edge whose Redis is frozen, killed or restarted empty', () => {
  it('answers 503 with Retry-After while Redis is frozen (SIGSTOP), keeps delivering the PBX calls to registered phones, and logs the outage once', async () => {
    const s = await scene();
    server!.freeze();
    await s.edge.waitForLog(lineWith('store.outage.start'), 15_000);
    await expectRefusals(s, /Redis does not answer/);
    server!.thaw();
    await expectOneOutageLogged(s, 'unreachable');
  });

  it('answers 503 with Retry-After while Redis is killed, and serves again once it is back with its data', async () => {
    const s = await scene();
    await server!.kill();
    await s.edge.waitForLog(lineWith('store.outage.start'), 15_000);
    await expectRefusals(s, /connection to Redis closed|Redis does not answer/);
    await server!.restart();
    await expectOneOutageLogged(s, 'unreachable');
  });

  it('tells a Redis restarted empty from an outage: logged as an error, 503 instead of 404, no new nonce secret, and recovered by renaming the lost marker', async () => {
    const s = await scene();
    const marker = await admin!.get('store-id');
    const secret = await admin!.hget('meta', NONCE_SECRET_META_KEY);
    expect(marker).not.toBeNull();
    expect(secret).not.toBeNull();

    await server!.restart({ empty: true });
    // Killed, then back without data: the outage started as unreachable turns out to be a loss, said as an error.
    const loud = JSON.parse(await s.edge.waitForLog((l) => (JSON.parse(l) as { kind?: string }).kind === 'empty', 15_000)) as { level: number };
    expect(loud.level).toBe(50);
    await expectRefusals(s, /lost its data/);
    // The running edge recorded the loss and put back the secrets it holds; it minted nothing.
    expect(await admin!.get('store-lost')).toBe(marker);
    expect(await admin!.hget('meta', NONCE_SECRET_META_KEY)).toBe(secret);

    // A node started now refuses, naming the recovery, instead of serving an empty store.
    const refused = await startEdge({ store: 'redis', overrides: { redis: { url: server!.url, keyPrefix: s.edge.config.redis.keyPrefix } } }).then(
      (e) => {
        edges.push(e);
        return undefined;
      },
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(refused?.code).toBe('SIPEDGE_ERR_STORE_EMPTY');
    expect(refused?.message).toContain('rename store-lost to store-id');

    // The operator re-imports the accounts and accepts the store (README "Redis outages").
    await s.edge.cli(async (p) => {
      await p.addTenant('acme', DOMAIN);
      for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
    });
    expect(await admin!.rename('store-lost', 'store-id')).toBe('OK');
    await expectOneOutageLogged(s, 'empty');

    // A node started after the recovery has the same nonce secret: a challenge from one is answered at the other.
    const second = await startEdge({ store: 'redis', overrides: { redis: { url: server!.url, keyPrefix: s.edge.config.redis.keyPrefix } } });
    edges.push(second);
    const unauthenticated = s.caller.buildRegister();
    const challenge = await s.caller.client.sendRequest(unauthenticated.text, s.caller.callId, unauthenticated.cseq);
    expect(challenge.status).toBe(401);
    s.caller.client.edgePort = second.udpPort;
    expect((await s.caller.answer(challenge)).status).toBe(200);
  });
});
