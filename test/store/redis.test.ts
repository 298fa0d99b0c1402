// The store contract against a real redis-server, plus what only Redis does: key prefixing, script-cache loss,
// and outages surfacing as StoreUnavailable rather than crashes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { SipedgeError, StoreUnavailable } from '../../src/errors.ts';
import { openStores } from '../../src/store/open.ts';
import { openRedisStores } from '../../src/store/redis/index.ts';
import type { Stores } from '../../src/store/types.ts';
import { freePort } from '../helpers/global-setup.ts';
import { testRedis } from '../helpers/redis.ts';
import { binding, extension, storeContract, tenant } from './contract.ts';

const redis = testRedis('store');

afterEach(async () => {
  await redis.flush();
});
afterAll(async () => {
  await redis.close();
});

storeContract('redis', (clock) => openRedisStores({ url: redis.url, keyPrefix: redis.keyPrefix }, { role: 'edge', clock }));

describe('redis store', () => {
  it('keeps every key under the configured prefix', async () => {
    const clock = new FakeClock();
    const stores = await openStores({ store: 'redis', redis: { url: redis.url, keyPrefix: redis.keyPrefix }, dataDir: '/nonexistent' }, { role: 'cli', clock });
    try {
      await stores.accounts.addTenant(tenant('acme'));
      await stores.accounts.putExtensions([extension('acme', '1001')]);
      await stores.bindings.replace('1001@acme', [binding('sip:a@192.0.2.1', clock.now(), 60_000)], 0, clock.now());
      await stores.lockouts.recordFailure('1001@acme', clock.now(), { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 });
      await stores.nonces.checkAndSet('n', 1, clock.now(), 60_000);
      await stores.meta.getOrSet('secret', 's');
      const keys = await redis.keys();
      expect(keys.length).toBeGreaterThan(5);
      expect(keys.every((k) => k.startsWith(redis.keyPrefix))).toBe(true);
    } finally {
      await stores.close();
    }
  });

  it("announces a CLI's unban to every edge on the deployment's channel, and to no other deployment", async () => {
    const clock = new FakeClock();
    const [a, b, other, cli] = await Promise.all([
      openRedisStores({ url: redis.url, keyPrefix: redis.keyPrefix }, { role: 'edge', clock }),
      openRedisStores({ url: redis.url, keyPrefix: redis.keyPrefix }, { role: 'edge', clock }),
      openRedisStores({ url: redis.url, keyPrefix: `${redis.keyPrefix}other:` }, { role: 'edge', clock }),
      openRedisStores({ url: redis.url, keyPrefix: redis.keyPrefix }, { role: 'cli', clock }),
    ]);
    try {
      const heard = (s: typeof a) => new Promise<string>((resolve) => s.lockouts.onUnban(resolve));
      const atA = heard(a);
      const atB = heard(b);
      const elsewhere: string[] = [];
      other.lockouts.onUnban((source) => elsewhere.push(source));
      await cli.lockouts.unban('198.51.100.7');
      expect(await atA).toBe('198.51.100.7');
      expect(await atB).toBe('198.51.100.7');
      // A message for the other prefix, sent after ours, arrives after it: once it is heard, ours would have been too.
      const otherHeard = heard(other);
      await openRedisStores({ url: redis.url, keyPrefix: `${redis.keyPrefix}other:` }, { role: 'cli', clock }).then(async (s) => {
        await s.lockouts.unban('198.51.100.8');
        await s.close();
      });
      expect(await otherHeard).toBe('198.51.100.8');
      expect(elsewhere).toEqual(['198.51.100.8']);
    } finally {
      await Promise.all([a, b, other, cli].map((s) => s.close()));
    }
  });

  it('keeps working after Redis forgot its scripts (EVALSHA falls back to EVAL)', async () => {
    const clock = new FakeClock();
    const stores = await openRedisStores({ url: redis.url, keyPrefix: redis.keyPrefix }, { role: 'edge', clock });
    try {
      expect(await stores.nonces.checkAndSet('n', 1, clock.now(), 60_000)).toBe(true);
      await redis.flush();
      expect(await stores.nonces.checkAndSet('n', 1, clock.now(), 60_000)).toBe(true);
      expect(await stores.nonces.checkAndSet('n', 1, clock.now(), 60_000)).toBe(false);
    } finally {
      await stores.close();
    }
  });

  it('answers each read and commit of one event-loop turn on its own: one that Redis refuses fails alone', async () => {
    const clock = new FakeClock();
    const stores = await openRedisStores({ url: redis.url, keyPrefix: redis.keyPrefix }, { role: 'edge', clock });
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url, { keyPrefix: redis.keyPrefix });
    try {
      await stores.accounts.addTenant(tenant('acme'));
      await stores.accounts.putExtensions([extension('acme', '1001')]);
      // Keys of the wrong type: HMGET on a string and GET on a hash are refused (WRONGTYPE).
      await admin.set('aor:broken@acme', 'x');
      await admin.hset('nc:broken', 'a', 'b');
      const now = clock.now();
      const writes = (nonce: string) => ({ nonce, nc: 1, ncTtlMs: 60_000, trustKey: '1001@acme', source: '192.0.2.1', trustMs: 60_000, ownKey: '1001@acme|192.0.2.1' });
      // All issued in one turn, so they leave in one read call and one commit call.
      const broken = stores.bindings.get('broken@acme', now);
      const ext = stores.accounts.getExtension('acme', '1001');
      const byDomain = stores.accounts.findTenantByDomain('ACME.example.com');
      const none = stores.bindings.get('2002@acme', now);
      const badCommit = stores.proven.commit(writes('broken'), now);
      const goodCommit = stores.proven.commit(writes('fresh'), now);
      await expect(broken).rejects.toThrow(/WRONGTYPE/);
      expect((await ext)?.ext).toBe('1001');
      expect((await byDomain)?.code).toBe('acme');
      expect((await none).bindings).toEqual([]);
      await expect(badCommit).rejects.toThrow(/WRONGTYPE/);
      expect(await goodCommit).toBe('stored');
      expect(await stores.proven.commit(writes('fresh'), now)).toBe('replay');
    } finally {
      admin.disconnect();
      await stores.close();
    }
  });

  it('answers a turn of more reads than one script call carries, each with its own answer', async () => {
    const clock = new FakeClock();
    const stores = await openRedisStores({ url: redis.url, keyPrefix: redis.keyPrefix }, { role: 'edge', clock });
    try {
      await stores.accounts.addTenant(tenant('acme'));
      const exts = Array.from({ length: 3000 }, (_, i) => extension('acme', String(10_000 + i)));
      await stores.accounts.putExtensions(exts);
      // 45,000 reads in one turn (135,000 keys and arguments, past what one JavaScript call can take); every other one
      // names an extension that does not exist.
      const name = (i: number): string => String(i % 2 === 0 ? 10_000 + ((i / 2) % 3000) : 20_000 + i);
      const reads = Array.from({ length: 45_000 }, (_, i) => stores.accounts.getExtension('acme', name(i)));
      const answers = await Promise.all(reads);
      expect(answers.filter((e, i) => e?.ext !== (i % 2 === 0 ? name(i) : undefined))).toEqual([]);
    } finally {
      await stores.close();
    }
  });

  it('refuses to open with SIPEDGE_ERR_STORE_UNAVAILABLE when nothing listens at redis.url', async () => {
    const port = await freePort();
    const err = await openRedisStores({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'x:' }, { role: 'edge', clock: new FakeClock() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SipedgeError);
    expect((err as SipedgeError).code).toBe('SIPEDGE_ERR_STORE_UNAVAILABLE');
    expect((err as SipedgeError).message).toContain('redis.url');
  });

  describe('when its own redis-server goes away', () => {
    let dir = '';
    let stores: Stores | undefined;
    afterEach(async () => {
      await stores?.close();
      stores = undefined;
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    it('rejects calls with StoreUnavailable instead of crashing, and closes cleanly', async () => {
      dir = mkdtempSync(join(tmpdir(), 'sipedge-redis-down-'));
      const port = await freePort();
      execFileSync('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--daemonize', 'yes', '--pidfile', join(dir, 'redis.pid'), '--dir', dir, '--logfile', join(dir, 'redis.log'),
      ]);
      const clock = new FakeClock();
      const url = `redis://127.0.0.1:${port}`;
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          stores = await openRedisStores({ url, keyPrefix: 'down:' }, { role: 'edge', clock });
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(await stores.nonces.checkAndSet('n', 1, clock.now(), 60_000)).toBe(true);
      try {
        execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { stdio: 'pipe' });
      } catch {
        // redis-cli reports the dropped connection as an error; the server is down either way.
      }
      // Give the client a moment to notice the closed socket; then every call must reject, typed.
      await new Promise((r) => setTimeout(r, 200));
      const calls: unknown[] = [
        stores.bindings.get('1001@acme', clock.now()),
        stores.lockouts.recordFailure('k', clock.now(), { maxFailures: 5, windowMs: 1, lockMs: 1 }),
        stores.nonces.checkAndSet('n', 2, clock.now(), 60_000),
        stores.accounts.getExtension('acme', '1001'),
        stores.meta.getOrSet('x', 'y'),
      ];
      for (const c of calls) await expect(c).rejects.toBeInstanceOf(StoreUnavailable);
    });
  });
});
