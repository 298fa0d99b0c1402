// The portal in Debian's Chromium against a real edge: signing in by extension-tenant and by email, the messages for a
// wrong password and for the wait after 5 failures, signing out, the 4 h sliding session (the edge's clock is moved;
// the next action after expiry returns to the sign-in page with a message), and the theme button.
import { describe, expect, it } from 'vitest';
import { LOGIN, PHONE, portalSuite, registered, shootAsIs, signIn } from '../helpers/browser.ts';

const HOUR = 3_600_000;

describe('portal sign-in, session and theme (Chromium)', () => {
  const suite = portalSuite();
  const open = (size?: { width: number; height: number }) => suite.page(size);

  it('signs in with extension-tenant, lands on the Phone tab registered, and signs out with the icon top right', async () => {
    const pe = await suite.edge();
    const { page, context } = await open();
    await signIn(page, '1001-acme', LOGIN.alice);
    await registered(page);
    await expect.poll(() => page.getByTestId('registration').textContent()).toContain('Registered as 1001');
    expect(await page.locator('.whoami').textContent()).toBe('1001-acme');
    const bindings = await pe.edge.app.stores.bindings.get('1001@acme', Date.now());
    // Over the secure WebSocket listener: the page came over HTTPS.
    expect(bindings.bindings.map((b) => b.transport)).toEqual(['wss']);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('notice').waitFor();
    expect(await page.getByTestId('notice').textContent()).toBe('You have signed out.');
    expect(page.url()).toMatch(/\/sign-in$/);
    // Signed out server-side too, and the phone unregistered.
    const me = await page.evaluate(() => fetch('/api/me').then((r) => r.status));
    expect(me).toBe(401);
    await expect.poll(async () => (await pe.edge.app.stores.bindings.get('1001@acme', Date.now())).bindings.length).toBe(0);
    await context.close();
  });

  it('signs in with the keyboard alone: the username field has focus, Tab moves on, Enter submits', async () => {
    const { page, context } = await open();
    await page.goto('/sign-in');
    await page.getByLabel('Username').waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('username');
    await page.keyboard.type('1002-acme');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('password');
    await page.keyboard.type(LOGIN.bob);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(() => location.pathname), { timeout: 15_000 }).toBe('/phone');
    // The first Tab on a freshly loaded page reaches the skip link, which jumps to the content.
    await page.reload();
    await registered(page);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await context.close();
  });

  it('runs no inline script: the browser refuses one injected into the page, by the edge\'s CSP', async () => {
    const { page, context, errors } = await open();
    await page.goto('/sign-in');
    const outcome = await page.evaluate(
      () =>
        new Promise<{ ran: boolean; violated: string }>((resolve) => {
          const w = window as unknown as { inlineRan?: boolean };
          document.addEventListener('securitypolicyviolation', (e) => resolve({ ran: w.inlineRan === true, violated: e.violatedDirective }), { once: true });
          const s = document.createElement('script');
          s.textContent = 'window.inlineRan = true';
          document.body.append(s);
          setTimeout(() => resolve({ ran: w.inlineRan === true, violated: '' }), 2000);
        }),
    );
    expect(outcome).toEqual({ ran: false, violated: 'script-src-elem' });
    // Chromium reports the refusal on the console; that one error is this test's point, not a fault.
    expect(errors.splice(0)).toEqual([expect.stringContaining("Executing inline script violates the following Content Security Policy directive 'script-src 'self''")]);
    await context.close();
  });

  it('signs in with the extension\'s email', async () => {
    const { page, context } = await open();
    await signIn(page, 'alice@example.com', LOGIN.alice);
    expect(await page.locator('.whoami').textContent()).toBe('1001-acme');
    await context.close();
  });

  it('says "Wrong username or password." for a wrong password, and after 5 failures asks to wait 15 minutes even with the right one', async () => {
    const { page, context } = await open();
    await page.goto('/sign-in');
    await page.getByLabel('Username').fill('1002-acme');
    for (let i = 1; i <= 5; i++) {
      await page.getByLabel('Password', { exact: true }).fill(`wrong-${i}`);
      await page.getByRole('button', { name: 'Sign In' }).click();
      await expect.poll(() => page.getByTestId('error').textContent().catch(() => '')).toBe('Wrong username or password.');
      if (i === 1) await shootAsIs(page, 'sign-in-wrong-password');
      // Let the next click produce a fresh message.
      await page.evaluate(() => document.querySelector('[data-testid="error"]')?.remove());
    }
    await page.getByLabel('Password', { exact: true }).fill(LOGIN.bob);
    await page.getByRole('button', { name: 'Sign In' }).click();
    await expect
      .poll(() => page.getByTestId('error').textContent().catch(() => ''))
      .toBe('Too many failed sign-in attempts. Please wait 15 minutes before trying again.');
    expect(page.url()).toMatch(/\/sign-in$/);
    await shootAsIs(page, 'sign-in-locked');
    await context.close();
  });

  it('keeps a session alive while it is used (sliding 4 h) and, after 4 h idle, returns the next action to sign-in with a message', async () => {
    const pe = await suite.edge();
    const { page, context } = await open();
    await signIn(page, '1001-acme', LOGIN.alice);
    // 3 h idle, then an action: still signed in, and the 4 h start again from here.
    pe.clock.advance(3 * HOUR);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByTestId('voip-settings').waitFor();
    pe.clock.advance(3 * HOUR);
    await page.getByRole('link', { name: 'Phone' }).click();
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByTestId('voip-settings').waitFor();
    expect(page.url()).toMatch(/\/settings$/);
    // Now 4 h and a minute without a request: the next action finds the session gone.
    pe.clock.advance(4 * HOUR + 60_000);
    await page.getByRole('link', { name: 'Phone' }).click();
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByTestId('notice').waitFor({ timeout: 10_000 });
    expect(page.url()).toMatch(/\/sign-in$/);
    expect(await page.getByTestId('notice').textContent()).toContain('Your session has ended');
    await shootAsIs(page, 'sign-in-session-ended');
    await context.close();
  });

  it('cycles the theme system -> light -> dark -> system with the half-circle button, and a reload keeps the choice', async () => {
    const { page, context } = await open();
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto('/sign-in');
    const theme = () => page.evaluate(() => [document.documentElement.dataset.themeChoice, document.documentElement.dataset.theme]);
    expect(await theme()).toEqual(['system', 'dark']);
    const button = page.getByRole('button', { name: /^Theme:/ });
    await button.click();
    expect(await theme()).toEqual(['light', 'light']);
    const lightBg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    await button.click();
    expect(await theme()).toEqual(['dark', 'dark']);
    const darkBg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    expect(darkBg).not.toBe(lightBg);
    await page.reload();
    expect(await theme()).toEqual(['dark', 'dark']);
    expect(await page.getByRole('button', { name: /^Theme:/ }).getAttribute('aria-label')).toBe('Theme: dark (click to change)');
    await page.getByRole('button', { name: /^Theme:/ }).click();
    expect(await theme()).toEqual(['system', 'dark']);
    // "system" follows the operating system's setting as it changes.
    await page.emulateMedia({ colorScheme: 'light' });
    await expect.poll(theme).toEqual(['system', 'light']);
    await page.reload();
    expect(await theme()).toEqual(['system', 'light']);
    await context.close();
  });

  it('on a phone-sized screen the pages are behind a menu, with Sign out in it', async () => {
    const { page, context } = await open(PHONE);
    await signIn(page, '1003-acme', LOGIN.carol);
    expect(await page.getByRole('link', { name: 'Settings' }).isVisible()).toBe(false);
    const menu = page.getByRole('button', { name: 'Menu' });
    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('true');
    await shootAsIs(page, 'phone-menu-open');
    await page.getByRole('link', { name: 'Extensions' }).click();
    await page.getByTestId('extensions').waitFor();
    expect(await page.getByRole('link', { name: 'Settings' }).isVisible()).toBe(false);
    await menu.click();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByTestId('notice').waitFor();
    expect(page.url()).toMatch(/\/sign-in$/);
    await context.close();
  });
});
