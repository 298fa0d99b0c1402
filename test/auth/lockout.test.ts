// Lockout, the anti-weaponisation rule, source bans and scanner drops, on the real memory and Redis stores, FakeClock time.
// Digest arithmetic and the other outcomes are in authenticator.test.ts.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIGEST_FAILURES } from '../../src/auth/authenticator.ts';
import { createScannerMatcher, extensionKey, sourceKey } from '../../src/auth/lockout.ts';
import { sourceBinding } from '../../src/auth/nonce.ts';
import { Provisioning } from '../../src/auth/provisioning.ts';
import { acme, failures, password, startEdge, type Edge } from './edge.ts';
import { testRedis } from '../helpers/redis.ts';
import { Phone } from './phone.ts';

let edge: Edge;
const redis = testRedis('auth-lockout');
afterAll(async () => {
  await redis.close();
});

const realm = acme.domain;
const MIN = 60_000;

/** A device at `ip` using `username`; `knowsPassword` decides whether it types the right one. */
function device(ip: string, username: string, knowsPassword: boolean): Phone {
  const phone = new Phone({ ip, username, password: knowsPassword ? password(username) : 'letmein', realm });
  phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
  return phone;
}

/** One REGISTER answering a fresh challenge, as a phone does after each 401. */
function attempt(phone: Phone) {
  phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
  return edge.auth.authenticate({ method: 'REGISTER', credentials: phone.credentials(), realm, tenant: acme, source: phone.source });
}

