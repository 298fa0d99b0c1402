// Admin API stories: what an operator, a tenant admin and a user may and may not do (every forbidden case),
// tenants and extensions CRUD, email, role, SIP unlock, login-password reset and 2FA reset.
import { afterEach, describe, expect, it } from 'vitest';
import { startGatewayEdge, PASSWORDS, type Client, type GatewayEdge } from './api.ts';

const ADMIN_ROUTES: Array<[string, string, unknown?]> = [
  ['GET', '/api/admin/tenants'],
  ['POST', '/api/admin/tenants', { code: 'newco', domain: 'newco.example.com' }],
  ['GET', '/api/admin/tenants/acme'],
  ['DELETE', '/api/admin/tenants/acme'],
  ['GET', '/api/admin/tenants/acme/extensions'],
  ['POST', '/api/admin/tenants/acme/extensions', { ext: '1009' }],
  ['GET', '/api/admin/tenants/acme/extensions/1002'],
  ['PATCH', '/api/admin/tenants/acme/extensions/1002', { email: 'bob@example.com' }],
  ['DELETE', '/api/admin/tenants/acme/extensions/1002'],
  ['POST', '/api/admin/tenants/acme/extensions/1002/unlock'],
  ['POST', '/api/admin/tenants/acme/extensions/1002/login-password', {}],
  ['POST', '/api/admin/tenants/acme/extensions/1002/reset-2fa'],
  ['POST', '/api/admin/tenants/acme/extensions/1002/sip-password', {}],
];

