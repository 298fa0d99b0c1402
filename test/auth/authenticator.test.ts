// Digest authentication stories on the real memory and Redis stores: challenge, register, refusals, replay, rotation with grace.
// Lockout, weaponisation and bans are in lockout.test.ts; time comes from the FakeClock.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIGEST_FAILURES } from '../../src/auth/authenticator.ts';
import { Identities, resolveIdentity } from '../../src/auth/identity.ts';
import { rotateCredentials } from '../../src/auth/credentials.ts';
import { acme, failures, password, sharedDomain, startEdge, type Edge } from './edge.ts';
import { testRedis } from '../helpers/redis.ts';
import { challengeParam, Phone } from './phone.ts';

let edge: Edge;
const redis = testRedis('auth-authenticator');
afterAll(async () => {
  await redis.close();
});

const realm = acme.domain;
const desk = (ext = '1001', ip = '192.0.2.10', algorithm: 'MD5' | 'SHA-256' = 'SHA-256') =>
  new Phone({ ip, username: ext, password: password(ext), realm, algorithm });

/** The phone sends REGISTER with its current credentials. */
function register(phone: Phone, method = 'REGISTER', override: Record<string, string | undefined> = {}) {
  return edge.auth.authenticate({ method, credentials: phone.credentials(method, `sip:${realm}`, override), realm, tenant: acme, source: phone.source });
}

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

  describe('challenge', () => {
    it('offers SHA-256 then MD5 with one shared nonce and qop="auth"', () => {
      const values = edge.auth.challenge(realm, false, { source: desk().source });
      expect(values).toHaveLength(2);
      expect(values.map((v) => challengeParam(v, 'algorithm'))).toEqual(['SHA-256', 'MD5']);
      expect(challengeParam(values[0], 'nonce')).toBe(challengeParam(values[1], 'nonce'));
      expect(values[0]).toMatch(
        /^Digest realm="acme\.example\.com", nonce="[A-Za-z0-9_-]{43}", opaque="algorithm=MD5", algorithm=SHA-256, qop="auth"$/,
      );
      expect(values[1]).toMatch(/^Digest realm="acme\.example\.com", nonce="[A-Za-z0-9_-]{43}", algorithm=MD5, qop="auth"$/);
    });

    it('adds stale=true when asked and mints a new nonce per challenge', () => {
      const [a] = edge.auth.challenge(realm, true, { source: desk().source });
      const [b] = edge.auth.challenge(realm, false, { source: desk().source });
      expect(a).toMatch(/, stale=true$/);
      expect(b).not.toContain('stale');
      expect(challengeParam(a, 'nonce')).not.toBe(challengeParam(b, 'nonce'));
    });

    it('challenges baresip with MD5 only by default (it refuses a set naming SHA-256), other clients with both', () => {
      const algorithmsFor = (userAgent: string | undefined) =>
        edge.auth.challenge(realm, false, { source: desk().source, userAgent }).map((v) => challengeParam(v, 'algorithm'));
      expect(algorithmsFor('baresip v1.0.0 (x86_64/linux)')).toEqual(['MD5']);
      expect(algorithmsFor('Linphone Desktop/4.4')).toEqual(['SHA-256', 'MD5']);
      expect(algorithmsFor(undefined)).toEqual(['SHA-256', 'MD5']);
    });

    it("tries a tenant's challenge rules before the config's", async () => {
      const strict = await startEdge({ auth: { tenantChallengePolicy: { acme: [{ userAgent: 'baresip', algorithms: ['SHA-256'] }] } } });
      try {
        const to = (tenant: string) => ({ source: desk().source, userAgent: 'baresip v1.0.0', tenant });
        expect(strict.auth.challenge(realm, false, to('acme')).map((v) => challengeParam(v, 'algorithm'))).toEqual(['SHA-256']);
        expect(strict.auth.challenge(realm, false, to('other')).map((v) => challengeParam(v, 'algorithm'))).toEqual(['MD5']);
      } finally {
        await strict.close();
      }
    });

    it('offers a device that answered SHA-256 nothing weaker, and challenges its MD5 answer again without counting it', async () => {
      const userAgent = 'Yealink SIP-T46U 108.86.0.45';
      const sha = desk('1001', '192.0.2.10', 'SHA-256');
      const to = { source: sha.source, userAgent, tenant: 'acme', ext: '1001' };
      sha.hear(edge.auth.challenge(realm, false, to));
      expect(await edge.auth.authenticate({ method: 'REGISTER', credentials: sha.credentials(), realm, tenant: acme, source: sha.source, userAgent })).toMatchObject({ ok: true });
      expect(edge.auth.challenge(realm, false, to).map((v) => challengeParam(v, 'algorithm'))).toEqual(['SHA-256']);
      // A forced MD5 answer with the right password (a downgrade) is challenged again, and not counted as a failure.
      const md5 = desk('1001', '192.0.2.10', 'MD5');
      md5.hear(edge.auth.challenge(realm, false, { ...to, userAgent: 'other' }));
      expect(await edge.auth.authenticate({ method: 'REGISTER', credentials: md5.credentials(), realm, tenant: acme, source: md5.source, userAgent })).toEqual({ ok: false, reason: 'no-credentials' });
      expect(await failures(edge.metrics, 'bad-password')).toBe(0);
      // Another device (another User-Agent) of the same extension is offered both still.
      expect(edge.auth.challenge(realm, false, { ...to, userAgent: 'Zoiper 5' }).map((v) => challengeParam(v, 'algorithm'))).toEqual(['SHA-256', 'MD5']);
    });

    it('offers only the configured algorithms', async () => {
      const md5Only = await startEdge({ auth: { algorithms: ['MD5'] } });
      try {
        expect(md5Only.auth.challenge(realm, false, { source: desk().source }).map((v) => challengeParam(v, 'algorithm'))).toEqual(['MD5']);
      } finally {
        await md5Only.close();
      }
    });
  });

  describe('authenticate', () => {
    it('registers a phone that answers the SHA-256 challenge with the right password', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      const outcome = await register(phone);
      expect(outcome).toMatchObject({ ok: true, algorithm: 'SHA-256', viaGrace: false });
      if (outcome.ok) expect(outcome.ext.ext).toBe('1001');
    });

    it('registers an MD5-only phone', async () => {
      const phone = desk('1002', '192.0.2.11', 'MD5');
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }).slice(1));
      expect(await register(phone)).toMatchObject({ ok: true, algorithm: 'MD5' });
    });

    it('prefers the SHA-256 credential when a request carries both', async () => {
      const sha = desk();
      const md5 = desk('1001', '192.0.2.10', 'MD5');
      const challenge = edge.auth.challenge(realm, false, { source: sha.source });
      sha.hear(challenge);
      md5.hear(challenge);
      md5.password = 'wrong';
      const credentials = [...md5.credentials(), ...sha.credentials()];
      expect(await edge.auth.authenticate({ method: 'REGISTER', credentials, realm, tenant: acme, source: sha.source })).toMatchObject({ ok: true, algorithm: 'SHA-256' });
    });

    it('keeps a phone registered across refreshes with the same nonce and a growing nc', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      for (let i = 0; i < 3; i++) {
        expect((await register(phone)).ok).toBe(true);
        edge.clock.advance(60_000);
      }
    });

    it('challenges a request without credentials for this realm, counting nothing', async () => {
      expect(await edge.auth.authenticate({ method: 'REGISTER', credentials: [], realm, tenant: acme, source: desk().source })).toEqual({ ok: false, reason: 'no-credentials' });
      const other = new Phone({ ip: '192.0.2.10', username: '1001', password: password('1001'), realm: 'elsewhere.example.org' });
      other.hear(edge.auth.challenge('elsewhere.example.org', false, { source: other.source }));
      const outcome = await edge.auth.authenticate({ method: 'REGISTER', credentials: other.credentials(), realm, tenant: acme, source: other.source });
      expect(outcome).toEqual({ ok: false, reason: 'no-credentials' });
      expect(DIGEST_FAILURES['no-credentials']).toMatchObject({ status: 401, metric: null });
    });

    it('ignores a credential whose algorithm was not offered', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      expect(await register(phone, 'REGISTER', { algorithm: 'MD5-sess' })).toEqual({ ok: false, reason: 'no-credentials' });
    });

    it('answers 401 to a wrong password and to an unknown extension alike', async () => {
      const phone = desk();
      phone.password = 'guess';
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      const wrong = await register(phone);
      const ghost = new Phone({ ip: '192.0.2.10', username: '9999', password: 'guess', realm });
      ghost.hear(edge.auth.challenge(realm, false, { source: ghost.source }));
      const unknown = await register(ghost);
      expect(wrong).toEqual({ ok: false, reason: 'bad-password' });
      expect(unknown).toEqual({ ok: false, reason: 'unknown-user' });
      expect(DIGEST_FAILURES['bad-password'].status).toBe(DIGEST_FAILURES['unknown-user'].status);
      expect('stale' in DIGEST_FAILURES['unknown-user']).toBe(false);
      expect(await failures(edge.metrics, 'bad-password')).toBe(1);
      expect(await failures(edge.metrics, 'unknown-user')).toBe(1);
    });

    it('answers 400 to credentials missing nc, cnonce or qop, or with a bad nc', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      for (const override of [{ nc: undefined }, { cnonce: undefined }, { qop: undefined }, { qop: 'auth-int' }, { nc: '0000001' }, { nc: '0000000g' }, { response: undefined }, { username: undefined }]) {
        expect(await register(phone, 'REGISTER', override), JSON.stringify(override)).toEqual({ ok: false, reason: 'malformed' });
      }
      expect(DIGEST_FAILURES.malformed.status).toBe(400);
    });

    it('answers stale=true to an expired nonce without counting a failure', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      edge.clock.advance(edge.config.nonceTtlSeconds * 1000 + 1);
      for (let i = 0; i < 6; i++) expect(await register(phone)).toEqual({ ok: false, reason: 'stale-nonce' });
      expect(DIGEST_FAILURES['stale-nonce']).toMatchObject({ status: 401, stale: true, countsTowardLockout: false });
      // Six stale answers did not lock the extension: a fresh challenge works at once.
      phone.hear(edge.auth.challenge(realm, true, { source: phone.source }));
      expect((await register(phone)).ok).toBe(true);
    });

    it('answers a forged nonce like a stale one, without evaluating the response', async () => {
      const phone = desk();
      phone.hear([`Digest realm="${realm}", nonce="${'A'.repeat(43)}", algorithm=SHA-256, qop="auth"`]);
      expect(await register(phone)).toEqual({ ok: false, reason: 'stale-nonce' });
      expect(edge.logs.some((l) => l.event === 'auth.failure' && l.nonce === 'invalid')).toBe(true);
    });

    it('refuses a replayed nc for the same nonce and accepts the next one', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      expect((await register(phone)).ok).toBe(true);
      const replayed = await edge.auth.authenticate({ method: 'REGISTER', credentials: phone.replay(), realm, tenant: acme, source: phone.source });
      expect(replayed).toEqual({ ok: false, reason: 'replay' });
      // Replayed from anywhere else, the nonce is not that source's: a fresh challenge, nothing counted.
      const elsewhere = { ...phone.source, address: '203.0.113.66' };
      expect(await edge.auth.authenticate({ method: 'REGISTER', credentials: phone.replay(), realm, tenant: acme, source: elsewhere })).toEqual({ ok: false, reason: 'stale-nonce' });
      expect(DIGEST_FAILURES.replay).toMatchObject({ status: 401, countsTowardLockout: false, metric: 'replay' });
      expect(await failures(edge.metrics, 'replay')).toBe(1);
      expect((await register(phone)).ok).toBe(true);
    });

    it('does not let a wrong response use up an nc', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      expect(await register(phone, 'REGISTER', { nc: '00000005', response: '0'.repeat(64) })).toEqual({ ok: false, reason: 'bad-password' });
      expect((await register(phone)).ok).toBe(true); // nc 2 < 5 still accepted: the bad one was not recorded
    });

    it('authenticates ext-tenant usernames in the shared domain', async () => {
      const phone = new Phone({ ip: '192.0.2.20', username: '1003-acme', password: password('1003'), realm: sharedDomain });
      phone.hear(edge.auth.challenge(sharedDomain, false, { source: phone.source }));
      const outcome = await edge.auth.authenticate({ method: 'REGISTER', credentials: phone.credentials(), realm: sharedDomain, tenant: acme, source: phone.source });
      expect(outcome).toMatchObject({ ok: true });
      if (outcome.ok) expect(outcome.ext.ext).toBe('1003');
    });

    it('treats a shared-domain username of another tenant, or no tenant, as unknown', async () => {
      const phone = new Phone({ ip: '192.0.2.20', username: '1003-other', password: password('1003'), realm: sharedDomain });
      phone.hear(edge.auth.challenge(sharedDomain, false, { source: phone.source }));
      const input = { method: 'REGISTER', realm: sharedDomain, source: phone.source };
      expect(await edge.auth.authenticate({ ...input, credentials: phone.credentials(), tenant: acme })).toEqual({ ok: false, reason: 'unknown-user' });
      expect(await edge.auth.authenticate({ ...input, credentials: phone.credentials(), tenant: undefined })).toEqual({ ok: false, reason: 'unknown-user' });
    });
  });

  describe('identity', () => {
    it('maps usernames to extensions per realm', () => {
      expect(resolveIdentity('1001', 'acme.example.com', sharedDomain)).toEqual({ ext: '1001' });
      expect(resolveIdentity('1001-acme', sharedDomain, sharedDomain)).toEqual({ ext: '1001', tenantCode: 'acme' });
      expect(resolveIdentity('1001-acme-uk', sharedDomain, sharedDomain)).toEqual({ ext: '1001', tenantCode: 'acme-uk' });
      expect(resolveIdentity('1001', sharedDomain, sharedDomain)).toEqual({ ext: '1001' });
      expect(resolveIdentity('1001-acme', 'acme.example.com', '')).toEqual({ ext: '1001-acme' });
    });

    it('names the tenant and extension of a URI: its tenant domain, the shared domain\'s ext-tenant, nothing elsewhere', async () => {
      const ids = new Identities(edge.stores.accounts, sharedDomain);
      expect(await ids.of('1001', 'acme.example.com')).toMatchObject({ ext: '1001', tenant: { code: 'acme' }, realm: acme.domain, isShared: false });
      expect(await ids.of('1001-acme', sharedDomain)).toMatchObject({ ext: '1001', tenant: { code: 'acme' }, realm: sharedDomain, isShared: true });
      // The shared domain is ours even when the username names no tenant: challenged in its realm, unknown user then.
      expect(await ids.of('1001-other', sharedDomain)).toEqual({ ext: '1001', tenant: undefined, realm: sharedDomain, isShared: true });
      expect(await ids.of('1001', sharedDomain)).toEqual({ ext: '1001', tenant: undefined, realm: sharedDomain, isShared: true });
      expect(await ids.of('1001', 'other.example.com')).toBeUndefined();
      expect(await new Identities(edge.stores.accounts, '').of('1001-acme', sharedDomain)).toBeUndefined();
    });
  });

  describe('rotation', () => {
    async function rotate(ext: string, newPassword: string, graceMs: number): Promise<void> {
      const current = await edge.stores.accounts.getExtension('acme', ext);
      if (current === undefined) throw new Error('seed missing');
      await edge.stores.accounts.putExtensions([rotateCredentials(current, newPassword, graceMs, edge.clock.now(), acme, sharedDomain)]);
    }

    it('accepts the old password during the grace window, then calls it a stale credential', async () => {
      await rotate('1001', 'brand-new-password-xyz', 10 * 60_000);
      const old = desk();
      old.hear(edge.auth.challenge(realm, false, { source: old.source }));
      expect(await register(old)).toMatchObject({ ok: true, viaGrace: true });

      const fresh = new Phone({ ip: '192.0.2.30', username: '1001', password: 'brand-new-password-xyz', realm });
      fresh.hear(edge.auth.challenge(realm, false, { source: fresh.source }));
      expect(await register(fresh)).toMatchObject({ ok: true, viaGrace: false });

      edge.clock.advance(10 * 60_000);
      old.hear(edge.auth.challenge(realm, false, { source: old.source }));
      expect(await register(old)).toEqual({ ok: false, reason: 'stale-credential' });
      expect(edge.logs.some((l) => l.event === 'auth.stale_credential' && l.ext === '1001')).toBe(true);
      expect(await failures(edge.metrics, 'stale-credential')).toBe(1);
    });

    it('without grace, refuses the old password at once as a stale credential that never locks', async () => {
      await rotate('1001', 'brand-new-password-xyz', 0);
      const old = desk('1001', '198.51.100.7');
      old.hear(edge.auth.challenge(realm, false, { source: old.source }));
      for (let i = 0; i < 8; i++) expect(await register(old)).toEqual({ ok: false, reason: 'stale-credential' });
      // Eight stale attempts from an untrusted source did not lock 1001 for others.
      const fresh = new Phone({ ip: '198.51.100.8', username: '1001', password: 'brand-new-password-xyz', realm });
      fresh.hear(edge.auth.challenge(realm, false, { source: fresh.source }));
      expect((await register(fresh)).ok).toBe(true);
    });

    it('refuses a password two rotations old as a bad password', async () => {
      await rotate('1001', 'second-password-abcdef', 60_000);
      await rotate('1001', 'third-password-ghijklm', 60_000);
      const old = desk();
      old.hear(edge.auth.challenge(realm, false, { source: old.source }));
      expect(await register(old)).toEqual({ ok: false, reason: 'bad-password' });
    });
  });

  describe('logs', () => {
    it('never write a password, HA1, nonce or response', async () => {
      const phone = desk();
      phone.hear(edge.auth.challenge(realm, false, { source: phone.source }));
      const creds = phone.credentials();
      await edge.auth.authenticate({ method: 'REGISTER', credentials: creds, realm, tenant: acme, source: phone.source });
      phone.password = 'wrong-one';
      for (let i = 0; i < 6; i++) await register(phone);
      const text = edge.logText();
      const ext = await edge.stores.accounts.getExtension('acme', '1001');
      const secrets = [password('1001'), ext?.cred.md5, ext?.cred.sha256, creds[0].params.get('nonce'), creds[0].params.get('response')];
      for (const s of secrets) expect(text).not.toContain(s);
      expect(edge.logs.length).toBeGreaterThan(0);
    });
  });
});