// The same stories on both stores: the policy must not depend on which one a deployment runs.
describe.each([
  ['memory', undefined],
  ['redis', redis],
])('on the %s store', (_kind, store) => {
  beforeEach(async () => {
    edge = await startEdge({ redis: store });
  });
  afterEach(async () => {
    await edge.close();
  });

  describe('lockout', () => {
    it('locks an extension after 5 failures in 15 minutes and answers 403 without evaluating credentials', async () => {
      const stranger = device('203.0.113.9', '1001', false);
      for (let i = 0; i < 5; i++) {
        expect(await attempt(stranger)).toEqual({ ok: false, reason: 'bad-password' });
        edge.clock.advance(2 * MIN);
      }
      // Even the right password from a new device is refused while locked: nothing is evaluated.
      const newPhone = device('192.0.2.50', '1001', true);
      const outcome = await attempt(newPhone);
      expect(outcome).toMatchObject({ ok: false, reason: 'locked' });
      expect(DIGEST_FAILURES.locked.status).toBe(403);
      const lock = edge.logs.find((l) => l.event === 'auth.lockout.start');
      expect(lock).toMatchObject({ level: 40, tenant: 'acme', ext: '1001', ip: '203.0.113.9', scope: 'extension' });
      expect((await edge.metrics.lockouts.get()).values[0]?.value).toBe(1);
      expect(await failures(edge.metrics, 'locked')).toBe(1);
    });

    it('does not lock for 5 failures spread over more than 15 minutes', async () => {
      const stranger = device('203.0.113.9', '1001', false);
      for (let i = 0; i < 5; i++) {
        await attempt(stranger);
        edge.clock.advance(4 * MIN);
      }
      expect((await attempt(device('192.0.2.50', '1001', true))).ok).toBe(true);
    });

    it('lifts the lock after 15 minutes', async () => {
      const stranger = device('203.0.113.9', '1001', false);
      for (let i = 0; i < 5; i++) await attempt(stranger);
      const newPhone = device('192.0.2.50', '1001', true);
      edge.clock.advance(15 * MIN - 1);
      expect(await attempt(newPhone)).toEqual({ ok: false, reason: 'locked', lockedUntil: edge.clock.now() + 1 });
      edge.clock.advance(1);
      expect((await attempt(newPhone)).ok).toBe(true);
    });

    it('lets the operator unlock an extension before the time is up', async () => {
      const stranger = device('203.0.113.9', '1001', false);
      for (let i = 0; i < 5; i++) await attempt(stranger);
      await edge.auth.lockouts.unlock('acme', '1001');
      expect((await attempt(device('192.0.2.50', '1001', true))).ok).toBe(true);
    });
  });

  describe('lockout is not a weapon', () => {
    it('keeps the proven phone registered while a stranger hammers the extension', async () => {
      const alice = device('127.0.0.1', '1001', true);
      expect((await attempt(alice)).ok).toBe(true);

      const mallory = device('127.0.0.2', '1001', false);
      for (let i = 0; i < 20; i++) await attempt(mallory);
      expect(await attempt(mallory)).toMatchObject({ ok: false, reason: 'locked' });

      // Alice refreshes her registration throughout the attack.
      for (let i = 0; i < 3; i++) {
        expect((await attempt(alice)).ok).toBe(true);
        edge.clock.advance(MIN);
      }
      // Another untrusted device, even with the right password, is held off by the extension-wide lock.
      expect(await attempt(device('127.0.0.3', '1001', true))).toMatchObject({ ok: false, reason: 'locked' });
      // 1002 is untouched.
      expect((await attempt(device('127.0.0.3', '1002', true))).ok).toBe(true);
    });

    it('locks a trusted phone that keeps failing, for itself only', async () => {
      const alice = device('127.0.0.1', '1001', true);
      expect((await attempt(alice)).ok).toBe(true);
      alice.password = 'typo';
      for (let i = 0; i < 5; i++) expect(await attempt(alice)).toEqual({ ok: false, reason: 'bad-password' });
      alice.password = password('1001');
      expect(await attempt(alice)).toMatchObject({ ok: false, reason: 'locked' });
      expect(edge.logs.find((l) => l.event === 'auth.lockout.start')).toMatchObject({ ext: '1001', ip: '127.0.0.1', scope: 'source' });
      // The extension itself is not locked: Bob's desk phone at another address registers.
      expect((await attempt(device('127.0.0.4', '1001', true))).ok).toBe(true);
      expect(await edge.stores.lockouts.lockedUntil(extensionKey('acme', '1001'), edge.clock.now())).toBe(0);
      expect(await edge.stores.lockouts.lockedUntil(sourceKey('acme', '1001', sourceBinding(alice.source)), edge.clock.now())).toBeGreaterThan(0);
    });

    it("resets a trusted phone's own count when it succeeds, but not the strangers' count", async () => {
      const alice = device('127.0.0.1', '1001', true);
      expect((await attempt(alice)).ok).toBe(true);
      const mallory = device('127.0.0.2', '1001', false);
      for (let i = 0; i < 4; i++) {
        alice.password = 'typo';
        await attempt(alice);
        alice.password = password('1001');
        await attempt(mallory);
      }
      expect((await attempt(alice)).ok).toBe(true);
      alice.password = 'typo';
      for (let i = 0; i < 4; i++) await attempt(alice);
      alice.password = password('1001');
      expect((await attempt(alice)).ok).toBe(true); // 4 + 4 failures around a success: never 5 in a row
      // Alice's success did not give Mallory a fresh set of guesses: her 5th failure locks 1001.
      await attempt(mallory);
      expect(await attempt(mallory)).toMatchObject({ ok: false, reason: 'locked' });
    });

    it('does not trust a source that only replayed a captured request', async () => {
      const alice = device('127.0.0.1', '1001', true);
      expect((await attempt(alice)).ok).toBe(true);
      const captured = alice.replay();
      // The nonce was issued to Alice's source, so elsewhere it is no nonce of ours: a fresh challenge.
      expect(await edge.auth.authenticate({ method: 'REGISTER', credentials: captured, realm, tenant: acme, source: { ...alice.source, address: '127.0.0.2' } })).toEqual({ ok: false, reason: 'stale-nonce' });
      expect(await edge.stores.lockouts.isTrusted(extensionKey('acme', '1001'), sourceBinding({ ...alice.source, address: '127.0.0.2' }), edge.clock.now())).toBe(false);
    });

    it('forgets trust after trustSeconds', async () => {
      const alice = device('127.0.0.1', '1001', true);
      expect((await attempt(alice)).ok).toBe(true);
      edge.clock.advance(edge.config.lockout.trustSeconds * 1000);
      const mallory = device('127.0.0.2', '1001', false);
      for (let i = 0; i < 5; i++) await attempt(mallory);
      expect(await attempt(alice)).toMatchObject({ ok: false, reason: 'locked' });
    });
  });

  describe('made-up names', () => {
    it('keeps no lock for names that are no extension, and a new extension starts unlocked', async () => {
      const names = ['-1', '=', '1'.repeat(40), '4040'];
      for (const name of names) {
        const prober = device('198.51.100.80', name, false);
        for (let i = 0; i < 6; i++) expect(await attempt(prober)).toEqual({ ok: false, reason: 'unknown-user' });
        expect(await edge.stores.lockouts.lockedUntil(extensionKey('acme', name), edge.clock.now())).toBe(0);
      }
      expect(edge.logs.filter((l) => l.event === 'auth.lockout.start')).toEqual([]);
      // A lock recorded under a name before the extension existed does not outlive its creation.
      await edge.auth.lockouts.recordFailure('198.51.100.81', 'udp 198.51.100.81 5060', { tenant: 'acme', ext: '4041', trusted: false }, edge.clock.now(), {
        countsTowardLockout: true,
        countsTowardBan: false,
      });
      for (let i = 1; i < edge.config.lockout.maxFailures; i++) {
        await edge.auth.lockouts.recordFailure('198.51.100.81', 'udp 198.51.100.81 5060', { tenant: 'acme', ext: '4041', trusted: false }, edge.clock.now(), {
          countsTowardLockout: true,
          countsTowardBan: false,
        });
      }
      expect(await edge.auth.lockouts.extensionLockedUntil('acme', '4041', edge.clock.now())).toBeGreaterThan(0);
      const { password: created } = await new Provisioning(edge.stores, edge.config, edge.clock).addExtension({ tenant: 'acme', ext: '4041' });
      expect(await edge.auth.lockouts.extensionLockedUntil('acme', '4041', edge.clock.now())).toBe(0);
      const owner = new Phone({ ip: '192.0.2.90', username: '4041', password: created, realm });
      expect((await attempt(owner)).ok).toBe(true);
    });
  });

  describe('bans', () => {
    it('bans a source that failed on 10 distinct extensions and drops it at precheck', async () => {
      expect(await edge.auth.precheck('198.51.100.66', 'Zoiper')).toBe('ok');
      for (let n = 1001; n <= 1009; n++) await attempt(device('198.51.100.66', String(n), false));
      expect(await edge.auth.precheck('198.51.100.66', 'Zoiper')).toBe('ok');
      await attempt(device('198.51.100.66', '9999', false)); // unknown extensions count too
      expect(await edge.auth.precheck('198.51.100.66', 'Zoiper')).toBe('banned');
      expect(await edge.auth.precheck('198.51.100.67', 'Zoiper')).toBe('ok');
      expect(edge.logs.find((l) => l.event === 'auth.ban.start')).toMatchObject({ level: 40, ip: '198.51.100.66' });
      expect((await edge.metrics.bans.get()).values[0]?.value).toBe(1);
      expect(await failures(edge.metrics, 'banned')).toBe(1);
    });

    it('does not ban for many failures on one extension', async () => {
      const stranger = device('198.51.100.66', '1001', false);
      for (let i = 0; i < 30; i++) await attempt(stranger);
      expect(await edge.auth.precheck('198.51.100.66', undefined)).toBe('ok');
    });

    it('lifts a ban after banSeconds, or when the operator unbans', async () => {
      for (let n = 1001; n <= 1010; n++) await attempt(device('198.51.100.66', String(n), false));
      expect(await edge.auth.precheck('198.51.100.66', undefined)).toBe('banned');
      await edge.auth.lockouts.unban('198.51.100.66');
      expect(await edge.auth.precheck('198.51.100.66', undefined)).toBe('ok');
      for (let n = 1011; n <= 1020; n++) await attempt(device('198.51.100.66', String(n), false));
      expect(await edge.auth.precheck('198.51.100.66', undefined)).toBe('banned');
      edge.clock.advance(edge.config.ban.banSeconds * 1000);
      expect(await edge.auth.precheck('198.51.100.66', undefined)).toBe('ok');
    });

    it('counts shared-domain usernames that no tenant owns toward the ban', async () => {
      const input = { method: 'REGISTER', realm: 'sip.example.net', tenant: undefined };
      for (let n = 0; n < 10; n++) {
        const p = new Phone({ ip: '198.51.100.70', username: `${n}-nobody`, password: 'x', realm: input.realm });
        p.hear(edge.auth.challenge(input.realm, false, { source: p.source }));
        await edge.auth.authenticate({ ...input, source: p.source, credentials: p.credentials() });
      }
      expect(await edge.auth.precheck('198.51.100.70', undefined)).toBe('banned');
    });
  });

  describe('scanners', () => {
    it('drops friendly-scanner and sipvicious whatever their case', async () => {
      expect(await edge.auth.precheck('203.0.113.1', 'friendly-scanner')).toBe('scanner');
      expect(await edge.auth.precheck('203.0.113.1', 'SIPVicious 0.3.4')).toBe('scanner');
      expect(await edge.auth.precheck('203.0.113.1', 'vaxsipuseragent/3.1')).toBe('scanner');
      expect(await edge.auth.precheck('203.0.113.1', 'Linphone/5.2')).toBe('ok');
      expect(await edge.auth.precheck('203.0.113.1', undefined)).toBe('ok');
      expect(await failures(edge.metrics, 'scanner')).toBe(3);
    });

    it('matches configured substrings case-insensitively and nothing when the list is empty', () => {
      const isScanner = createScannerMatcher(['Evil', 'pplsip']);
      expect(isScanner('my-EVIL-ua')).toBe(true);
      expect(isScanner('PPLSIP')).toBe(true);
      expect(isScanner('good')).toBe(false);
      expect(createScannerMatcher([])('sipvicious')).toBe(false);
    });
  });
});
