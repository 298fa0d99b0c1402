// How the gateway serves the portal: index.html for the page paths only (never for /api/*, /metrics, /healthz,
// /readyz or /provision/*.xml), a Content-Security-Policy without inline script on every portal answer, the built
// assets; the Phone tab's credentials endpoint (its own MD5 HA1, not cached, never logged); and the portal's copy of
// the password rules agreeing with the server's.
import pino from 'pino';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ha1 } from '../../src/auth/digest.ts';
import { checkPassword, type PolicyPreset } from '../../src/auth/password-policy.ts';
import { PAGE_PATHS } from '../../src/gateway/portal-routes.ts';
import { REDACT_PATHS } from '../../src/observability/logger.ts';
import { brokenRules, RULES } from '../../src/portal/password-rules.ts';
import { Client } from '../gateway/api.ts';
import { DOMAIN, LOGIN, startPortalEdge, type PortalEdge } from '../helpers/browser.ts';

describe('portal serving', () => {
  let pe: PortalEdge | undefined;
  afterEach(async () => {
    await pe?.stop();
    pe = undefined;
  });

  it('answers index.html with a CSP that forbids inline script for every page path, and leaves the API, metrics and health alone', async () => {
    pe = await startPortalEdge();
    const https = pe.https();
    for (const p of [...PAGE_PATHS, '/reset-password?token=abc', '/provision?token=abc']) {
      const res = await https.call('GET', p);
      expect(res.status, p).toBe(200);
      expect(res.headers['content-type'], p).toMatch(/^text\/html/);
      const html = res.body as string;
      expect(html).toContain('<script type="module" src="/assets/app.js"></script>');
      // No inline script in the page itself, and a policy that would refuse one.
      expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull();
      const csp = res.headers['content-security-policy'] as string;
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain('connect-src \'self\' ws://127.0.0.1:* wss://127.0.0.1:*');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    const js = await https.call('GET', '/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['content-security-policy']).toContain("script-src 'self'");
    expect((await https.call('GET', '/assets/app.css')).headers['content-type']).toMatch(/^text\/css/);

    // Never the SPA fallback for these (over HTTPS, and the machine paths over plain HTTP too):
    const plain = `http://127.0.0.1:${pe.edge.httpPort}`;
    for (const api of [await https.call('GET', '/api/no-such-thing'), await new Client(pe.edge.httpPort).get('/api/no-such-thing')]) {
      expect(api.status).toBe(404);
      expect(api.body).toMatchObject({ error: 'SIPEDGE_ERR_API_NOT_FOUND' });
    }
    expect((await https.call('GET', '/api/me')).status).toBe(401);
    const metrics = await fetch(`${plain}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toContain('sipedge_gateway_responses_total');
    expect((await https.call('GET', '/metrics')).body).toContain('sipedge_gateway_responses_total');
    expect(await (await fetch(`${plain}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${plain}/readyz`)).json()).toEqual({ status: 'ready' });
    expect((await https.call('GET', `/provision/${'x'.repeat(43)}.xml`)).status).toBe(400);
    // Unknown paths are not pages.
    const other = await https.call('GET', '/settings/extra');
    expect(other.status).toBe(404);
    expect(other.headers['content-type']).toMatch(/json/);
    expect((await https.call('GET', '/assets/nope.js')).status).toBe(404);
    // A browser opening a page over plain HTTP is sent to the portal over HTTPS.
    const redirect = await fetch(`${plain}/settings`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe(`https://127.0.0.1:${pe.edge.httpsPort}/settings`);
  });

  it('gives a signed-in user their own registration credentials (MD5 HA1 for SIP.js), not cached, on the host the page was loaded from', async () => {
    pe = await startPortalEdge();
    expect((await pe.https().get('/api/voip/webrtc')).status).toBe(401);
    const { password } = await pe.edge.app.gateway.provisioning.rotate({ tenant: 'acme', ext: '1002' }, { graceMs: 0, dropBindings: false });
    const bob = new Client(pe.edge.httpPort);
    await bob.login('1002-acme', LOGIN.bob);
    const r = await bob.get('/api/voip/webrtc');
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body).toEqual({
      username: '1002',
      realm: DOMAIN,
      aor: `sip:1002@${DOMAIN}`,
      displayName: '1002',
      wsUrl: `ws://127.0.0.1:${pe.edge.wsPort}`,
      authorizationHa1: ha1('MD5', '1002', DOMAIN, password),
    });
    // The browser connects to the WebSocket listener on the host name it used for the page.
    const byName = await bob.call('GET', '/api/voip/webrtc', undefined, { headers: { host: `localhost:${pe.edge.httpPort}` } });
    expect(byName.body.wsUrl).toBe(`ws://localhost:${pe.edge.wsPort}`);
    const odd = await bob.call('GET', '/api/voip/webrtc', undefined, { headers: { host: 'evil.example"/x' } });
    expect(odd.body.wsUrl).toBe(`ws://127.0.0.1:${pe.edge.wsPort}`);
    // A page that came over HTTPS may only open wss://: it gets the secure WebSocket listener.
    const secure = pe.https();
    await secure.login('1002-acme', LOGIN.bob);
    expect((await secure.get('/api/voip/webrtc')).body.wsUrl).toBe(`wss://127.0.0.1:${pe.edge.wssPort}`);
    // Never logged by the edge, and redacted should a caller ever log the answer.
    expect(pe.edge.logs.join('\n')).not.toContain(r.body.authorizationHa1);
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    pino({ redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } }, sink).info({ event: 'x', body: r.body });
    expect(lines.join('')).not.toContain(r.body.authorizationHa1);
  });

  it('the portal names the same broken password rules as the server, for both presets', () => {
    const samples = ['', 'short', 'alllowercase', 'ALLUPPER123', 'Has space 1!', 'Ümlaut-Pass1', 'Good-Pass-2026', 'x'.repeat(9), 'Aa1+aaaaaa'];
    for (const preset of ['basic', 'strict'] as PolicyPreset[]) {
      for (const pw of samples) {
        expect(brokenRules(pw, preset), `${preset} "${pw}"`).toEqual(checkPassword(pw, preset).map((v): string => v.rule));
      }
      const server = new Map<string, string>(checkPassword('', preset).map((v) => [v.rule, v.message]));
      for (const r of RULES[preset]) if (server.has(r.rule)) expect(r.message).toBe(server.get(r.rule));
    }
  });
});
