// Login stories over real HTTP against both stores: cookie attributes, one generic failure, sliding sessions,
// server-side logout, CSRF on state changes, rate limits per identifier and per IP (fake clock, no sleeps).
import { afterEach, describe, expect, it } from 'vitest';
import { startGatewayEdge, PASSWORDS, type GatewayEdge } from './api.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

for (const store of ['memory', 'redis'] as const) {
  describe(`gateway login (${store} store)`, () => {
    let gw: GatewayEdge | undefined;
    afterEach(async () => {
      await gw?.stop();
      gw = undefined;
    });

    it('logs alice in with extension-tenant or with her email, in an HttpOnly SameSite=Lax cookie without Secure over plain HTTP', async () => {
      gw = await startGatewayEdge(store);
      const alice = gw.client();
      const r = await alice.login('1001-acme', PASSWORDS.alice);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ twoFactorRequired: false, csrfToken: expect.any(String) });
      expect(alice.lastSetCookie).toMatch(/^sipedge_session=[A-Za-z0-9_-]{43}; Max-Age=14400; Path=\/; HttpOnly; SameSite=Lax$/);
      const me = await alice.get('/api/me');
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ extension: '1001', tenant: 'acme', email: 'alice@example.com', role: 'user', twoFactorEnabled: false, csrfToken: r.body.csrfToken });

      const byEmail = gw.client();
      expect((await byEmail.login('ALICE@example.com', PASSWORDS.alice)).status).toBe(200);
      expect((await byEmail.get('/api/me')).body.extension).toBe('1001');
    });

    it('answers the same 401 for an unknown user, a wrong password and an extension without a login password', async () => {
      gw = await startGatewayEdge(store);
      await gw.edge.app.gateway.provisioning.addExtension({ tenant: 'acme', ext: '1003' });
      const c = gw.client();
      const unknown = await c.login('4711-acme', 'whatever-pw');
      const wrong = await c.login('1001-acme', 'not-her-password');
      const noLogin = await c.login('1003-acme', 'whatever-pw');
      const noTenant = await c.login('nobody', 'whatever-pw');
      for (const r of [unknown, wrong, noLogin, noTenant]) {
        expect(r.status).toBe(401);
        expect(r.body).toEqual({ error: 'SIPEDGE_ERR_API_LOGIN_FAILED', message: 'wrong username or password' });
        expect(r.headers['set-cookie']).toBeUndefined();
      }
    });

    it('re-hashes a login password made with another argon2 cost at the next successful login', async () => {
      gw = await startGatewayEdge(store);
      const { LoginHasher } = await import('../../src/auth/login-password.ts');
      const stores = gw.edge.app.stores;
      const old = await new LoginHasher({ memoryCost: 128, timeCost: 2, parallelism: 1 }).hash(PASSWORDS.alice);
      await stores.logins.put({ ...(await stores.logins.get('acme', '1001'))!, passwordHash: old });
      expect((await gw.client().login('1001-acme', PASSWORDS.alice)).status).toBe(200);
      expect((await stores.logins.get('acme', '1001'))?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=64,t=1,p=1\$/);
      expect((await gw.client().login('1001-acme', PASSWORDS.alice)).status).toBe(200);
    });

    it('marks the cookie Secure when the request came over TLS (X-Forwarded-Proto from a trusted proxy)', async () => {
      gw = await startGatewayEdge(store, { gateway: { trustProxy: ['127.0.0.1'] } });
      const c = gw.client();
      const r = await c.call('POST', '/api/login', { username: '1001-acme', password: PASSWORDS.alice }, { headers: { 'x-forwarded-proto': 'https' } });
      expect(r.status).toBe(200);
      expect(c.lastSetCookie).toContain('; Secure');
      expect(c.lastSetCookie).toContain('HttpOnly');
    });

    it('slides the 4 h session on every request and ends it after 4 h without one', async () => {
      gw = await startGatewayEdge(store);
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      gw.clock.advance(4 * HOUR - MIN);
      expect((await alice.get('/api/me')).status).toBe(200);
      gw.clock.advance(4 * HOUR - MIN);
      const me = await alice.get('/api/me');
      expect(me.status).toBe(200);
      expect(Date.parse(me.body.sessionExpiresAt)).toBe(gw.clock.now() + 4 * HOUR);
      gw.clock.advance(4 * HOUR);
      const late = await alice.get('/api/me');
      expect(late.status).toBe(401);
      expect(late.body.error).toBe('SIPEDGE_ERR_API_UNAUTHENTICATED');
    });

    it('ends the session server-side on logout: the old cookie no longer works', async () => {
      gw = await startGatewayEdge(store);
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      const cookie = alice.cookie;
      expect((await alice.post('/api/logout')).status).toBe(204);
      expect(alice.cookie).toBeUndefined();
      alice.cookie = cookie; // a copy of the cookie kept by an attacker
      expect((await alice.get('/api/me')).status).toBe(401);
    });

    it('refuses cookie-authenticated state changes without the session\'s CSRF token', async () => {
      gw = await startGatewayEdge(store);
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      const body = { currentPassword: PASSWORDS.alice, newPassword: 'a-brand-new-pw' };
      const none = await alice.post('/api/password', body, { csrf: false });
      expect(none.status).toBe(403);
      expect(none.body.error).toBe('SIPEDGE_ERR_API_CSRF');
      const other = gw.client();
      await other.login('1002-acme', PASSWORDS.bob);
      const foreign = await alice.call('POST', '/api/password', body, { csrf: false, headers: { 'x-csrf-token': other.csrf! } });
      expect(foreign.status).toBe(403);
      expect((await alice.post('/api/voip/sip-password', {}, { csrf: false })).status).toBe(403);
      expect((await alice.post('/api/logout', undefined, { csrf: false })).status).toBe(403);
      // Nothing changed: the old password still logs in.
      expect((await gw.client().login('1001-acme', PASSWORDS.alice)).status).toBe(200);
      expect((await alice.post('/api/password', body)).status).toBe(200);
    });

    it('blocks an identifier for 15 minutes after 5 failures (429, Retry-After), even with the right password', async () => {
      gw = await startGatewayEdge(store);
      const c = gw.client();
      for (let i = 0; i < 5; i++) expect((await c.login('1001-acme', `wrong-${i}`)).status).toBe(401);
      const blocked = await c.login('1001-acme', PASSWORDS.alice);
      expect(blocked.status).toBe(429);
      expect(blocked.headers['retry-after']).toBe('900');
      expect(blocked.body.error).toBe('SIPEDGE_ERR_API_RATE_LIMITED');
      // The same account by its email is the same identifier.
      expect((await c.login('alice@example.com', PASSWORDS.alice)).status).toBe(429);
      expect(await gw.edge.metric('sipedge_gateway_logins_total', { outcome: 'bad_credentials' })).toBe(5);
      expect(await gw.edge.metric('sipedge_gateway_logins_total', { outcome: 'rate_limited' })).toBe(2);
      expect(await gw.edge.metric('sipedge_gateway_responses_total', { status_class: '4xx' })).toBe(7);
      // Another account is not affected.
      expect((await c.login('1002-acme', PASSWORDS.bob)).status).toBe(200);
      gw.clock.advance(10 * MIN);
      expect((await c.login('1001-acme', PASSWORDS.alice)).headers['retry-after']).toBe('300');
      gw.clock.advance(5 * MIN);
      expect((await c.login('1001-acme', PASSWORDS.alice)).status).toBe(200);
    });

    it('blocks a client IP that fails across many identifiers, and only that IP', async () => {
      gw = await startGatewayEdge(store, { gateway: { loginLimit: { ipMaxFailures: 3 } } });
      const attacker = gw.client('127.0.0.2');
      for (const u of ['1-acme', '2-acme', '3-acme']) expect((await attacker.login(u, 'guess-guess')).status).toBe(401);
      const r = await attacker.login('1001-acme', PASSWORDS.alice);
      expect(r.status).toBe(429);
      expect((await attacker.post('/api/password/forgot', { username: '1001-acme' })).status).toBe(429);
      expect((await gw.client('127.0.0.1').login('1001-acme', PASSWORDS.alice)).status).toBe(200);
    });

    it('believes X-Forwarded-For only from the listed proxies: a client rotating it is still blocked by its own address', async () => {
      gw = await startGatewayEdge(store, { gateway: { trustProxy: ['127.0.0.1/32'], loginLimit: { ipMaxFailures: 3 } } });
      const attacker = gw.client('127.0.0.2');
      for (let i = 0; i < 3; i++) {
        const r = await attacker.call('POST', '/api/login', { username: `${i}-acme`, password: 'guess-guess' }, { headers: { 'x-forwarded-for': `198.51.100.${i}` } });
        expect(r.status).toBe(401);
      }
      expect((await attacker.call('POST', '/api/login', { username: '1001-acme', password: PASSWORDS.alice }, { headers: { 'x-forwarded-for': '198.51.100.99' } })).status).toBe(429);
      // Through the listed proxy the forwarded address is the client: one client behind it is blocked, another is not.
      const proxy = gw.client('127.0.0.1');
      for (let i = 0; i < 3; i++) {
        await proxy.call('POST', '/api/login', { username: `${i}-acme`, password: 'guess-guess' }, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      }
      expect((await proxy.call('POST', '/api/login', { username: '1001-acme', password: PASSWORDS.alice }, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(429);
      expect((await proxy.call('POST', '/api/login', { username: '1001-acme', password: PASSWORDS.alice }, { headers: { 'x-forwarded-for': '203.0.113.8' } })).status).toBe(200);
    });

    it('changes the password: this session continues, the other sessions end, the old password stops working', async () => {
      gw = await startGatewayEdge(store);
      const laptop = gw.client();
      const phone = gw.client();
      await laptop.login('1001-acme', PASSWORDS.alice);
      await phone.login('1001-acme', PASSWORDS.alice);
      const wrong = await laptop.post('/api/password', { currentPassword: 'not-it-at-all', newPassword: 'a-brand-new-pw' });
      expect(wrong.status).toBe(403);
      const r = await laptop.post('/api/password', { currentPassword: PASSWORDS.alice, newPassword: 'a-brand-new-pw' });
      expect(r.status).toBe(200);
      expect((await laptop.get('/api/me')).status).toBe(200);
      expect((await phone.get('/api/me')).status).toBe(401);
      expect((await gw.client().login('1001-acme', PASSWORDS.alice)).status).toBe(401);
      expect((await gw.client().login('1001-acme', 'a-brand-new-pw')).status).toBe(200);
    });

    it('lists every rule a new password breaks under the tenant\'s policy preset', async () => {
      gw = await startGatewayEdge(store, { gateway: { passwordPolicyTenants: { acme: 'strict' } } });
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      const r = await alice.post('/api/password', { currentPassword: PASSWORDS.alice, newPassword: 'hällo wörld' });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('SIPEDGE_ERR_API_PASSWORD_POLICY');
      expect(r.body.field).toBe('newPassword');
      expect(r.body.violations.map((v: { rule: string }) => v.rule)).toEqual(['uppercase', 'digit', 'special', 'no-spaces', 'ascii-only']);
      expect((await alice.post('/api/password', { currentPassword: PASSWORDS.alice, newPassword: 'Str0ng+Enough' })).status).toBe(200);
      // globex keeps the default basic preset: 8 characters are enough there.
      const carol = gw.client();
      await carol.login('2001-globex', PASSWORDS.carol);
      const short = await carol.post('/api/password', { currentPassword: PASSWORDS.carol, newPassword: 'short' });
      expect(short.body.violations).toEqual([{ rule: 'min-length', message: 'must be at least 8 characters long' }]);
      expect((await carol.post('/api/password', { currentPassword: PASSWORDS.carol, newPassword: 'eightchr' })).status).toBe(200);
    });
  });
}

describe('gateway login across two edge nodes (redis)', () => {
  it('shares sessions and the failure count between nodes', async () => {
    const keyPrefix = `gw-shared-${process.pid}-${Date.now()}:`;
    const a = await startGatewayEdge('redis', { redis: { keyPrefix } });
    const { startEdge } = await import('../helpers/edge.ts');
    const b = await startEdge({ store: 'redis', clock: a.clock, overrides: { redis: { keyPrefix }, gateway: { argon2: { memoryCost: 64, timeCost: 1, parallelism: 1 } } } });
    try {
      const onA = a.client();
      await onA.login('1001-acme', PASSWORDS.alice);
      const { Client } = await import('./api.ts');
      const onB = new Client(b.httpPort);
      onB.cookie = onA.cookie;
      expect((await onB.get('/api/me')).body.extension).toBe('1001');
      onB.csrf = onA.csrf;
      expect((await onB.post('/api/logout')).status).toBe(204);
      expect((await onA.get('/api/me')).status).toBe(401);

      const attacker = a.client();
      for (let i = 0; i < 3; i++) await attacker.login('1002-acme', `x-${i}`);
      const viaB = new Client(b.httpPort);
      for (let i = 0; i < 2; i++) await viaB.login('1002-acme', `y-${i}`);
      expect((await attacker.login('1002-acme', PASSWORDS.bob)).status).toBe(429);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});

describe('gateway with the store down (redis)', () => {
  it('answers 503 SIPEDGE_ERR_API_UNAVAILABLE, not 500, when Redis cannot be reached', async () => {
    const gw = await startGatewayEdge('redis');
    try {
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      await gw.edge.app.stores.close(); // the connection is gone: every store call now rejects
      const me = await alice.get('/api/me');
      expect(me.status).toBe(503);
      expect(me.body.error).toBe('SIPEDGE_ERR_API_UNAVAILABLE');
      const login = await gw.client().login('1002-acme', PASSWORDS.bob);
      expect(login.status).toBe(503);
    } finally {
      await gw.stop();
    }
  });
});
