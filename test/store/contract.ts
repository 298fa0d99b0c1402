// The one behaviour contract every store implementation must pass (memory.test.ts and redis.test.ts run it).
// Implementation-specific stories (journal crashes, processes, Redis outages) live in those files.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { SipedgeError } from '../../src/errors.ts';
import type { Binding, Extension, LoginRecord, MediaVersion, NodeRecord, SessionRecord, Stores, Tenant } from '../../src/store/types.ts';

/** Opens a fresh, empty store for one test, in the 'edge' role, reading time from `clock`. */
export type StoresFactory = (clock: FakeClock) => Promise<Stores>;

const MIN = 60_000;

/** A tenant as the CLI would add it. */
export function tenant(code: string, domain = `${code}.example.com`, createdAt = Date.UTC(2026, 0, 1)): Tenant {
  return { code, domain, createdAt };
}

/** An extension with recognisable fake HA1s. */
export function extension(tenantCode: string, ext: string, marker = 'a'): Extension {
  const at = Date.UTC(2026, 0, 1);
  return {
    tenant: tenantCode,
    ext,
    email: `${ext}@${tenantCode}.example.com`,
    cred: { md5: marker.repeat(32), sha256: marker.repeat(64) },
    credUpdatedAt: at,
    createdAt: at,
    updatedAt: at,
  };
}

