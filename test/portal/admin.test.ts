// The tenant-admin pages in Debian's Chromium: the extensions list (SIP lock state, registrations, 2FA), unlock, reset
// login password, reset 2FA, a new extension delivered by a one-time link that opens the /provision page, and hold
// music uploaded from the page (progress, the version list, a refusal with its reason).
import { generate } from 'otplib';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ha1 } from '../../src/auth/digest.ts';
import { LockoutGuard } from '../../src/auth/lockout.ts';
import { Client } from '../gateway/api.ts';
import { makeWav, tone } from '../media/audio-fixtures.ts';
import { DOMAIN, LOGIN, portalSuite, readQr, registered, shootAsIs, signIn } from '../helpers/browser.ts';

describe('tenant admin pages (Chromium)', () => {
  const suite = portalSuite();
  const page = async (): Promise<Page> => (await suite.page()).page;

  const row = (p: Page, ext: string) => p.locator(`tr[data-ext="${ext}"]`);
  const cells = async (p: Page, ext: string): Promise<string[]> => (await row(p, ext).locator('td').allTextContents()).map((t) => t.trim());

  it('lists extensions with lock, registrations and 2FA, and unlocks, resets a login password and resets 2FA', async () => {
    const pe = await suite.edge();
    const guard = new LockoutGuard(pe.edge.app.stores.lockouts, pe.edge.config.auth);
    // 1002 locked by five failed digests from a stranger; 1001 registered from its Phone tab and with 2FA on.
    for (let i = 0; i < pe.edge.config.auth.lockout.maxFailures; i++) {
      await guard.recordFailure('192.0.2.66', 'udp 192.0.2.66 5060', { tenant: 'acme', ext: '1002', trusted: false }, Date.now(), { countsTowardLockout: true, countsTowardBan: false });
    }
    const alice = new Client(pe.edge.httpPort);
    await alice.login('1001-acme', LOGIN.alice);
    const setup = await alice.post('/api/2fa/setup');
    expect((await alice.post('/api/2fa/activate', { code: await generate({ secret: setup.body.secret, epoch: Math.floor(pe.clock.now() / 1000) }) })).status).toBe(204);
    const alicePage = await page();
    await alicePage.goto('/sign-in');
    // (alice signs in on her own page below through the TOTP step, so her phone registers)
    await alicePage.getByLabel('Username').fill('1001-acme');
    await alicePage.getByLabel('Password', { exact: true }).fill(LOGIN.alice);
    await alicePage.getByRole('button', { name: 'Sign In' }).click();
    pe.clock.advance(30_000);
    await alicePage.getByLabel('Authentication code').fill(await generate({ secret: setup.body.secret, epoch: Math.floor(pe.clock.now() / 1000) }));
    await alicePage.getByRole('button', { name: 'Verify' }).click();
    await registered(alicePage);

    const admin = await page();
    await signIn(admin, '1003-acme', LOGIN.carol);
    // Her Phone tab registers in the background: the list is read once it has (it raced the page switch before).
    await registered(admin);
    await admin.getByRole('link', { name: 'Extensions' }).click();
    await row(admin, '1001').waitFor();
    // Extension | Email | Role | SIP lock | Registrations | 2FA | Actions
    expect((await cells(admin, '1001')).slice(0, 5)).toEqual(['alice@example.com', 'user', 'Open', '1', 'On']);
    expect((await cells(admin, '1002'))[2]).toMatch(/^Locked until /);
    // 1003 is the admin herself, registered from her own Phone tab.
    expect((await cells(admin, '1003')).slice(0, 5)).toEqual(['—', 'tenant-admin', 'Open', '1', 'Off']);
    await shootAsIs(admin, 'admin-extensions');

    await row(admin, '1002').getByRole('button', { name: 'Unlock' }).click();
    await expect.poll(() => admin.getByTestId('admin-notice').textContent().catch(() => '')).toBe('Extension 1002 is unlocked.');
    await expect.poll(async () => (await cells(admin, '1002'))[2]).toBe('Open');
    expect(await guard.extensionLockedUntil('acme', '1002', Date.now())).toBe(0);

    await admin.getByRole('button', { name: 'Reset password of 1002' }).click();
    await admin.getByTestId('new-login-password').waitFor();
    const generated = (await admin.getByTestId('new-login-password').textContent())!;
    expect((await new Client(pe.edge.httpPort).login('1002-acme', generated)).status).toBe(200);
    expect((await new Client(pe.edge.httpPort).login('1002-acme', LOGIN.bob)).status).toBe(401);

    await admin.getByRole('button', { name: 'Reset 2FA of 1001' }).click();
    await expect.poll(async () => (await cells(admin, '1001'))[4]).toBe('Off');
    expect((await new Client(pe.edge.httpPort).login('1001-acme', LOGIN.alice)).body.twoFactorRequired).toBe(false);
  });

  it('creates an extension delivered by a one-time link; the link opens /provision, which shows the password and QR codes once', async () => {
    const pe = await suite.edge();
    const admin = await page();
    await signIn(admin, '1003-acme', LOGIN.carol);
    await admin.getByRole('link', { name: 'Extensions' }).click();
    await admin.getByLabel('Extension', { exact: true }).fill('1010');
    await admin.getByLabel('Email (optional)').fill('dora@example.com');
    await admin.getByRole('button', { name: 'Create Extension' }).click();
    await admin.getByTestId('provisioning-url').waitFor();
    const link = (await admin.getByTestId('provisioning-url').textContent())!;
    expect(link).toMatch(new RegExp(`^${pe.url}/provision\\?token=[A-Za-z0-9_-]{43}$`));
    await row(admin, '1010').waitFor();

    const user = await page();
    await user.goto(link);
    await shootAsIs(user, 'provision-before');
    await user.getByRole('button', { name: 'Show My Phone Settings' }).click();
    await user.getByTestId('voip-password').waitFor();
    const password = (await user.getByTestId('voip-password').textContent())!;
    const stored = (await pe.edge.app.stores.accounts.getExtension('acme', '1010'))!;
    expect(ha1('MD5', '1010', DOMAIN, password)).toBe(stored.cred.md5);
    expect(await user.getByTestId('voip-settings').textContent()).toContain(`127.0.0.1:${pe.edge.udpPort}`);
    expect(await readQr(user, 'linphone-qr')).toMatch(/\/provision\/[A-Za-z0-9_-]{43}\.xml$/);
    await shootAsIs(user, 'provision-shown');
    // Once: opening the link again shows nothing but the explanation.
    await user.goto(link);
    await user.getByRole('button', { name: 'Show My Phone Settings' }).click();
    await expect.poll(() => user.getByTestId('error').textContent().catch(() => '')).toContain('invalid, expired');
  });

  it('uploads hold music from the page: progress, then the active version in the list; a text file is refused with its reason', async () => {
    const pe = await suite.edge();
    const admin = await page();
    await signIn(admin, '1003-acme', LOGIN.carol);
    await admin.getByRole('link', { name: 'Hold music' }).click();
    await admin.getByTestId('moh-versions').waitFor();
    const wav = makeWav(tone(16_000, 3, 440, 0.4), 16_000, 'pcm16');
    await admin.getByLabel('Audio file').setInputFiles({ name: 'office-theme.wav', mimeType: 'audio/wav', buffer: wav });
    // The progress bar may come and go within a frame on loopback: record that it was shown.
    await admin.evaluate(() => {
      const w = window as unknown as { sawProgress: boolean };
      w.sawProgress = false;
      new MutationObserver(() => {
        if (document.querySelector('progress[aria-label="Upload progress"]')) w.sawProgress = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    await admin.getByRole('button', { name: 'Upload' }).click();
    await admin.getByTestId('moh-done').waitFor({ timeout: 30_000 });
    expect(await admin.evaluate(() => (window as unknown as { sawProgress: boolean }).sawProgress)).toBe(true);
    expect(await admin.getByTestId('moh-done').textContent()).toContain('office-theme.wav is now the active hold music of acme');
    const active = admin.locator('tr[data-status="active"]');
    await active.waitFor();
    expect(await active.textContent()).toContain('office-theme.wav');
    const versions = await pe.edge.app.media.status('acme', 10);
    expect(versions.find((v) => v.status === 'active')?.sourceName).toBe('office-theme.wav');

    await admin.getByLabel('Queue (max 3 MB)').check();
    await admin.getByLabel('Audio file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('these are not sounds\n'.repeat(50)) });
    await admin.getByRole('button', { name: 'Upload' }).click();
    await admin.getByTestId('moh-error').waitFor({ timeout: 30_000 });
    const failed = admin.locator('tr[data-status="failed"]');
    await failed.waitFor();
    expect(await failed.textContent()).toContain('notes.txt');
    expect((await failed.locator('.reason').textContent())!.trim().length).toBeGreaterThan(5);
    await shootAsIs(admin, 'music-versions');
  });
});
