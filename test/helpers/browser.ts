// Test fixture for the portal: a real edge (startEdge) over HTTPS and WSS with tenants, login passwords and a clock the
// test can move, and Debian's Chromium driven by playwright-core (never a downloaded browser; a fresh profile per
// launch) with fake media devices, trusting the edge's self-signed certificate by its SPKI hash, plus screenshots of
// what a person sees, kept as test artifacts in test-artifacts/portal/ (gitignored).
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsqr from 'jsqr';
import { PNG } from 'pngjs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { Clock } from '../../src/clock.ts';
import type { DeepPartial } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
// @ts-expect-error: a plain .mjs script without type declarations
import { buildPortal, isStale } from '../../scripts/build-portal.mjs';
import { generateSelfSigned } from '../../src/transport/certificates.ts';
import { Client } from '../gateway/api.ts';
import { startEdge, type TestEdge } from './edge.ts';
import { freePort } from './global-setup.ts';

// jsqr is CommonJS whose types declare an ES default export: under NodeNext the default import is the module itself.
const jsQR = (jsqr as unknown as { default: typeof jsqr.default }).default;

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(process.cwd(), 'test-artifacts/portal');

/** Real time plus an offset the test moves (session expiry, TOTP steps) while timers keep running normally. */
export class ShiftedClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export const LOGIN = { alice: 'Alice-login-pw1', bob: 'Bob-login-pw22', carol: 'Carol-admin-pw3', oscar: 'Oscar-operator-pw4' };
export const DOMAIN = 'acme.example.com';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** PEM. */
  cert: string;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list). */
  spki: string;
}

let certificate: Promise<TestCertificate> | undefined;

/**
 * One self-signed certificate (the edge's own generator) for 127.0.0.1 and localhost per test process: every portal
 * edge serves it (tls.certFile/keyFile), Chromium trusts it by its SPKI hash, Node clients and linphonec as their CA.
 */
export function testCertificate(): Promise<TestCertificate> {
  certificate ??= (async () => {
    const { cert, key } = await generateSelfSigned(['127.0.0.1', 'localhost'], Date.now());
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-portal-tls-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, cert);
    writeFileSync(keyFile, key, { mode: 0o600 });
    const spki = createHash('sha256').update(new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    return { certFile, keyFile, cert, spki };
  })();
  return certificate;
}

export interface PortalEdge {
  edge: TestEdge;
  clock: ShiftedClock;
  /** The portal's origin: https://<host>:<https port> (also gateway.publicUrl). */
  url: string;
  /** An API client over HTTPS that trusts the test certificate. */
  https(): Client;
  stop(): Promise<void>;
}

/**
 * Builds the portal when its bundle is older than src/portal/, then starts an edge (HTTPS on a free port that
 * gateway.publicUrl names, as `host`: 127.0.0.1, or localhost for clients that check names only) with tenant acme
 * (1001 alice, alice@example.com; 1002 bob; 1003 carol, tenant admin) and ops (9000 oscar, operator), login passwords
 * as in LOGIN.
 */
export async function startPortalEdge(overrides: DeepPartial<Config> = {}, host: '127.0.0.1' | 'localhost' = '127.0.0.1'): Promise<PortalEdge> {
  if (isStale()) await buildPortal();
  const clock = new ShiftedClock();
  const cert = await testCertificate();
  // A port known before the start, so that links in mails and QR codes (gateway.publicUrl) name this edge.
  const httpsPort = await freePort();
  const url = `https://${host}:${httpsPort}`;
  const edge = await startEdge({
    store: 'memory',
    clock,
    overrides: {
      http: { listen: '127.0.0.1:0', https: `127.0.0.1:${httpsPort}` },
      tls: { certFile: cert.certFile, keyFile: cert.keyFile },
      ...overrides,
      gateway: { argon2: { memoryCost: 64, timeCost: 1, parallelism: 1 }, publicUrl: url, ...(overrides.gateway ?? {}) },
    },
  });
  const g = edge.app.gateway;
  await g.provisioning.addTenant('acme', DOMAIN);
  await g.provisioning.addTenant('ops', 'ops.example.com');
  await g.provisioning.addExtension({ tenant: 'acme', ext: '1001' }, { email: 'alice@example.com' });
  await g.provisioning.addExtension({ tenant: 'acme', ext: '1002' });
  await g.provisioning.addExtension({ tenant: 'acme', ext: '1003' });
  await g.provisioning.addExtension({ tenant: 'ops', ext: '9000' });
  for (const [ext, tenant, pw] of [['1001', 'acme', LOGIN.alice], ['1002', 'acme', LOGIN.bob], ['1003', 'acme', LOGIN.carol], ['9000', 'ops', LOGIN.oscar]] as const) {
    const r = await g.accounts.setPassword({ tenant, ext }, pw);
    if (!r.ok) throw new Error(`fixture password of ${ext}@${tenant} breaks the policy`);
  }
  await g.accounts.setRole({ tenant: 'acme', ext: '1003' }, 'tenant-admin');
  await g.accounts.setRole({ tenant: 'ops', ext: '9000' }, 'operator');
  return { edge, clock, url, https: () => new Client(edge.httpsPort, '127.0.0.1', cert.cert), stop: () => edge.stop() };
}

