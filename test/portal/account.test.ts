// The portal's account pages in Debian's Chromium against a real edge: 2FA enrolment with a code computed here and a
// sign-in with the next code, changing the password (rules named), the forgotten-password mail from the outbox to the
// reset page to a sign-in, and a regenerated VoIP password whose Linphone QR code is read back from the page.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { describe, expect, it } from 'vitest';
import { LOGIN, portalSuite, readQr, registered, shootAsIs, signIn } from '../helpers/browser.ts';

const codeAt = (secret: string, ms: number): Promise<string> => generate({ secret, epoch: Math.floor(ms / 1000) });

describe('portal account pages (Chromium)', () => {
  const suite = portalSuite();
  const open = () => suite.page();

  it('enrols 2FA with a code from the QR secret, then signing in asks for the next code and lets the user in', async () => {
    const pe = await suite.edge();
    const { page, context } = await open();
    await signIn(page, '1001-acme', LOGIN.alice);
    await page.getByRole('link', { name: 'Settings' }).click();
    expect(await page.getByTestId('2fa-state').textContent()).toBe('Off');
    await page.getByRole('button', { name: 'Set Up 2FA' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent())!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    // The QR code an authenticator app scans carries the same secret.
    const uri = await readQr(page, 'totp-qr');
    expect(uri).toMatch(/^otpauth:\/\/totp\/sipedge:1001-acme\?/);
    expect(new URL(uri).searchParams.get('secret')).toBe(secret);
    await shootAsIs(page, 'settings-2fa-enrol');
    await page.getByLabel('Code from the app').fill(await codeAt(secret, pe.clock.now()));
    await page.getByRole('button', { name: 'Activate 2FA' }).click();
    await page.getByTestId('2fa-done').waitFor();
    expect(await page.getByTestId('2fa-state').textContent()).toBe('On');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('notice').waitFor();
    // The next 30 s step: a code is good once, so the enrolment code would be refused as replayed.
    pe.clock.advance(30_000);
    await page.getByLabel('Username').fill('1001-acme');
    await page.getByLabel('Password', { exact: true }).fill(LOGIN.alice);
    await page.getByRole('button', { name: 'Sign In' }).click();
    await page.getByLabel('Authentication code').waitFor();
    await shootAsIs(page, 'sign-in-totp');
    await page.getByLabel('Authentication code').fill('000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect.poll(() => page.getByTestId('error').textContent().catch(() => '')).toContain('That code is wrong or was already used');
    await page.getByLabel('Authentication code').fill(await codeAt(secret, pe.clock.now()));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect.poll(() => page.evaluate(() => location.pathname)).toBe('/phone');
    await registered(page);
    await context.close();
  });

  it('changes the login password: names each broken rule, then keeps the user signed in; the new password signs in, the old does not', async () => {
    await suite.edge({ gateway: { passwordPolicyTenants: { acme: 'strict' } } });
    const { page, context } = await open();
    await signIn(page, '1002-acme', LOGIN.bob);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Current password').fill(LOGIN.bob);
    await page.getByLabel('New password', { exact: true }).fill('short pw');
    await page.getByLabel('Confirm new password').fill('short pw');
    await page.getByRole('button', { name: 'Change Password' }).click();
    await page.getByTestId('password-error').waitFor();
    const broken = await page.locator('.rules li.rule-broken').evaluateAll((els) => els.map((e) => e.getAttribute('data-rule')));
    expect(broken).toEqual(['min-length', 'uppercase', 'digit', 'special', 'no-spaces']);
    expect(await page.locator('.rules li[data-rule="lowercase"]').getAttribute('class')).toBe('rule-ok');
    await shootAsIs(page, 'settings-password-rules');
    const next = 'New-Bob-pw-2026!';
    await page.getByLabel('New password', { exact: true }).fill(next);
    await page.getByLabel('Confirm new password').fill(next);
    await page.getByRole('button', { name: 'Change Password' }).click();
    await page.getByTestId('password-changed').waitFor();
    // Still signed in: the renewed session (and its CSRF token) work for the next change.
    await page.getByRole('link', { name: 'Phone' }).click();
    await registered(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('notice').waitFor();
    await page.getByLabel('Username').fill('1002-acme');
    await page.getByLabel('Password', { exact: true }).fill(LOGIN.bob);
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect.poll(() => page.getByTestId('error').textContent().catch(() => '')).toBe('Wrong username or password.');
    await signIn(page, '1002-acme', next);
    await context.close();
  });

  it('forgot password: the link from the outbox opens the reset page, and the new password signs in', async () => {
    const pe = await suite.edge();
    const { page, context } = await open();
    await page.goto('/sign-in');
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByLabel('Username').fill('alice@example.com');
    await shootAsIs(page, 'forgot-password');
    await page.getByRole('button', { name: 'Send Reset Link' }).click();
    await page.getByTestId('sent').waitFor();
    await pe.edge.app.gateway.idle();
    const outbox = join(pe.edge.config.dataDir, 'outbox');
    const mails = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
    expect(mails).toHaveLength(1);
    const mail = readFileSync(join(outbox, mails[0]!), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    const link = /https?:\/\/[^\s"<>]+\/reset-password\?token=[A-Za-z0-9_-]+/.exec(mail)?.[0];
    expect(link, mail).toBeDefined();
    expect(link!.startsWith(pe.url)).toBe(true);

    await page.goto(link!);
    await page.getByLabel('New password', { exact: true }).fill('Reset-Alice-1');
    await page.getByLabel('Confirm new password').fill('Reset-Alice-2');
    await page.getByRole('button', { name: 'Set New Password' }).click();
    await expect.poll(() => page.getByTestId('error').textContent().catch(() => '')).toBe('The two passwords do not match.');
    await page.getByLabel('Confirm new password').fill('Reset-Alice-1');
    await shootAsIs(page, 'reset-password');
    await page.getByRole('button', { name: 'Set New Password' }).click();
    await page.getByTestId('notice').waitFor();
    expect(await page.getByTestId('notice').textContent()).toBe('Your password was changed. Sign in with the new password.');
    await signIn(page, '1001-acme', 'Reset-Alice-1');
    // The link worked once.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.goto(link!);
    await page.getByLabel('New password', { exact: true }).fill('Reset-Alice-3');
    await page.getByLabel('Confirm new password').fill('Reset-Alice-3');
    await page.getByRole('button', { name: 'Set New Password' }).click();
    await expect.poll(() => page.getByTestId('error').textContent().catch(() => '')).toContain('invalid, expired or already used');
    await context.close();
  });

  it('regenerates the VoIP password: shown once with a Linphone QR code whose URL answers that password, and the Phone tab registers again', async () => {
    const pe = await suite.edge();
    const { page, context } = await open();
    await signIn(page, '1001-acme', LOGIN.alice);
    await registered(page);
    const before = (await pe.edge.app.stores.accounts.getExtension('acme', '1001'))!.cred.md5;
    const digests = await pe.edge.metric('sipedge_auth_successes_total');
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('button', { name: 'Generate New VoIP Password' }).click();
    await page.getByRole('button', { name: 'Yes, generate a new password' }).click();
    await page.getByTestId('voip-password').waitFor();
    const password = (await page.getByTestId('voip-password').textContent())!;
    expect(password).toHaveLength(24);
    expect((await pe.edge.app.stores.accounts.getExtension('acme', '1001'))!.cred.md5).not.toBe(before);
    await page.getByTestId('linphone-qr').scrollIntoViewIfNeeded();
    await shootAsIs(page, 'settings-new-voip-password');

    const url = await readQr(page, 'linphone-qr');
    expect(url).toBe(await page.getByTestId('linphone-url').textContent());
    expect(url).toMatch(new RegExp(`^${pe.url}/provision/[A-Za-z0-9_-]{43}\\.xml$`));
    // The second format, the sipedge JSON, in the other QR code.
    await page.getByText('Other apps: sipedge QR code (JSON)').click();
    const json = JSON.parse(await readQr(page, 'json-qr'));
    expect(json).toMatchObject({ type: 'sipedge-provisioning', username: '1001', domain: 'acme.example.com', password });

    const xml = (await pe.https().get(new URL(url).pathname)).body as string;
    expect(xml).toContain(`<entry name="passwd" overwrite="true">${password}</entry>`);

    // The page's phone held the old HA1; it fetched the new one and registered again with it.
    await expect.poll(() => pe.edge.metric('sipedge_auth_successes_total', { credential: 'current' }), { timeout: 15_000 }).toBeGreaterThan(digests);
    await page.getByRole('link', { name: 'Phone' }).click();
    await registered(page);
    await context.close();
  });
});
