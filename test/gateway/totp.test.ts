// TOTP 2FA stories with codes computed in the test from the secret the setup returned: activation, two-step login,
// replayed codes, disable, operator reset through the real CLI, and the secret encrypted at rest.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generate } from 'otplib';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/edge.ts';
import { startGatewayEdge, PASSWORDS, type Client, type GatewayEdge } from './api.ts';

const run = promisify(execFile);
const code = (secret: string, ms: number): Promise<string> => generate({ secret, epoch: Math.floor(ms / 1000) });

for (const store of ['memory', 'redis'] as const) {
  describe(`gateway 2FA (${store} store)`, () => {
    let gw: GatewayEdge | undefined;
    afterEach(async () => {
      await gw?.stop();
      gw = undefined;
    });

    async function enable(alice: Client): Promise<string> {
      await alice.login('1001-acme', PASSWORDS.alice);
      const setup = await alice.post('/api/2fa/setup');
      expect(setup.status).toBe(200);
      const { secret, otpauthUri, qrSvg, qrPngDataUrl } = setup.body;
      expect(otpauthUri).toMatch(new RegExp(`^otpauth://totp/sipedge:1001-acme\\?secret=${secret}&`));
      expect(qrSvg).toMatch(/^<svg/);
      expect(qrPngDataUrl).toMatch(/^data:image\/png;base64,/);
      const wrong = await alice.post('/api/2fa/activate', { code: '000000' === (await code(secret, gw!.clock.now())) ? '111111' : '000000' });
      expect(wrong.status).toBe(400);
      expect(wrong.body.error).toBe('SIPEDGE_ERR_API_TOTP_INVALID');
      expect((await alice.post('/api/2fa/activate', { code: await code(secret, gw!.clock.now()) })).status).toBe(204);
      expect((await alice.get('/api/me')).body.twoFactorEnabled).toBe(true);
      return secret;
    }

    it('sets up 2FA, then logs in in two steps; the half-logged-in state opens nothing else', async () => {
      gw = await startGatewayEdge(store);
      const secret = await enable(gw.client());
      gw.clock.advance(30_000);

      const phone = gw.client();
      const step1 = await phone.login('1001-acme', PASSWORDS.alice);
      expect(step1.status).toBe(200);
      expect(step1.body).toEqual({ twoFactorRequired: true, csrfToken: expect.any(String) });
      expect(phone.lastSetCookie).toContain('Max-Age=300');
      expect((await phone.get('/api/me')).status).toBe(401);
      expect((await phone.get('/api/voip')).status).toBe(401);
      const bad = await phone.post('/api/login/totp', { code: '12345' });
      expect(bad.status).toBe(400);
      expect(bad.body.field).toBe('code');
      const ok = await phone.post('/api/login/totp', { code: await code(secret, gw.clock.now()) });
      expect(ok.status).toBe(200);
      expect((await phone.get('/api/me')).body).toMatchObject({ extension: '1001', twoFactorEnabled: true });
    });

    it('refuses a code that was already used, even from another browser, and accepts the next one', async () => {
      gw = await startGatewayEdge(store);
      const secret = await enable(gw.client());
      gw.clock.advance(60_000);
      const used = await code(secret, gw.clock.now());
      const first = gw.client();
      await first.login('1001-acme', PASSWORDS.alice);
      expect((await first.post('/api/login/totp', { code: used })).status).toBe(200);
      const thief = gw.client();
      await thief.login('1001-acme', PASSWORDS.alice);
      const replay = await thief.post('/api/login/totp', { code: used });
      expect(replay.status).toBe(401);
      expect(replay.body.error).toBe('SIPEDGE_ERR_API_TOTP_INVALID');
      gw.clock.advance(30_000);
      expect((await thief.post('/api/login/totp', { code: await code(secret, gw.clock.now()) })).status).toBe(200);
    });

    it('accepts the previous step\'s code (clock drift) but not an older one, and expires the half-login after 5 minutes', async () => {
      gw = await startGatewayEdge(store);
      const secret = await enable(gw.client());
      gw.clock.advance(120_000);
      const c = gw.client();
      await c.login('1001-acme', PASSWORDS.alice);
      expect((await c.post('/api/login/totp', { code: await code(secret, gw.clock.now() - 60_000) })).status).toBe(401);
      expect((await c.post('/api/login/totp', { code: await code(secret, gw.clock.now() - 30_000) })).status).toBe(200);
      const late = gw.client();
      await late.login('1001-acme', PASSWORDS.alice);
      gw.clock.advance(5 * 60_000);
      expect((await late.post('/api/login/totp', { code: await code(secret, gw.clock.now()) })).status).toBe(401);
    });

    it('counts wrong codes toward the login limit', async () => {
      gw = await startGatewayEdge(store);
      const secret = await enable(gw.client());
      const c = gw.client();
      await c.login('1001-acme', PASSWORDS.alice);
      const right = await code(secret, gw.clock.now() + 30_000);
      for (let i = 0; i < 5; i++) await c.post('/api/login/totp', { code: String(100000 + i) === right ? '999999' : String(100000 + i) });
      gw.clock.advance(30_000);
      const r = await c.post('/api/login/totp', { code: await code(secret, gw.clock.now()) });
      expect(r.status).toBe(429);
    });

    it('disables 2FA only with the password and a fresh code', async () => {
      gw = await startGatewayEdge(store);
      const alice = gw.client();
      const secret = await enable(alice);
      gw.clock.advance(30_000);
      const now = await code(secret, gw.clock.now());
      expect((await alice.post('/api/2fa/disable', { password: 'wrong-password', code: now })).status).toBe(403);
      expect((await alice.post('/api/2fa/disable', { password: PASSWORDS.alice, code: now })).status).toBe(204);
      expect((await alice.get('/api/me')).body.twoFactorEnabled).toBe(false);
      expect((await gw.client().login('1001-acme', PASSWORDS.alice)).body.twoFactorRequired).toBe(false);
    });

    it('lets the operator reset 2FA with `sipedge ext reset-2fa`; the secret is never stored in clear', async () => {
      gw = await startGatewayEdge(store);
      const secret = await enable(gw.client());
      if (store === 'memory') {
        const dir = join(gw.edge.config.dataDir, 'store');
        const journal = readdirSync(dir).filter((f) => f.startsWith('journal-')).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
        expect(journal).toContain('"totpSecret":"v1.');
        expect(journal).not.toContain(secret);
      } else {
        const rec = await gw.edge.app.stores.logins.get('acme', '1001');
        expect(rec?.totpSecret).toMatch(/^v1\./);
        expect(JSON.stringify(rec)).not.toContain(secret);
      }
      const cfg = gw.edge.config;
      const env = {
        ...process.env,
        SIPEDGE_DATA_DIR: cfg.dataDir,
        SIPEDGE_STORE: cfg.store,
        SIPEDGE_REDIS_URL: cfg.redis.url,
        SIPEDGE_REDIS__KEY_PREFIX: cfg.redis.keyPrefix,
      };
      const { stdout } = await run(process.execPath, ['bin/sipedge.js', 'ext', 'reset-2fa', '1001@acme'], { env });
      expect(stdout).toContain('2FA of 1001@acme reset');
      expect(
        await eventually(async () => (await gw!.client().login('1001-acme', PASSWORDS.alice)).body?.twoFactorRequired === false),
      ).toBe(true);
    });
  });
}