/**
 * Headless Debian Chromium: fake microphone and permission prompt, nothing fetched from the network, a fresh profile,
 * and the test certificate trusted by its public key (nothing else is: a wrong certificate still fails). With
 * `fakeAudioFile` (a 16-bit PCM WAV) the fake microphone plays that file in a loop instead of its beeps.
 */
export async function launchChromium(opts: { fakeAudioFile?: string } = {}): Promise<Browser> {
  const { spki } = await testCertificate();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      `--ignore-certificate-errors-spki-list=${spki}`,
      ...(opts.fakeAudioFile !== undefined ? [`--use-file-for-fake-audio-capture=${opts.fakeAudioFile}`] : []),
    ],
  });
}

/** An init script (`context.addInitScript`): keeps every RTCPeerConnection the page makes in `window.peerConnections`
 * for getStats(), before the app's scripts run. */
export function recordPeerConnections(): void {
  const Native = window.RTCPeerConnection;
  const list: RTCPeerConnection[] = [];
  (window as unknown as { peerConnections: RTCPeerConnection[] }).peerConnections = list;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      list.push(this);
    }
  } as typeof RTCPeerConnection;
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** A new browser context (own cookies and localStorage) at `size`, microphone allowed for the portal. */
export async function newPage(browser: Browser, base: string, size = DESKTOP): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: size, permissions: ['microphone'], baseURL: base });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // Refusals the page shows to the user (4xx answers of the API) are expected; anything else is a fault.
    if (m.type() === 'error' && !/the server responded with a status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  return { context, page, errors };
}

export interface PortalSuite {
  /** This test's edge, started on first use (with `overrides` when the first call passes them). */
  edge(overrides?: DeepPartial<Config>): Promise<PortalEdge>;
  /** A new page (own context: cookies, storage) on this test's edge. */
  page(size?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; errors: string[] }>;
}

/**
 * A browser test file's fixture: one Chromium for the file (launched with `chromium()`'s options, read in beforeAll),
 * a fresh edge per test, and after each test the edge stopped and the check that no page had an uncaught error or a
 * console error other than an API refusal it showed (a refused inline script or style would be one). Registers its
 * own hooks.
 */
export function portalSuite(chromium: () => Parameters<typeof launchChromium>[0] = () => ({})): PortalSuite {
  let browser: Browser | undefined;
  let pe: PortalEdge | undefined;
  const errors: string[][] = [];
  beforeAll(async () => {
    browser = await launchChromium(chromium());
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    const seen = errors.splice(0).flat();
    await pe?.stop();
    pe = undefined;
    expect(seen).toEqual([]);
  });
  const edge = async (overrides?: DeepPartial<Config>): Promise<PortalEdge> => (pe ??= await startPortalEdge(overrides));
  return {
    edge,
    async page(size) {
      const { context, page, errors: e } = await newPage(browser!, (await edge()).url, size);
      errors.push(e);
      return { context, page, errors: e };
    },
  };
}

/** Signs in through the form and waits for the Phone tab. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign In' }).click();
  await expect.poll(() => page.evaluate(() => location.pathname), { timeout: 15_000 }).toBe('/phone');
}

/** Waits until the Phone tab says the browser phone is registered. */
export async function registered(page: Page): Promise<void> {
  await page.getByTestId('registration').and(page.locator('[data-state="registered"]')).waitFor({ timeout: 20_000 });
}

/** Screenshots the whole page as it is now into test-artifacts/portal/<name>-<width>.png (to be looked at). */
export async function shootAsIs(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const w = page.viewportSize()?.width ?? 0;
  await page.screenshot({ path: join(ARTIFACTS, `${name}-${w}.png`), fullPage: true });
}

/** The text of the QR code in `img`, read back from a screenshot of it as the page shows it (jsQR). */
export async function readQr(page: Page, testId: string): Promise<string> {
  const png = PNG.sync.read(await page.getByTestId(testId).screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.byteLength), png.width, png.height);
  if (!found) throw new Error(`no QR code readable in ${testId}`);
  return found.data;
}
