// Redis Sentinel (README "Redis Sentinel"): a primary, a replica and three sentinels of the test's own; phones
// register through two edges that find the primary through the sentinels; the primary is killed. Both edges follow
// the failover to the promoted replica, nothing reported done before it is lost (accounts, a rotated password, the
// active hold music: written with redis.waitReplicas 1), and registrations resume. The failover time is printed.
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { Phone } from '../helpers/phone.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { makeWav, tone } from '../media/audio-fixtures.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const NAME = 'sipedge-test';

const servers: RedisServer[] = [];
const edges: TestEdge[] = [];
const peers: SipPeer[] = [];
const clients: Redis[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  for (const e of edges.splice(0)) await e.stop();
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of servers.splice(0)) await s.stop();
});

function client(port: number): Redis {
  const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

async function start(o: Parameters<typeof RedisServer.start>[0]): Promise<RedisServer> {
  const s = await RedisServer.start(o);
  servers.push(s);
  return s;
}

const lineWith = (event: string) => (l: string): boolean => (JSON.parse(l) as { event?: string }).event === event;

describe('edges on Redis Sentinel', () => {
  it('follow a failover of the primary to its replica, losing nothing reported done, and register again', async () => {
    const primary = await start({});
    const replica = await start({ config: [`replicaof 127.0.0.1 ${primary.port}`] });
    const sentinels = [];
    for (let i = 0; i < 3; i++) {
      sentinels.push(
        await start({
          sentinel: true,
          config: [`sentinel monitor ${NAME} 127.0.0.1 ${primary.port} 2`, `sentinel down-after-milliseconds ${NAME} 1000`, `sentinel failover-timeout ${NAME} 10000`],
        }),
      );
    }
    // Sentinels find the replica and each other by themselves (INFO, hello messages); no event says when.
    const asked = sentinels.map((s) => client(s.port));
    expect(
      await eventually(async () => {
        for (const s of asked) {
          const replicas = (await s.call('SENTINEL', 'REPLICAS', NAME)) as unknown[];
          const others = (await s.call('SENTINEL', 'SENTINELS', NAME)) as unknown[];
          if (replicas.length !== 1 || others.length !== 2) return false;
        }
        return /master_link_status:up/.test(await client(replica.port).info('replication'));
      }, 60_000, 200),
    ).toBe(true);

    const redis = {
      url: 'redis://127.0.0.1:6379', // ignored for the address: the sentinels name the primary
      keyPrefix: `sentinel${process.pid}:`,
      sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`),
      name: NAME,
      waitReplicas: 1,
    };
    const a = await startEdge({ store: 'redis', overrides: { redis } });
    edges.push(a);
    const b = await startEdge({ store: 'redis', overrides: { redis, media: { rtpPortMin: 41000, rtpPortMax: 41099 } } });
    edges.push(b);

    // Acknowledged before the failover: accounts, a rotation (its new password), an activated hold music.
    const rotated = await a.cli(async (p) => {
      await p.addTenant('acme', DOMAIN);
      for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
      return (await p.rotate({ tenant: 'acme', ext: '1001' }, { graceMs: 0, dropBindings: false })).password;
    });
    const music = await a.app.media.upload({ tenant: 'acme', cls: 'hold', sourceName: 'hold.wav', bytes: makeWav(tone(8000, 1, 440, 0.4), 8000, 'float32') });
    expect((await a.app.stores.media.active('acme', 'hold'))?.id).toBe(music.id);

    const alice = new Phone(await peer(a.udpPort), { ext: '1001', domain: DOMAIN, password: rotated, expires: 600 });
    const bob = new Phone(await peer(b.udpPort), { ext: '1002', domain: DOMAIN, password: PW, expires: 600 });
    expect((await alice.register()).status).toBe(200);
    expect((await bob.register()).status).toBe(200);

    const killedAt = performance.now();
    await servers[0]!.kill();
    await Promise.all([a, b].map((e) => e.waitForLog(lineWith('store.outage.start'), 30_000)));
    // Each edge serves again once it found the promoted replica (its marker came with the data).
    const resumed = await Promise.all(
      [
        [a, alice],
        [b, bob],
      ].map(async ([edge, phone]) => {
        await (edge as TestEdge).waitForLog(lineWith('store.outage.end'), 60_000);
        expect((await (phone as Phone).register()).status).toBe(200);
        return Math.round(performance.now() - killedAt);
      }),
    );
    console.log(`sentinel failover: primary killed -> registrations answered 200 again after ${resumed[0]} ms (edge a), ${resumed[1]} ms (edge b)`);

    const promoted = (await asked[0]!.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as [string, string];
    expect(Number(promoted[1])).toBe(replica.port);
    // Nothing reported done is lost: the rotated password registers, the old one does not, the music is active.
    expect((await new Phone(await peer(b.udpPort), { ext: '1001', domain: DOMAIN, password: rotated, expires: 600 }).register()).status).toBe(200);
    expect((await new Phone(await peer(b.udpPort), { ext: '1001', domain: DOMAIN, password: PW, expires: 600 }).register()).status).toBe(401);
    expect((await b.app.stores.media.active('acme', 'hold'))?.id).toBe(music.id);
    expect((await a.app.stores.accounts.getExtension('acme', '1002'))?.ext).toBe('1002');
  }, 120_000);
});

async function peer(port: number): Promise<SipPeer> {
  const p = await SipPeer.open({ transport: 'udp', port });
  peers.push(p);
  return p;
}