for (const store of ['memory', 'redis'] as const) {
  describe(`gateway admin API (${store} store)`, () => {
    let gw: GatewayEdge | undefined;
    afterEach(async () => {
      await gw?.stop();
      gw = undefined;
    });

    async function as(username: string, password: string): Promise<Client> {
      const c = gw!.client();
      expect((await c.login(username, password)).status).toBe(200);
      return c;
    }

    it('refuses every admin route to a plain user (403) and to a caller without a session (401)', async () => {
      gw = await startGatewayEdge(store);
      const alice = await as('1001-acme', PASSWORDS.alice);
      const anonymous = gw.client();
      for (const [method, path, body] of ADMIN_ROUTES) {
        const r = await alice.call(method, path, body);
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(r.body.error).toBe('SIPEDGE_ERR_API_FORBIDDEN');
        expect((await anonymous.call(method, path, body)).status, `${method} ${path}`).toBe(401);
      }
      expect(await gw.edge.app.stores.accounts.getExtension('acme', '1002')).toBeDefined();
    });

    it('refuses a tenant admin everything outside their tenant, and operator-only routes inside it', async () => {
      gw = await startGatewayEdge(store);
      const carol = await as('2001-globex', PASSWORDS.carol);
      for (const [method, path, body] of ADMIN_ROUTES.filter(([, p]) => p !== '/api/admin/tenants')) {
        expect((await carol.call(method, path, body)).status, `${method} ${path}`).toBe(403);
      }
      expect((await carol.call('POST', '/api/admin/tenants', { code: 'newco', domain: 'newco.example.com' })).status).toBe(403);
      expect((await carol.call('DELETE', '/api/admin/tenants/globex')).status).toBe(403);
      const grant = await carol.call('POST', '/api/admin/tenants/globex/extensions', { ext: '2002', role: 'operator' });
      expect(grant.status).toBe(403);
      expect(grant.body.message).toContain('operator');
      expect((await carol.call('PATCH', '/api/admin/tenants/globex/extensions/2001', { role: 'operator' })).status).toBe(403);
      // Inside globex: allowed.
      expect((await carol.get('/api/admin/tenants')).body.tenants.map((t: { code: string }) => t.code)).toEqual(['globex']);
      expect((await carol.call('POST', '/api/admin/tenants/globex/extensions', { ext: '2002', role: 'tenant-admin' })).status).toBe(201);
    });

    it('refuses a tenant admin every change to an operator\'s extension in their tenant (no takeover)', async () => {
      gw = await startGatewayEdge(store);
      const oscar = await as('9000-ops', PASSWORDS.oscar);
      expect((await oscar.call('PATCH', '/api/admin/tenants/acme/extensions/1001', { role: 'operator' })).status).toBe(200);
      expect((await oscar.call('PATCH', '/api/admin/tenants/acme/extensions/1002', { role: 'tenant-admin' })).status).toBe(200);
      const bob = await as('1002-acme', PASSWORDS.bob);
      const target = '/api/admin/tenants/acme/extensions/1001';
      const attempts: Array<[string, string, unknown?]> = [
        ['PATCH', target, { email: 'bob@evil.example.com' }],
        ['DELETE', target],
        ['POST', `${target}/login-password`, { password: 'Taken-over-123' }],
        ['POST', `${target}/reset-2fa`],
        ['POST', `${target}/sip-password`, {}],
      ];
      for (const [method, path, body] of attempts) {
        const r = await bob.call(method, path, body);
        expect(r.status, `${method} ${path}`).toBe(403);
      }
      expect((await bob.get(target)).body).toMatchObject({ role: 'operator', email: 'alice@example.com' });
      expect((await gw.client().login('1001-acme', PASSWORDS.alice)).status).toBe(200);
    });

    it('lets an operator run the whole lifecycle: tenant, extension with email and login, changes, removal', async () => {
      gw = await startGatewayEdge(store);
      const oscar = await as('9000-ops', PASSWORDS.oscar);
      expect((await oscar.post('/api/admin/tenants', { code: 'newco', domain: 'NewCo.example.com' })).status).toBe(201);
      expect((await oscar.post('/api/admin/tenants', { code: 'newco', domain: 'other.example.com' })).status).toBe(409);
      expect((await oscar.get('/api/admin/tenants')).body.tenants.map((t: { code: string }) => t.code)).toEqual(['acme', 'globex', 'newco', 'ops']);
      const created = await oscar.post('/api/admin/tenants/newco/extensions', { ext: '100', email: 'dora@newco.example.com', loginPassword: 'Dora-pass-1234', role: 'tenant-admin' });
      expect(created.status).toBe(201);
      expect(created.body.extension).toMatchObject({ extension: '100', tenant: 'newco', email: 'dora@newco.example.com', role: 'tenant-admin', hasLoginPassword: true, twoFactorEnabled: false });
      expect(created.body.voipPassword).toMatch(/^[A-Za-z0-9]{24}$/);
      expect((await oscar.post('/api/admin/tenants/newco/extensions', { ext: '100' })).status).toBe(409);
      const dora = await as('dora@newco.example.com', 'Dora-pass-1234');
      expect((await dora.get('/api/admin/tenants/newco/extensions')).body.extensions.map((e: { extension: string }) => e.extension)).toEqual(['100']);

      const patched = await oscar.call('PATCH', '/api/admin/tenants/newco/extensions/100', { email: null, role: 'user' });
      expect(patched.status).toBe(200);
      expect(patched.body.email).toBeUndefined();
      expect(patched.body.role).toBe('user');
      expect((await dora.get('/api/admin/tenants/newco/extensions')).status).toBe(403);

      expect((await oscar.call('DELETE', '/api/admin/tenants/newco')).status).toBe(409);
      expect((await oscar.call('DELETE', '/api/admin/tenants/newco/extensions/100')).status).toBe(204);
      expect((await dora.get('/api/me')).status).toBe(401);
      expect((await oscar.call('DELETE', '/api/admin/tenants/newco/extensions/100')).status).toBe(404);
      expect((await oscar.call('DELETE', '/api/admin/tenants/newco')).status).toBe(204);
      expect((await oscar.get('/api/admin/tenants/newco')).status).toBe(404);
    });

    it('resets a login password (ending its sessions), 2FA, and a SIP lockout for the tenant admin\'s users', async () => {
      gw = await startGatewayEdge(store);
      const oscar = await as('9000-ops', PASSWORDS.oscar);
      await oscar.call('PATCH', '/api/admin/tenants/acme/extensions/1002', { role: 'tenant-admin' });
      const bobAdmin = await as('1002-acme', PASSWORDS.bob);
      const alice = await as('1001-acme', PASSWORDS.alice);

      const generated = await bobAdmin.post('/api/admin/tenants/acme/extensions/1001/login-password', {});
      expect(generated.status).toBe(200);
      expect(generated.body.password).toMatch(/^.{16}$/);
      expect((await alice.get('/api/me')).status).toBe(401);
      const weak = await bobAdmin.post('/api/admin/tenants/acme/extensions/1001/login-password', { password: 'short' });
      expect(weak.status).toBe(400);
      expect(weak.body.violations[0].rule).toBe('min-length');
      expect((await bobAdmin.post('/api/admin/tenants/acme/extensions/1001/login-password', { password: 'Given-pass-123' })).status).toBe(204);
      const alice2 = await as('1001-acme', 'Given-pass-123');

      await alice2.post('/api/2fa/setup');
      const rec = await gw.edge.app.stores.logins.get('acme', '1001');
      await gw.edge.app.stores.logins.put({ ...rec!, totpActive: true });
      expect((await gw.client().login('1001-acme', 'Given-pass-123')).body.twoFactorRequired).toBe(true);
      expect((await bobAdmin.post('/api/admin/tenants/acme/extensions/1001/reset-2fa')).status).toBe(204);
      expect((await gw.client().login('1001-acme', 'Given-pass-123')).body.twoFactorRequired).toBe(false);

      const lockouts = gw.edge.app.stores.lockouts;
      await lockouts.recordFailure('ext:acme:1001', gw.clock.now(), { maxFailures: 1, windowMs: 60_000, lockMs: 900_000 });
      const before = await bobAdmin.get('/api/admin/tenants/acme/extensions/1001');
      expect(before.body.lockedUntil).toBeDefined();
      expect((await bobAdmin.post('/api/admin/tenants/acme/extensions/1001/unlock')).status).toBe(204);
      expect((await bobAdmin.get('/api/admin/tenants/acme/extensions/1001')).body.lockedUntil).toBeUndefined();
      expect((await bobAdmin.post('/api/admin/tenants/acme/extensions/4711/unlock')).status).toBe(404);
    });
  });
}
