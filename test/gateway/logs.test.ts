// Logs are output too: after a full gateway story (login, 2FA, password change, reset link, VoIP regeneration,
// provisioning token, admin password reset, failures and bad bodies), no secret appears in any pino line.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { startGatewayEdge, PASSWORDS, type GatewayEdge } from './api.ts';

for (const store of ['memory', 'redis'] as const) {
  describe(`gateway logs (${store} store)`, () => {
    let gw: GatewayEdge | undefined;
    afterEach(async () => {
      await gw?.stop();
      gw = undefined;
    });

    it('never logs a password, token, cookie, CSRF token, TOTP secret or code', async () => {
      gw = await startGatewayEdge(store);
      const secrets: string[] = [...Object.values(PASSWORDS)];
      const keep = (...s: Array<string | undefined>): void => {
        for (const x of s) if (x) secrets.push(x);
      };
      const alice = gw.client();
      await alice.login('1001-acme', 'Wrong-guess-1');
      keep('Wrong-guess-1');
      await alice.login('1001-acme', PASSWORDS.alice);
      keep(alice.csrf, alice.cookie?.split('=')[1]);
      const setup = (await alice.post('/api/2fa/setup')).body;
      keep(setup.secret);
      const c1 = await generate({ secret: setup.secret, epoch: Math.floor(gw.clock.now() / 1000) });
      keep(c1);
      await alice.post('/api/2fa/activate', { code: c1 });
      gw.clock.advance(30_000);
      const phone = gw.client();
      await phone.login('alice@example.com', PASSWORDS.alice);
      keep(phone.csrf, phone.cookie?.split('=')[1]);
      const c2 = await generate({ secret: setup.secret, epoch: Math.floor(gw.clock.now() / 1000) });
      keep(c2);
      await phone.post('/api/login/totp', { code: c2 });
      keep(phone.csrf, phone.cookie?.split('=')[1]);
      await phone.post('/api/password', { currentPassword: PASSWORDS.alice, newPassword: 'Changed-pw-4711' });
      keep('Changed-pw-4711', phone.csrf, phone.cookie?.split('=')[1]);
      await phone.post('/api/password', { currentPassword: 'x', newPassword: 'Invalid pw with spaces' , extra: 'Secret-in-extra-field' } as unknown as object);
      keep('Invalid pw with spaces', 'Secret-in-extra-field');
      await gw.client().post('/api/password/forgot', { username: '1001-acme' });
      await gw.edge.app.gateway.idle();
      const outbox = join(gw.edge.config.dataDir, 'outbox');
      const mail = existsSync(outbox) ? readdirSync(outbox).map((f) => readFileSync(join(outbox, f), 'utf8')).join('') : '';
      const token = /Reset token: ([A-Za-z0-9_-]{43})/.exec(mail)?.[1];
      expect(token).toBeDefined();
      keep(token);
      await gw.client().post('/api/password/reset', { token, newPassword: 'Reset-pw-0815' });
      keep('Reset-pw-0815');
      const again = gw.client();
      await again.login('1001-acme', 'Reset-pw-0815');
      gw.clock.advance(30_000);
      const c3 = await generate({ secret: setup.secret, epoch: Math.floor(gw.clock.now() / 1000) });
      keep(c3);
      await again.post('/api/login/totp', { code: c3 });
      const voip = (await again.post('/api/voip/sip-password', { graceSeconds: 60 })).body;
      keep(voip.voipPassword, voip.provisioning?.content);
      const sip = await SipPeer.open({ transport: 'udp', port: gw.edge.udpPort });
      try {
        expect((await new Phone(sip, { ext: '1001', domain: 'acme.example.com', password: voip.voipPassword }).register({ expires: 300 })).status).toBe(200);
      } finally {
        await sip.close();
      }
      const oscar = gw.client();
      await oscar.login('9000-ops', PASSWORDS.oscar);
      const created = (await oscar.post('/api/admin/tenants/acme/extensions', { ext: '1010', loginPassword: 'Admin-set-pw-1', delivery: 'token' })).body;
      keep('Admin-set-pw-1', created.provisioningToken);
      const redeemed = (await gw.client().post('/api/provisioning/redeem', { token: created.provisioningToken })).body;
      keep(redeemed.voipPassword);
      const generated = (await oscar.post('/api/admin/tenants/acme/extensions/1002/login-password', {})).body;
      keep(generated.password);
      await gw.client().post('/api/provisioning/redeem', { token: created.provisioningToken });

      expect(secrets.filter((x) => x.length >= 6).length).toBeGreaterThanOrEqual(25);
      const logs = gw.edge.logs;
      expect(logs.some((l) => l.includes('"event":"gateway.login.ok"'))).toBe(true);
      expect(logs.some((l) => l.includes('"event":"gateway.login.failed"'))).toBe(true);
      for (const s of secrets.filter((x) => x.length >= 6)) {
        const hit = logs.find((l) => l.includes(s));
        expect(hit, `secret ${s.slice(0, 3)}… appears in a log line`).toBeUndefined();
      }
    });
  });
}
