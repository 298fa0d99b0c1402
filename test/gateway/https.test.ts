// The gateway over HTTPS (http.https) with the edge's self-signed certificate: the API and session cookies marked
// Secure there, plain HTTP keeping /metrics, health checks and the API while it sends browsers' page requests to HTTPS,
// and the certificate's remaining lifetime on /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, PASSWORDS, startGatewayEdge, type GatewayEdge } from './api.ts';

describe('gateway over HTTPS', () => {
  let gw: GatewayEdge;
  let https: Client;
  let plain: Client;

  beforeAll(async () => {
    gw = await startGatewayEdge('memory');
    https = new Client(gw.edge.httpsPort, '127.0.0.1', gw.edge.app.certificates!.current.cert);
    plain = gw.client();
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('logs a user in over HTTPS with a Secure session cookie, and without Secure over plain HTTP', async () => {
    const r = await https.login('1001-acme', PASSWORDS.alice);
    expect(r.status).toBe(200);
    expect(https.lastSetCookie).toMatch(/; Secure/);
    expect((await https.get('/api/me')).body).toMatchObject({ extension: '1001', tenant: 'acme' });
    const p = await plain.login('1001-acme', PASSWORDS.alice);
    expect(p.status).toBe(200);
    expect(plain.lastSetCookie).not.toMatch(/Secure/);
  });

  it('sends a browser that opens a page over plain HTTP to the same host on the HTTPS port', async () => {
    for (const path of ['/', '/reset-password?token=abc', '/provision?token=x']) {
      const r = await plain.call('GET', path, undefined, { headers: { host: `localhost:${gw.edge.httpPort}` } });
      expect(r.status, path).toBe(302);
      expect(r.headers.location).toBe(`https://localhost:${gw.edge.httpsPort}${path}`);
    }
    const head = await plain.call('HEAD', '/', undefined, { headers: { host: `127.0.0.1:${gw.edge.httpPort}` } });
    expect(head.headers.location).toBe(`https://127.0.0.1:${gw.edge.httpsPort}/`);
  });

  it('keeps /metrics, /healthz, /readyz and the API on plain HTTP, and serves the same routes over HTTPS', async () => {
    expect((await plain.get('/healthz')).status).toBe(200);
    expect((await plain.get('/readyz')).status).toBe(200);
    expect((await plain.get('/api/openapi.json')).status).toBe(200);
    expect((await new Client(gw.edge.httpPort).get('/api/me')).status).toBe(401);
    expect((await https.get('/healthz')).status).toBe(200);
    const page = await https.get('/');
    // The portal, served there and not sent anywhere else.
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers.location).toBeUndefined();
    const metrics = String((await plain.get('/metrics')).body);
    const expiry = /^sipedge_tls_certificate_expiry_seconds\{source="self-signed"\} (\d+)$/m.exec(metrics);
    expect(expiry, metrics.slice(0, 200)).not.toBeNull();
    // A fresh self-signed certificate has 825 days less the day it is backdated.
    expect(Number(expiry![1])).toBeGreaterThan(86_400 * 820);
  });

  it('names the TLS and WSS transports in the VoIP settings a phone or the portal reads', async () => {
    const r = await https.get('/api/voip');
    expect(r.body.transports).toMatchObject({
      tls: `${r.body.server}:${gw.edge.tlsPort}`,
      wss: `wss://${r.body.server}:${gw.edge.wssPort}`,
    });
  });
});
