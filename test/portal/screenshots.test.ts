// Every page of the portal as a person sees it, in the light and the dark theme, on a desktop and a phone-sized
// screen: screenshots into test-artifacts/portal/ (to be looked at), and two checks a person would notice: text keeps
// a contrast of at least 4.5:1 against its background (WCAG AA), and nothing scrolls sideways on a phone.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESKTOP, launchChromium, LOGIN, newPage, PHONE, registered, shootAsIs, signIn, startPortalEdge, type PortalEdge } from '../helpers/browser.ts';

/** Visible text elements whose contrast against their effective background is below 4.5:1. */
function lowContrast(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]): number => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
    };
    const background = (el: Element | null): number[] => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3]! > 0.5)) return c.slice(0, 3);
      }
      return rgb(getComputedStyle(document.documentElement).backgroundColor).slice(0, 3);
    };
    const out: string[] = [];
    for (const el of document.querySelectorAll('h1, h2, h3, p, label, legend, li, td, th, a, button:not(:disabled), code, span, summary')) {
      const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent ?? '').join('').trim();
      const box = (el as HTMLElement).getBoundingClientRect();
      if (text === '' || box.width === 0 || box.height === 0) continue;
      const fg = lum(rgb(getComputedStyle(el).color));
      const bg = lum(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      if (ratio < 4.5) out.push(`${el.tagName.toLowerCase()}.${el.className} "${text.slice(0, 30)}" ${ratio.toFixed(2)}`);
    }
    return out;
  });
}

describe('portal pages, both themes, desktop and phone (Chromium)', () => {
  let browser: Browser;
  let pe: PortalEdge;

  beforeAll(async () => {
    browser = await launchChromium();
    pe = await startPortalEdge();
  });
  afterAll(async () => {
    await browser?.close();
    await pe?.stop();
  });

  for (const size of [DESKTOP, PHONE]) {
    for (const theme of ['light', 'dark'] as const) {
      it(`every page at ${size.width} px in the ${theme} theme is readable and fits`, async () => {
        const { page, context, errors } = await newPage(browser, pe.url, size);
        await context.addInitScript((t) => localStorage.setItem('sipedge-theme', t), theme);
        const problems: string[] = [];
        const visit = async (name: string, ready: () => Promise<unknown>): Promise<void> => {
          await ready();
          await page.waitForLoadState('networkidle');
          expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
          await shootAsIs(page, `page-${name}-${theme}`);
          for (const p of await lowContrast(page)) problems.push(`${name}: contrast ${p}`);
          const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          if (wide > 0) problems.push(`${name}: ${wide} px wider than the screen`);
        };
        await page.goto('/sign-in');
        await visit('sign-in', () => page.getByRole('button', { name: 'Sign In' }).waitFor());
        await page.goto('/forgot-password');
        await visit('forgot-password', () => page.getByRole('button', { name: 'Send Reset Link' }).waitFor());
        await page.goto('/reset-password?token=not-a-real-token');
        await visit('reset-password', () => page.getByRole('button', { name: 'Set New Password' }).waitFor());
        await page.goto('/provision?token=not-a-real-token');
        await visit('provision', () => page.getByRole('button', { name: 'Show My Phone Settings' }).waitFor());
        await signIn(page, '1003-acme', LOGIN.carol);
        await visit('phone', () => registered(page));
        await page.goto('/settings');
        await visit('settings', () => page.getByTestId('voip-settings').waitFor());
        await page.goto('/admin');
        await visit('admin', () => page.getByTestId('extensions').locator('tbody tr').first().waitFor());
        await page.goto('/music');
        await visit('music', () => page.getByTestId('moh-versions').waitFor());
        expect(problems).toEqual([]);
        expect(errors).toEqual([]);
        await context.close();
      });
    }
  }
});
