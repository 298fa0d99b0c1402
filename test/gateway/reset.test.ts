// Forgot/reset password stories: the same answer for every name, a single-use link valid 1 h in the outbox (or
// through a real SMTP sink), every session ended by the reset, and the limit lifted by it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { startGatewayEdge, PASSWORDS, type GatewayEdge } from './api.ts';

function outbox(gw: GatewayEdge): string[] {
  const dir = join(gw.edge.config.dataDir, 'outbox');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'));
}

/** The mail body as text (nodemailer writes long lines quoted-printable). */
const decodeQp = (mail: string): string => mail.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
const tokenIn = (mail: string): string => /reset-password\?token=([A-Za-z0-9_-]{43})/.exec(decodeQp(mail))![1]!;

for (const store of ['memory', 'redis'] as const) {
  describe(`gateway password reset (${store} store)`, () => {
    let gw: GatewayEdge | undefined;
    afterEach(async () => {
      await gw?.stop();
      gw = undefined;
    });

    it('gives one answer for known and unknown names and mails a link only to an extension with an email', async () => {
      gw = await startGatewayEdge(store);
      const c = gw.client();
      const answers = [];
      for (const username of ['1001-acme', 'alice@example.com', 'nobody-acme', 'nobody@example.com', '1002-acme']) {
        answers.push(await c.post('/api/password/forgot', { username }));
      }
      await gw.edge.app.gateway.idle();
      for (const a of answers) {
        expect(a.status).toBe(202);
        expect(a.body).toEqual(answers[0]!.body);
      }
      const mails = outbox(gw);
      expect(mails).toHaveLength(2); // 1001 by name and by email; 1002 has no email; the others do not exist
      for (const m of mails) {
        expect(m).toContain('To: alice@example.com');
        expect(m).toContain('http://localhost:8080/reset-password?token=');
      }
    });

    it('resets with the link once; the token cannot be used again; every session of the account ends', async () => {
      gw = await startGatewayEdge(store);
      const laptop = gw.client();
      await laptop.login('1001-acme', PASSWORDS.alice);
      await gw.client().post('/api/password/forgot', { username: '1001-acme' });
      await gw.edge.app.gateway.idle();
      const token = tokenIn(outbox(gw)[0]!);
      const c = gw.client();
      const weak = await c.post('/api/password/reset', { token, newPassword: 'short' });
      expect(weak.status).toBe(400);
      expect(weak.body.error).toBe('SIPEDGE_ERR_API_PASSWORD_POLICY');
      expect((await c.post('/api/password/reset', { token, newPassword: 'Reset-pass-99' })).status).toBe(204);
      const again = await c.post('/api/password/reset', { token, newPassword: 'Another-pass-77' });
      expect(again.status).toBe(400);
      expect(again.body).toMatchObject({ error: 'SIPEDGE_ERR_API_TOKEN_INVALID', field: 'token' });
      expect((await laptop.get('/api/me')).status).toBe(401);
      expect((await gw.client().login('1001-acme', PASSWORDS.alice)).status).toBe(401);
      expect((await gw.client().login('1001-acme', 'Reset-pass-99')).status).toBe(200);
    });

    it('refuses a link after its hour, and a link issued before the password changed', async () => {
      gw = await startGatewayEdge(store);
      const c = gw.client();
      await c.post('/api/password/forgot', { username: '1001-acme' });
      await gw.edge.app.gateway.idle();
      const old = tokenIn(outbox(gw)[0]!);
      gw.clock.advance(60 * 60_000);
      expect((await c.post('/api/password/reset', { token: old, newPassword: 'Reset-pass-99' })).status).toBe(400);

      await c.post('/api/password/forgot', { username: '1001-acme' });
      await gw.edge.app.gateway.idle();
      const second = tokenIn(outbox(gw)[1]!);
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      await alice.post('/api/password', { currentPassword: PASSWORDS.alice, newPassword: 'Changed-pw-123' });
      expect((await c.post('/api/password/reset', { token: second, newPassword: 'Reset-pass-99' })).status).toBe(400);
    });

    it('sends at most 5 reset mails per account and hour, answering 202 all the same', async () => {
      gw = await startGatewayEdge(store);
      const c = gw.client();
      for (let i = 0; i < 7; i++) expect((await c.post('/api/password/forgot', { username: '1001-acme' })).status).toBe(202);
      await gw.edge.app.gateway.idle();
      expect(outbox(gw)).toHaveLength(5);
      gw.clock.advance(60 * 60_000);
      await c.post('/api/password/forgot', { username: '1001-acme' });
      await gw.edge.app.gateway.idle();
      expect(outbox(gw)).toHaveLength(6);
    });

    it('lifts the login block of the account on reset', async () => {
      gw = await startGatewayEdge(store);
      const c = gw.client();
      for (let i = 0; i < 5; i++) await c.login('1001-acme', `wrong-${i}`);
      expect((await c.login('1001-acme', PASSWORDS.alice)).status).toBe(429);
      await c.post('/api/password/forgot', { username: 'alice@example.com' });
      await gw.edge.app.gateway.idle();
      expect((await c.post('/api/password/reset', { token: tokenIn(outbox(gw)[0]!), newPassword: 'Reset-pass-99' })).status).toBe(204);
      expect((await c.login('1001-acme', 'Reset-pass-99')).status).toBe(200);
    });
  });
}

describe('gateway password reset over SMTP', () => {
  it('sends the reset mail through a real SMTP server when gateway.mail.smtpUrl is set, and writes no outbox file', async () => {
    const received: { to: string[]; data: string }[] = [];
    const sink = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({ to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks).toString('utf8') });
          cb();
        });
      },
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const port = (sink.server.address() as AddressInfo).port;
    const gw = await startGatewayEdge('memory', {
      gateway: { mail: { smtpUrl: `smtp://127.0.0.1:${port}?ignoreTLS=true`, from: 'PBX <pbx@example.com>' }, publicUrl: 'https://portal.example.com/' },
    });
    try {
      const c = gw.client();
      expect((await c.post('/api/password/forgot', { username: '1001-acme' })).status).toBe(202);
      await gw.edge.app.gateway.idle();
      expect(received).toHaveLength(1);
      expect(received[0]!.to).toEqual(['alice@example.com']);
      expect(received[0]!.data).toContain('From: PBX <pbx@example.com>');
      const token = tokenIn(received[0]!.data);
      expect(decodeQp(received[0]!.data)).toContain('https://portal.example.com/reset-password?token=');
      expect(outbox(gw)).toEqual([]);
      expect((await c.post('/api/password/reset', { token, newPassword: 'Reset-pass-99' })).status).toBe(204);
    } finally {
      await gw.stop();
      await new Promise<void>((r) => sink.close(() => r()));
    }
  });
});