/** A UDP binding from a desk phone, expiring `ttlMs` after `now`. */
export function binding(contact: string, now: number, ttlMs: number, extra: Partial<Binding> = {}): Binding {
  return {
    contact,
    callId: `call-${contact}`,
    cseq: 1,
    expiresAt: now + ttlMs,
    registeredAt: now,
    path: [],
    transport: 'udp',
    sourceAddress: '192.0.2.10',
    sourcePort: 5062,
    nodeId: 'node-a',
    ...extra,
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

function expectCode(err: unknown, code: string): void {
  expect(err).toBeInstanceOf(SipedgeError);
  expect((err as SipedgeError).code).toBe(code);
}

/** A hold-music version record as the media library writes it. */
export function mediaVersion(id: string, tenantCode: string, cls: 'hold' | 'queue', createdAt: number, extra: Partial<MediaVersion> = {}): MediaVersion {
  return { id, tenant: tenantCode, cls, status: 'pending', sourceName: `${id}.wav`, sourceBytes: 1000, createdAt, ...extra };
}

/** Registers the contract suite for one implementation. */
export function storeContract(name: string, open: StoresFactory): void {
  describe(`${name} store contract`, () => {
    let clock: FakeClock;
    let stores: Stores;

    beforeEach(async () => {
      clock = new FakeClock();
      stores = await open(clock);
    });
    afterEach(async () => {
      await stores.close();
    });

    describe('tenants', () => {
      it('finds an added tenant by code and by its domain in any letter case', async () => {
        await stores.accounts.addTenant(tenant('acme', 'acme.example.com'));
        expect(await stores.accounts.getTenant('acme')).toEqual(tenant('acme', 'acme.example.com'));
        expect((await stores.accounts.findTenantByDomain('ACME.Example.COM'))?.code).toBe('acme');
        expect(await stores.accounts.findTenantByDomain('other.example.com')).toBeUndefined();
        expect(await stores.accounts.getTenant('nobody')).toBeUndefined();
      });

      it('refuses a second tenant with a taken code and keeps the first one unchanged', async () => {
        await stores.accounts.addTenant(tenant('acme', 'acme.example.com'));
        expectCode(await rejection(stores.accounts.addTenant(tenant('acme', 'elsewhere.example.com'))), 'SIPEDGE_ERR_TENANT_EXISTS');
        expect((await stores.accounts.getTenant('acme'))?.domain).toBe('acme.example.com');
        expect(await stores.accounts.findTenantByDomain('elsewhere.example.com')).toBeUndefined();
      });

      it('refuses a tenant whose domain differs from a taken one only in case', async () => {
        await stores.accounts.addTenant(tenant('acme', 'acme.example.com'));
        expectCode(await rejection(stores.accounts.addTenant(tenant('copycat', 'ACME.example.com'))), 'SIPEDGE_ERR_TENANT_EXISTS');
        expect(await stores.accounts.getTenant('copycat')).toBeUndefined();
        expect(await stores.accounts.listTenants()).toHaveLength(1);
      });

      it('lists every tenant ordered by code', async () => {
        await stores.accounts.addTenant(tenant('zeta'));
        await stores.accounts.addTenant(tenant('alpha'));
        expect((await stores.accounts.listTenants()).map((t) => t.code)).toEqual(['alpha', 'zeta']);
      });
    });

    describe('extensions', () => {
      beforeEach(async () => {
        await stores.accounts.addTenant(tenant('acme'));
        await stores.accounts.addTenant(tenant('globex'));
      });

      it('stores a batch and returns each extension as written', async () => {
        const e = { ...extension('acme', '1001'), prevCred: { md5: 'b'.repeat(32), sha256: 'b'.repeat(64) }, graceUntil: 123 };
        await stores.accounts.putExtensions([e, extension('acme', '1002'), extension('globex', '1001')]);
        expect(await stores.accounts.getExtension('acme', '1001')).toEqual(e);
        expect((await stores.accounts.listExtensions('acme')).map((x) => x.ext)).toEqual(['1001', '1002']);
        expect((await stores.accounts.listExtensions('globex')).map((x) => x.ext)).toEqual(['1001']);
        expect(await stores.accounts.getExtension('acme', '9999')).toBeUndefined();
        expect(await stores.accounts.listExtensions('nobody')).toEqual([]);
      });

      it('replaces an existing extension on upsert (password rotation)', async () => {
        await stores.accounts.putExtensions([extension('acme', '1001', 'a')]);
        await stores.accounts.putExtensions([extension('acme', '1001', 'c')]);
        expect((await stores.accounts.getExtension('acme', '1001'))?.cred.md5).toBe('c'.repeat(32));
        expect(await stores.accounts.listExtensions('acme')).toHaveLength(1);
      });

      it('writes nothing of a batch that names an unknown tenant', async () => {
        const batch = [extension('acme', '2001'), extension('ghost', '2002'), extension('acme', '2003')];
        expectCode(await rejection(stores.accounts.putExtensions(batch)), 'SIPEDGE_ERR_TENANT_UNKNOWN');
        expect(await stores.accounts.getExtension('acme', '2001')).toBeUndefined();
        expect(await stores.accounts.listExtensions('acme')).toEqual([]);
      });

      it('imports a batch of 2,000 extensions in one call', async () => {
        const batch = Array.from({ length: 2_000 }, (_, i) => extension('acme', String(10_000 + i)));
        await stores.accounts.putExtensions(batch);
        expect(await stores.accounts.listExtensions('acme')).toHaveLength(2_000);
        expect((await stores.accounts.getExtension('acme', '11999'))?.ext).toBe('11999');
      });

      it('imports 100,000 extensions of one tenant in one call (sipedge import of a large CSV)', async () => {
        const batch = Array.from({ length: 100_000 }, (_, i) => extension('acme', String(100_000 + i)));
        await stores.accounts.putExtensions(batch);
        expect(await stores.accounts.listExtensions('acme')).toHaveLength(100_000);
        expect((await stores.accounts.getExtension('acme', '199999'))?.ext).toBe('199999');
      }, 60_000);
    });

    describe('bindings', () => {
      const aor = '1001@acme';

      it('has no bindings and version 0 for an AOR never registered', async () => {
        expect(await stores.bindings.get(aor, clock.now())).toEqual({ bindings: [], version: 0 });
      });

      it('returns the bindings a replace stored, under a new version', async () => {
        const now = clock.now();
        const b = [binding('sip:1001@192.0.2.10:5062', now, 3_600_000), binding('sip:1001@198.51.100.7:5060', now, 600_000, { q: 0.5, path: ['<sip:p1>'] })];
        expect(await stores.bindings.replace(aor, b, 0, now)).toBe(true);
        const set = await stores.bindings.get(aor, now);
        expect(set.bindings).toEqual(b);
        expect(set.version).not.toBe(0);
      });

      it('lets only the first of two registrars that read the same version write (the stale one retries)', async () => {
        const now = clock.now();
        const alice = await stores.bindings.get(aor, now);
        const bob = await stores.bindings.get(aor, now);
        expect(await stores.bindings.replace(aor, [binding('sip:alice@192.0.2.1', now, MIN)], alice.version, now)).toBe(true);
        expect(await stores.bindings.replace(aor, [binding('sip:bob@192.0.2.2', now, MIN)], bob.version, now)).toBe(false);
        const retry = await stores.bindings.get(aor, now);
        expect(retry.bindings.map((x) => x.contact)).toEqual(['sip:alice@192.0.2.1']);
        const both = [...retry.bindings, binding('sip:bob@192.0.2.2', now, MIN)];
        expect(await stores.bindings.replace(aor, both, retry.version, now)).toBe(true);
        expect((await stores.bindings.get(aor, now)).bindings).toHaveLength(2);
      });

      it('never reuses a version after the bindings were removed and added again', async () => {
        const now = clock.now();
        await stores.bindings.replace(aor, [binding('sip:old@192.0.2.1', now, MIN)], 0, now);
        const stale = await stores.bindings.get(aor, now);
        await stores.bindings.replace(aor, [], stale.version, now);
        await stores.bindings.replace(aor, [binding('sip:new@192.0.2.2', now, MIN)], 0, now);
        expect(await stores.bindings.replace(aor, [], stale.version, now)).toBe(false);
        expect((await stores.bindings.get(aor, now)).bindings.map((x) => x.contact)).toEqual(['sip:new@192.0.2.2']);
      });

      it('hides a binding once its expiry passes while keeping the longer one', async () => {
        const now = clock.now();
        await stores.bindings.replace(aor, [binding('sip:short@192.0.2.1', now, MIN), binding('sip:long@192.0.2.2', now, 10 * MIN)], 0, now);
        clock.advance(MIN);
        expect((await stores.bindings.get(aor, clock.now())).bindings.map((x) => x.contact)).toEqual(['sip:long@192.0.2.2']);
        clock.advance(9 * MIN);
        expect((await stores.bindings.get(aor, clock.now())).bindings).toEqual([]);
      });

      it('removes every binding when replaced with an empty list', async () => {
        const now = clock.now();
        await stores.bindings.replace(aor, [binding('sip:a@192.0.2.1', now, MIN)], 0, now);
        const set = await stores.bindings.get(aor, now);
        expect(await stores.bindings.replace(aor, [], set.version, now)).toBe(true);
        expect((await stores.bindings.get(aor, now)).bindings).toEqual([]);
        expect(await stores.bindings.countActive(now)).toBe(0);
      });

      it('drops all bindings of one AOR on removeAll and leaves the others', async () => {
        const now = clock.now();
        await stores.bindings.replace(aor, [binding('sip:a@192.0.2.1', now, MIN), binding('sip:b@192.0.2.1', now, MIN)], 0, now);
        await stores.bindings.replace('1002@acme', [binding('sip:c@192.0.2.3', now, MIN)], 0, now);
        await stores.bindings.removeAll(aor);
        expect((await stores.bindings.get(aor, now)).bindings).toEqual([]);
        expect((await stores.bindings.get('1002@acme', now)).bindings).toHaveLength(1);
        expect(await stores.bindings.countActive(now)).toBe(1);
      });

      it('counts unexpired bindings across all AORs', async () => {
        const now = clock.now();
        await stores.bindings.replace(aor, [binding('sip:a@192.0.2.1', now, MIN), binding('sip:b@192.0.2.1', now, 5 * MIN)], 0, now);
        await stores.bindings.replace('1002@acme', [binding('sip:c@192.0.2.3', now, 5 * MIN)], 0, now);
        await stores.bindings.replace('1003@acme', [binding('sip:d@192.0.2.4', now, 5 * MIN)], 0, now);
        expect(await stores.bindings.countActive(now)).toBe(4);
        clock.advance(2 * MIN);
        expect(await stores.bindings.countActive(clock.now())).toBe(3);
        const set = await stores.bindings.get('1003@acme', clock.now());
        await stores.bindings.replace('1003@acme', [], set.version, clock.now());
        expect(await stores.bindings.countActive(clock.now())).toBe(2);
        clock.advance(5 * MIN);
        expect(await stores.bindings.countActive(clock.now())).toBe(0);
      });
    });

    describe('node registry', () => {
      const rec = (id: string, seenAt: number): NodeRecord => ({ id, address: `192.0.2.1:5060`, startedAt: seenAt, seenAt, connections: 2, upstreams: { 'sip:pbx': 'up' } });

      it('keeps the latest record of each node and lets exactly one caller remove a node', async () => {
        await stores.nodes.put(rec('node-a', 1));
        await stores.nodes.put(rec('node-b', 1));
        await stores.nodes.put(rec('node-a', 2));
        expect((await stores.nodes.list()).sort((x, y) => x.id.localeCompare(y.id))).toEqual([rec('node-a', 2), rec('node-b', 1)]);
        const removals = await Promise.all([stores.nodes.remove('node-b'), stores.nodes.remove('node-b')]);
        expect(removals.filter(Boolean)).toHaveLength(1);
        expect((await stores.nodes.list()).map((n) => n.id)).toEqual(['node-a']);
      });

      it('lists the AORs that have unexpired bindings (the sweep after a dead node)', async () => {
        const now = clock.now();
        await stores.bindings.replace('1001@acme', [binding('sip:a@192.0.2.1', now, MIN), binding('sip:b@192.0.2.1', now, 5 * MIN)], 0, now);
        await stores.bindings.replace('1002@acme', [binding('sip:c@192.0.2.3', now, MIN)], 0, now);
        expect((await stores.bindings.aors(now)).sort()).toEqual(['1001@acme', '1002@acme']);
        clock.advance(2 * MIN);
        expect(await stores.bindings.aors(clock.now())).toEqual(['1001@acme']);
      });
    });

    describe('lockouts', () => {
      const policy = { maxFailures: 5, windowMs: 5 * MIN, lockMs: 15 * MIN };
      const key = '1001@acme';

      it('locks a key for lockMs on the fifth failure inside the window', async () => {
        for (let i = 1; i <= 4; i++) {
          expect(await stores.lockouts.recordFailure(key, clock.now(), policy)).toEqual({ failures: i, lockedUntil: 0 });
          clock.advance(10_000);
        }
        const until = clock.now() + policy.lockMs;
        expect(await stores.lockouts.recordFailure(key, clock.now(), policy)).toEqual({ failures: 5, lockedUntil: until });
        expect(await stores.lockouts.lockedUntil(key, clock.now())).toBe(until);
        expect(await stores.lockouts.lockedUntil('1002@acme', clock.now())).toBe(0);
      });

      it('forgets failures older than the window', async () => {
        for (let i = 0; i < 4; i++) await stores.lockouts.recordFailure(key, clock.now(), policy);
        clock.advance(policy.windowMs + 1);
        expect(await stores.lockouts.recordFailure(key, clock.now(), policy)).toEqual({ failures: 1, lockedUntil: 0 });
      });

      it('slides the window: only failures inside the last windowMs count', async () => {
        await stores.lockouts.recordFailure(key, clock.now(), policy);
        clock.advance(3 * MIN);
        await stores.lockouts.recordFailure(key, clock.now(), policy);
        await stores.lockouts.recordFailure(key, clock.now(), policy);
        clock.advance(2 * MIN + 1);
        expect((await stores.lockouts.recordFailure(key, clock.now(), policy)).failures).toBe(3);
      });

      it('ends the lock after lockMs and starts counting afresh', async () => {
        for (let i = 0; i < 5; i++) await stores.lockouts.recordFailure(key, clock.now(), policy);
        clock.advance(policy.lockMs - 1);
        expect(await stores.lockouts.lockedUntil(key, clock.now())).toBeGreaterThan(0);
        clock.advance(1);
        expect(await stores.lockouts.lockedUntil(key, clock.now())).toBe(0);
        expect(await stores.lockouts.recordFailure(key, clock.now(), policy)).toEqual({ failures: 1, lockedUntil: 0 });
      });

      it('clears the lock and the failure count on unlock', async () => {
        for (let i = 0; i < 5; i++) await stores.lockouts.recordFailure(key, clock.now(), policy);
        await stores.lockouts.unlock(key);
        expect(await stores.lockouts.lockedUntil(key, clock.now())).toBe(0);
        expect(await stores.lockouts.recordFailure(key, clock.now(), policy)).toEqual({ failures: 1, lockedUntil: 0 });
      });

      it('clears a key and every key beneath it on unlockAll, and no other key', async () => {
        const below = `${key}|src:192.0.2.10`;
        const other = `${key}x|src:192.0.2.10`;
        for (const k of [key, below, other]) for (let i = 0; i < 5; i++) await stores.lockouts.recordFailure(k, clock.now(), policy);
        await stores.lockouts.unlockAll(key);
        expect(await stores.lockouts.lockedUntil(key, clock.now())).toBe(0);
        expect(await stores.lockouts.lockedUntil(below, clock.now())).toBe(0);
        expect(await stores.lockouts.lockedUntil(other, clock.now())).toBeGreaterThan(0);
      });

      it('trusts a (key, source) pair for ttlMs and no other pair', async () => {
        await stores.lockouts.trust(key, '192.0.2.10', clock.now(), 10 * MIN);
        expect(await stores.lockouts.isTrusted(key, '192.0.2.10', clock.now())).toBe(true);
        expect(await stores.lockouts.isTrusted(key, '203.0.113.66', clock.now())).toBe(false);
        expect(await stores.lockouts.isTrusted('1002@acme', '192.0.2.10', clock.now())).toBe(false);
        clock.advance(10 * MIN);
        expect(await stores.lockouts.isTrusted(key, '192.0.2.10', clock.now())).toBe(false);
      });
    });

    describe('lock state', () => {
      const key = 'ext:acme:1001';
      const own = `${key}|src:udp:192.0.2.10:5060`;
      const policy = { maxFailures: 1, windowMs: MIN, lockMs: 10 * MIN };

      it("answers the extension's lock to an untrusted source and the source's own lock to a trusted one", async () => {
        await stores.lockouts.recordFailure(key, clock.now(), policy);
        const until = clock.now() + policy.lockMs;
        expect(await stores.lockouts.lockState(key, 'udp:192.0.2.10:5060', own, clock.now())).toEqual({ trusted: false, lockedUntil: until });
        await stores.lockouts.trust(key, 'udp:192.0.2.10:5060', clock.now(), 5 * MIN);
        expect(await stores.lockouts.lockState(key, 'udp:192.0.2.10:5060', own, clock.now())).toEqual({ trusted: true, lockedUntil: 0 });
        await stores.lockouts.recordFailure(own, clock.now(), policy);
        expect(await stores.lockouts.lockState(key, 'udp:192.0.2.10:5060', own, clock.now())).toEqual({ trusted: true, lockedUntil: until });
      });
    });

    describe('proven writes', () => {
      const aor = '1001@acme';
      const key = 'ext:acme:1001';
      const source = 'udp:192.0.2.10:5060';
      const own = `${key}|src:${source}`;
      const writes = (nc: number, bindings?: { list: Binding[]; expectedVersion: number }) => ({
        nonce: 'n1', nc, ncTtlMs: 5 * MIN, trustKey: key, source, trustMs: 10 * MIN, ownKey: own,
        bindings: bindings === undefined ? undefined : { aor, ...bindings },
      });

      it('consumes the nc, trusts the source, clears its own lock and stores the bindings in one step', async () => {
        const now = clock.now();
        await stores.lockouts.recordFailure(own, now, { maxFailures: 1, windowMs: MIN, lockMs: MIN });
        const b = [binding('sip:1001@192.0.2.10:5060', now, 10 * MIN)];
        expect(await stores.proven.commit(writes(1, { list: b, expectedVersion: 0 }), now)).toBe('stored');
        expect(await stores.lockouts.isTrusted(key, source, now)).toBe(true);
        expect(await stores.lockouts.lockedUntil(own, now)).toBe(0);
        expect((await stores.bindings.get(aor, now)).bindings).toEqual(b);
        expect(await stores.nonces.checkAndSet('n1', 1, now, 5 * MIN)).toBe(false);
      });

      it('writes nothing for a replayed nc', async () => {
        const now = clock.now();
        expect(await stores.nonces.checkAndSet('n1', 3, now, 5 * MIN)).toBe(true);
        const b = [binding('sip:1001@192.0.2.10:5060', now, 10 * MIN)];
        expect(await stores.proven.commit(writes(3, { list: b, expectedVersion: 0 }), now)).toBe('replay');
        expect(await stores.lockouts.isTrusted(key, source, now)).toBe(false);
        expect(await stores.bindings.get(aor, now)).toEqual({ bindings: [], version: 0 });
      });

      it('stores all but the bindings when their version moved, and works without bindings', async () => {
        const now = clock.now();
        await stores.bindings.replace(aor, [binding('sip:other@192.0.2.20', now, 10 * MIN)], 0, now);
        const b = [binding('sip:1001@192.0.2.10:5060', now, 10 * MIN)];
        expect(await stores.proven.commit(writes(1, { list: b, expectedVersion: 0 }), now)).toBe('conflict');
        expect(await stores.lockouts.isTrusted(key, source, now)).toBe(true);
        expect((await stores.bindings.get(aor, now)).bindings.map((x) => x.contact)).toEqual(['sip:other@192.0.2.20']);
        expect(await stores.proven.commit(writes(2), now)).toBe('stored');
        expect(await stores.proven.commit(writes(2), now)).toBe('replay');
      });
    });

    describe('source bans', () => {
      const policy = { maxExtensions: 3, windowMs: 10 * MIN, banMs: 60 * MIN };
      const scanner = '203.0.113.66';

      it('does not count the same key twice for a source', async () => {
        for (let i = 0; i < 5; i++) {
          expect(await stores.lockouts.recordSourceFailure(scanner, '1001@acme', clock.now(), policy)).toEqual({ distinct: 1, bannedUntil: 0 });
        }
        expect(await stores.lockouts.bannedUntil(scanner, clock.now())).toBe(0);
      });

      it('bans a source that failed on maxExtensions distinct keys, for banMs', async () => {
        await stores.lockouts.recordSourceFailure(scanner, '1001@acme', clock.now(), policy);
        expect(await stores.lockouts.recordSourceFailure(scanner, '1002@acme', clock.now(), policy)).toEqual({ distinct: 2, bannedUntil: 0 });
        const until = clock.now() + policy.banMs;
        expect(await stores.lockouts.recordSourceFailure(scanner, '1003@acme', clock.now(), policy)).toEqual({ distinct: 3, bannedUntil: until });
        expect(await stores.lockouts.bannedUntil(scanner, clock.now())).toBe(until);
        expect(await stores.lockouts.bannedUntil('192.0.2.10', clock.now())).toBe(0);
        clock.advance(policy.banMs);
        expect(await stores.lockouts.bannedUntil(scanner, clock.now())).toBe(0);
      });

      it('does not ban for distinct keys spread wider than the window', async () => {
        await stores.lockouts.recordSourceFailure(scanner, '1001@acme', clock.now(), policy);
        await stores.lockouts.recordSourceFailure(scanner, '1002@acme', clock.now(), policy);
        clock.advance(policy.windowMs + 1);
        expect(await stores.lockouts.recordSourceFailure(scanner, '1003@acme', clock.now(), policy)).toEqual({ distinct: 1, bannedUntil: 0 });
      });

      it('lifts a ban on unban', async () => {
        for (const k of ['1001@acme', '1002@acme', '1003@acme']) await stores.lockouts.recordSourceFailure(scanner, k, clock.now(), policy);
        expect(await stores.lockouts.bannedUntil(scanner, clock.now())).toBeGreaterThan(0);
        const heard = new Promise<string>((resolve) => stores.lockouts.onUnban(resolve));
        await stores.lockouts.unban(scanner);
        expect(await stores.lockouts.bannedUntil(scanner, clock.now())).toBe(0);
        // The edge's listener (its flood guard) hears the unban too.
        expect(await heard).toBe(scanner);
      });
    });

    describe('nonce counts', () => {
      const ttl = 5 * MIN;

      it('accepts a growing nc and refuses a replayed or lower one', async () => {
        const now = clock.now();
        expect(await stores.nonces.checkAndSet('n1', 1, now, ttl)).toBe(true);
        expect(await stores.nonces.checkAndSet('n1', 1, now, ttl)).toBe(false);
        expect(await stores.nonces.checkAndSet('n1', 2, now, ttl)).toBe(true);
        expect(await stores.nonces.checkAndSet('n1', 7, now, ttl)).toBe(true);
        expect(await stores.nonces.checkAndSet('n1', 3, now, ttl)).toBe(false);
        expect(await stores.nonces.checkAndSet('n1', 7, now, ttl)).toBe(false);
        expect(await stores.nonces.checkAndSet('n2', 1, now, ttl)).toBe(true);
      });

      it('forgets a nonce ttlMs after its last accepted nc', async () => {
        await stores.nonces.checkAndSet('n1', 4, clock.now(), ttl);
        clock.advance(ttl - 1);
        expect(await stores.nonces.checkAndSet('n1', 4, clock.now(), ttl)).toBe(false);
        clock.advance(1);
        expect(await stores.nonces.checkAndSet('n1', 1, clock.now(), ttl)).toBe(true);
      });
    });

    describe('removal and email lookup (gateway admin)', () => {
      beforeEach(async () => {
        await stores.accounts.addTenant(tenant('acme'));
        await stores.accounts.addTenant(tenant('globex'));
      });

      it('removes one extension and reports whether it existed', async () => {
        await stores.accounts.putExtensions([extension('acme', '1001'), extension('acme', '1002')]);
        expect(await stores.accounts.removeExtension('acme', '1001')).toBe(true);
        expect(await stores.accounts.removeExtension('acme', '1001')).toBe(false);
        expect(await stores.accounts.getExtension('acme', '1001')).toBeUndefined();
        expect((await stores.accounts.listExtensions('acme')).map((e) => e.ext)).toEqual(['1002']);
      });

      it('refuses to remove a tenant with extensions, then removes it and frees its domain', async () => {
        await stores.accounts.putExtensions([extension('acme', '1001')]);
        expectCode(await rejection(stores.accounts.removeTenant('acme')), 'SIPEDGE_ERR_TENANT_NOT_EMPTY');
        await stores.accounts.removeExtension('acme', '1001');
        expect(await stores.accounts.removeTenant('acme')).toBe(true);
        expect(await stores.accounts.removeTenant('acme')).toBe(false);
        expect(await stores.accounts.getTenant('acme')).toBeUndefined();
        expect(await stores.accounts.findTenantByDomain('acme.example.com')).toBeUndefined();
        await stores.accounts.addTenant(tenant('acme2', 'acme.example.com'));
        expect((await stores.accounts.findTenantByDomain('acme.example.com'))?.code).toBe('acme2');
      });

      it('finds extensions by email in any case, and forgets an email that was changed', async () => {
        const a = { ...extension('acme', '1001'), email: 'Alice@Example.com' };
        await stores.accounts.putExtensions([a, extension('globex', '2001')]);
        expect((await stores.accounts.findExtensionsByEmail('alice@example.COM')).map((e) => `${e.ext}@${e.tenant}`)).toEqual(['1001@acme']);
        await stores.accounts.putExtensions([{ ...a, email: 'new@example.com' }]);
        expect(await stores.accounts.findExtensionsByEmail('alice@example.com')).toEqual([]);
        expect((await stores.accounts.findExtensionsByEmail('new@example.com')).map((e) => e.ext)).toEqual(['1001']);
        await stores.accounts.removeExtension('acme', '1001');
        expect(await stores.accounts.findExtensionsByEmail('new@example.com')).toEqual([]);
      });
    });

    describe('logins', () => {
      const login = (ext: string, extra: Partial<LoginRecord> = {}): LoginRecord => ({
        tenant: 'acme', ext, passwordHash: '$argon2id$fake', role: 'user', totpActive: false, sessionEpoch: 1, updatedAt: 1, ...extra,
      });

      it('stores, replaces and removes a login record', async () => {
        expect(await stores.logins.get('acme', '1001')).toBeUndefined();
        await stores.logins.put(login('1001'));
        expect(await stores.logins.get('acme', '1001')).toEqual(login('1001'));
        await stores.logins.put(login('1001', { role: 'tenant-admin', totpSecret: 'sealed', totpActive: true, sessionEpoch: 2 }));
        expect(await stores.logins.get('acme', '1001')).toEqual(login('1001', { role: 'tenant-admin', totpSecret: 'sealed', totpActive: true, sessionEpoch: 2 }));
        expect(await stores.logins.get('acme', '1002')).toBeUndefined();
        await stores.logins.remove('acme', '1001');
        expect(await stores.logins.get('acme', '1001')).toBeUndefined();
      });

      it('accepts each TOTP step once and never an older one', async () => {
        expect(await stores.logins.lastTotpStep('acme', '1001')).toBe(0);
        expect(await stores.logins.useTotpStep('acme', '1001', 100)).toBe(true);
        expect(await stores.logins.useTotpStep('acme', '1001', 100)).toBe(false);
        expect(await stores.logins.useTotpStep('acme', '1001', 99)).toBe(false);
        expect(await stores.logins.lastTotpStep('acme', '1001')).toBe(100);
        expect(await stores.logins.useTotpStep('acme', '1002', 100)).toBe(true);
        expect(await stores.logins.useTotpStep('acme', '1001', 101)).toBe(true);
      });

      it('lets only one of many concurrent uses of the same step through', async () => {
        const results = await Promise.all(Array.from({ length: 8 }, () => stores.logins.useTotpStep('acme', '1001', 500)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('sessions', () => {
      const H4 = 4 * 60 * MIN;
      const session = (now: number): SessionRecord => ({
        tenant: 'acme', ext: '1001', csrf: 'c', pending: false, epoch: 1, createdAt: now, expiresAt: now + H4,
      });

      it('slides the expiry on touch and ends the session after a full idle period', async () => {
        await stores.sessions.create('s1', session(clock.now()));
        clock.advance(H4 - MIN);
        expect((await stores.sessions.touch('s1', clock.now(), H4))?.expiresAt).toBe(clock.now() + H4);
        clock.advance(H4 - MIN);
        expect(await stores.sessions.touch('s1', clock.now(), 0)).toMatchObject({ tenant: 'acme', ext: '1001', csrf: 'c', epoch: 1 });
        clock.advance(MIN);
        expect(await stores.sessions.touch('s1', clock.now(), H4)).toBeUndefined();
        expect(await stores.sessions.touch('nope', clock.now(), H4)).toBeUndefined();
      });

      it('forgets a deleted session', async () => {
        await stores.sessions.create('s1', session(clock.now()));
        await stores.sessions.delete('s1');
        expect(await stores.sessions.touch('s1', clock.now(), H4)).toBeUndefined();
      });
    });

    describe('single-use tokens', () => {
      it('gives a token to exactly one taker before it expires', async () => {
        await stores.tokens.put('reset:abc', '{"x":1}', clock.now() + 60 * MIN);
        const takes = await Promise.all([1, 2, 3].map(() => stores.tokens.take('reset:abc', clock.now())));
        expect(takes.filter((t) => t !== undefined)).toEqual(['{"x":1}']);
        expect(await stores.tokens.take('reset:abc', clock.now())).toBeUndefined();
      });

      it('refuses an expired token', async () => {
        await stores.tokens.put('reset:old', 'v', clock.now() + 60 * MIN);
        clock.advance(60 * MIN);
        expect(await stores.tokens.take('reset:old', clock.now())).toBeUndefined();
      });
    });

    describe('upstream choices', () => {
      it('stores the first choice of an AOR and keeps it against a rival node that also saw none', async () => {
        const now = clock.now();
        expect(await stores.upstreamChoices.get('201@acme')).toBeUndefined();
        expect(await stores.upstreamChoices.compareAndSet('201@acme', undefined, { upstream: 'sip:pbx1', since: now })).toEqual({ upstream: 'sip:pbx1', since: now });
        // Node B raced with the same "none chosen" view: it gets node A's choice back and must use it.
        expect(await stores.upstreamChoices.compareAndSet('201@acme', undefined, { upstream: 'sip:pbx2', since: now + 1 })).toEqual({ upstream: 'sip:pbx1', since: now });
        expect(await stores.upstreamChoices.get('201@acme')).toEqual({ upstream: 'sip:pbx1', since: now });
      });

      it('moves an AOR only from the upstream the mover expected, and counts AORs per upstream', async () => {
        const now = clock.now();
        await stores.upstreamChoices.compareAndSet('201@acme', undefined, { upstream: 'sip:pbx1', since: now });
        await stores.upstreamChoices.compareAndSet('202@acme', undefined, { upstream: 'sip:pbx1', since: now });
        expect(await stores.upstreamChoices.countByUpstream()).toEqual(new Map([['sip:pbx1', 2]]));
        expect(await stores.upstreamChoices.compareAndSet('201@acme', 'sip:pbx1', { upstream: 'sip:pbx2', since: now + 5 })).toEqual({ upstream: 'sip:pbx2', since: now + 5 });
        // A second node that still believed pbx1 does not move it again.
        expect(await stores.upstreamChoices.compareAndSet('201@acme', 'sip:pbx1', { upstream: 'sip:pbx3', since: now + 6 })).toEqual({ upstream: 'sip:pbx2', since: now + 5 });
        expect(await stores.upstreamChoices.countByUpstream()).toEqual(new Map([['sip:pbx1', 1], ['sip:pbx2', 1]]));
        await stores.upstreamChoices.remove('202@acme');
        expect(await stores.upstreamChoices.get('202@acme')).toBeUndefined();
        expect(await stores.upstreamChoices.countByUpstream()).toEqual(new Map([['sip:pbx2', 1]]));
      });
    });

    describe('meta', () => {
      it('keeps the first value stored under a name', async () => {
        expect(await stores.meta.getOrSet('nonceSecret', 'first')).toBe('first');
        expect(await stores.meta.getOrSet('nonceSecret', 'second')).toBe('first');
        expect(await stores.meta.getOrSet('other', 'x')).toBe('x');
      });
    });
    describe('media', () => {
      const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff));

      it('activates a pending version atomically and retires the previous one', async () => {
        const t0 = clock.now();
        const rev0 = await stores.media.revision();
        await stores.media.putPending(mediaVersion('v1', 'acme', 'hold', t0), bytes(400));
        expect(await stores.media.active('acme', 'hold')).toBeUndefined();
        expect((await stores.media.list('acme'))[0]!.status).toBe('pending');
        await stores.media.activate('v1', t0 + 1);
        const rev1 = await stores.media.revision();
        expect(rev1).not.toBe(rev0);
        expect(await stores.media.active('acme', 'hold')).toMatchObject({ id: 'v1', status: 'active', activatedAt: t0 + 1 });
        await stores.media.putPending(mediaVersion('v2', 'acme', 'hold', t0 + 2), bytes(320));
        await stores.media.activate('v2', t0 + 3);
        expect(await stores.media.revision()).not.toBe(rev1);
        expect((await stores.media.active('acme', 'hold'))!.id).toBe('v2');
        const list = await stores.media.list('acme');
        expect(list.map((v) => [v.id, v.status])).toEqual([['v2', 'active'], ['v1', 'retired']]);
        expect(list[1]!.retiredAt).toBe(t0 + 3);
        expect(await stores.media.getArtifact('v2')).toEqual(bytes(320));
        expect(await stores.media.getArtifact('v1')).toEqual(bytes(400));
      });

      it('keeps hold and queue, and tenants, apart', async () => {
        const t0 = clock.now();
        await stores.media.putPending(mediaVersion('h1', 'acme', 'hold', t0), bytes(10));
        await stores.media.putPending(mediaVersion('q1', 'acme', 'queue', t0), bytes(11));
        await stores.media.putPending(mediaVersion('b1', 'beta', 'hold', t0), bytes(12));
        for (const id of ['h1', 'q1', 'b1']) await stores.media.activate(id, t0 + 1);
        expect((await stores.media.active('acme', 'hold'))!.id).toBe('h1');
        expect((await stores.media.active('acme', 'queue'))!.id).toBe('q1');
        expect((await stores.media.active('beta', 'hold'))!.id).toBe('b1');
        expect((await stores.media.list()).map((v) => v.id)).toEqual(['h1', 'q1', 'b1']);
        expect((await stores.media.list('beta')).map((v) => v.id)).toEqual(['b1']);
      });

      it('records a refused upload as failed with its reason and leaves the active version alone', async () => {
        const t0 = clock.now();
        await stores.media.putPending(mediaVersion('good', 'acme', 'hold', t0), bytes(10));
        await stores.media.activate('good', t0);
        await stores.media.putFailed(mediaVersion('bad', 'acme', 'hold', t0 + 5, { reason: 'WMA is not supported', reasonCode: 'unsupported-format', failedAt: t0 + 5 }));
        expect((await stores.media.active('acme', 'hold'))!.id).toBe('good');
        expect((await stores.media.list('acme'))[0]).toMatchObject({ id: 'bad', status: 'failed', reason: 'WMA is not supported' });
        expect(await stores.media.getArtifact('bad')).toBeUndefined();
      });

      it('refuses to activate an unknown, failed or already active version', async () => {
        const t0 = clock.now();
        expectCode(await rejection(stores.media.activate('nope', t0)), 'SIPEDGE_ERR_MEDIA_UNKNOWN');
        await stores.media.putFailed(mediaVersion('bad', 'acme', 'hold', t0, { reason: 'x' }));
        expectCode(await rejection(stores.media.activate('bad', t0)), 'SIPEDGE_ERR_MEDIA_UNKNOWN');
        await stores.media.putPending(mediaVersion('ok', 'acme', 'hold', t0), bytes(10));
        await stores.media.activate('ok', t0);
        expectCode(await rejection(stores.media.activate('ok', t0)), 'SIPEDGE_ERR_MEDIA_UNKNOWN');
      });

      it('keeps the artifacts of the last retired versions and prunes older ones', async () => {
        const t0 = clock.now();
        for (let i = 1; i <= 5; i++) {
          await stores.media.putPending(mediaVersion(`v${i}`, 'acme', 'hold', t0 + i), bytes(10 + i));
          await stores.media.activate(`v${i}`, t0 + i);
        }
        expect(await stores.media.getArtifact('v5')).toEqual(bytes(15));
        expect(await stores.media.getArtifact('v4')).toEqual(bytes(14));
        expect(await stores.media.getArtifact('v3')).toEqual(bytes(13));
        expect(await stores.media.getArtifact('v2')).toBeUndefined();
        expect(await stores.media.getArtifact('v1')).toBeUndefined();
      });
    });
  });
}
