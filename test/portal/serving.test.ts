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
    for (const p of [...PAGE_PATHS, '/reset-password?token=abc', '/provision?token=abc']) {
      const res = await fetch(`${pe.url}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type'), p).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<script type="module" src="/assets/app.js"></script>');
      // No inline script in the page itself, and a policy that would refuse one.
      expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull();
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain('connect-src \'self\' ws://127.0.0.1:* wss://127.0.0.1:*');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const js = await fetch(`${pe.url}/assets/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${pe.url}/assets/app.css`)).headers.get('content-type')).toMatch(/^text\/css/);

    // Never the SPA fallback for these:
    const api = await fetch(`${pe.url}/api/no-such-thing`);
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: 'SIPEDGE_ERR_API_NOT_FOUND' });
    expect((await fetch(`${pe.url}/api/me`)).status).toBe(401);
    const metrics = await fetch(`${pe.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toContain('sipedge_gateway_responses_total');
    expect(await (await fetch(`${pe.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${pe.url}/readyz`)).json()).toEqual({ status: 'ready' });
    expect((await fetch(`${pe.url}/provision/${'x'.repeat(43)}.xml`)).status).toBe(400);
    // Unknown paths are not pages.
    const other = await fetch(`${pe.url}/settings/extra`);
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toMatch(/json/);
    expect((await fetch(`${pe.url}/assets/nope.js`)).status).toBe(404);
  });

  it('gives a signed-in user their own registration credentials (MD5 HA1 for SIP.js), not cached, on the host the page was loaded from', async () => {
    pe = await startPortalEdge();
    expect((await fetch(`${pe.url}/api/voip/webrtc`)).status).toBe(401);
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
