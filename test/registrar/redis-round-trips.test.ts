// How many times a REGISTER waits for Redis: phones register one after another through an edge whose Redis
// connections pass a counting forwarder (helpers/redis-meter.ts). A round trip is one run of commands sent before
// the edge waits for Redis's answer (one pipeline, or one script call); the latency a phone sees grows with them.
import { afterEach, expect, inject, it } from 'vitest';
import { Phone } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { RedisMeter, type RoundTrip } from '../helpers/redis-meter.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const PHONES = 20;

let edge: TestEdge | undefined;
let meter: RedisMeter | undefined;
const peers: SipPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  await edge?.stop();
  await meter?.close();
});

/** Round trips that served a REGISTER: they touch the source's ban, the tenants, the extension's keys or a nonce. */
function registerTrips(trips: RoundTrip[]): RoundTrip[] {
  return trips.filter((t) => t.commands.some((c) => c.some((arg) => /ban:|tenant-domains|acme|nc:/.test(arg))));
}

it('answers each phone\'s challenge after one Redis round trip and its 200 after two', async () => {
  meter = await RedisMeter.start(inject('redisPort'));
  edge = await startEdge({ store: 'redis', overrides: { redis: { url: `redis://127.0.0.1:${meter.port}` } } });
  const exts = Array.from({ length: PHONES }, (_, i) => String(2001 + i));
  await edge.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    for (const ext of exts) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
  });
  const stores = edge.app.stores;
  expect(await eventually(async () => !!(await stores.accounts.getExtension('acme', exts.at(-1)!)))).toBe(true);

  const challengeTrips: number[] = [];
  const okTrips: number[] = [];
  const commands: number[] = [];
  for (const ext of exts) {
    const client = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
    peers.push(client);
    const phone = new Phone(client, { ext, domain: DOMAIN, password: PW });
    const before = registerTrips(meter.roundTrips).length;
    const first = phone.buildRegister({ expires: 600 });
    const challenge = await client.sendRequest(first.text, phone.callId, first.cseq);
    expect(challenge.status).toBe(401);
    const between = registerTrips(meter.roundTrips).length;
    const ok = await phone.answer(challenge, { expires: 600 });
    expect(ok.status).toBe(200);
    const after = registerTrips(meter.roundTrips);
    challengeTrips.push(between - before);
    okTrips.push(after.length - between);
    commands.push(after.slice(before).reduce((n, t) => n + t.commands.length, 0));
  }
  console.log(
    `redis round trips per registration over ${PHONES} phones: 401 leg ${challengeTrips.join(',')}; 200 leg ${okTrips.join(',')}; ` +
      `commands sent (401 + 200) ${commands.join(',')}`,
  );
  expect(challengeTrips.every((n) => n === 1)).toBe(true);
  expect(okTrips.every((n) => n >= 1 && n <= 2)).toBe(true);
  // Every phone's binding is where the 200 said: the writes really went to Redis.
  for (const ext of exts) expect((await stores.bindings.get(`${ext}@acme`, Date.now())).bindings).toHaveLength(1);
});

it('registers under the tenant that owns the domain when the 200 leg arrives, not the one the 401 leg found there', async () => {
  edge = await startEdge({ store: 'redis' });
  await edge.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: PW });
  });
  const client = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
  peers.push(client);
  const phone = new Phone(client, { ext: '1001', domain: DOMAIN, password: PW });
  const first = phone.buildRegister({ expires: 600 });
  const challenge = await client.sendRequest(first.text, phone.callId, first.cseq);
  expect(challenge.status).toBe(401);
  // Meanwhile an operator (on another node) gives the domain to another tenant with the same extension and password.
  const accounts = edge.app.stores.accounts;
  expect(await accounts.removeExtension('acme', '1001')).toBe(true);
  expect(await accounts.removeTenant('acme')).toBe(true);
  await edge.cli(async (p) => {
    await p.addTenant('beta', DOMAIN);
    await p.addExtension({ ext: '1001', tenant: 'beta' }, { password: PW });
  });
  expect((await phone.answer(challenge, { expires: 600 })).status).toBe(200);
  expect((await edge.app.stores.bindings.get('1001@beta', Date.now())).bindings).toHaveLength(1);
  expect((await edge.app.stores.bindings.get('1001@acme', Date.now())).bindings).toHaveLength(0);
});