describe('gateway 2FA across a restart (memory store)', () => {
  it('keeps 2FA working after a restart with the generated key, and refuses codes when the key was changed', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dataDir = mkdtempSync(join(tmpdir(), 'sipedge-gw-restart-'));
    const first = await startGatewayEdge('memory', { dataDir });
    let secret: string;
    try {
      const alice = first.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      secret = (await alice.post('/api/2fa/setup')).body.secret;
      expect((await alice.post('/api/2fa/activate', { code: await code(secret, first.clock.now()) })).status).toBe(204);
    } finally {
      await first.edge.app.stop();
    }
    const { startEdge } = await import('../helpers/edge.ts');
    const { FakeClock } = await import('../../src/clock.ts');
    const { Client, TEST_ARGON2 } = await import('./api.ts');
    const clock = new FakeClock(first.clock.now() + 60_000);
    const second = await startEdge({ store: 'memory', dataDir, clock, overrides: { gateway: { argon2: TEST_ARGON2 } } });
    try {
      const c = new Client(second.httpPort);
      expect((await c.login('1001-acme', PASSWORDS.alice)).body.twoFactorRequired).toBe(true);
      expect((await c.post('/api/login/totp', { code: await code(secret, clock.now()) })).status).toBe(200);
    } finally {
      await second.app.stop();
    }
    const third = await startEdge({
      store: 'memory',
      dataDir,
      clock,
      overrides: { gateway: { argon2: TEST_ARGON2, encryptionKey: 'A'.repeat(43) } },
    });
    try {
      clock.advance(30_000);
      const c = new Client(third.httpPort);
      await c.login('1001-acme', PASSWORDS.alice);
      expect((await c.post('/api/login/totp', { code: await code(secret, clock.now()) })).status).toBe(401);
      expect(third.logs.some((l) => l.includes('"event":"gateway.totp.unsealable"'))).toBe(true);
    } finally {
      await third.app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
