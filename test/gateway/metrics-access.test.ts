// /metrics behind a bearer token and on a listener of its own (http.metricsToken, http.metricsListen): what a
// scraper, and anybody else who reaches the HTTP port, gets back.
import { afterEach, describe, expect, it } from 'vitest';
import { startEdge, type TestEdge } from '../helpers/edge.ts';

describe('/metrics access', () => {
  let edge: TestEdge | undefined;
  afterEach(async () => {
    await edge?.stop();
    edge = undefined;
  });

  const get = (port: number, path: string, authorization?: string) =>
    fetch(`http://127.0.0.1:${port}${path}`, { headers: authorization === undefined ? {} : { authorization } });

  it('answers 401 without the bearer token, or with a wrong one, and the metrics with it', async () => {
    edge = await startEdge({ overrides: { http: { metricsToken: 'scrape-Token-7f3a9c' } } });
    const anonymous = await get(edge.httpPort, '/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await anonymous.text()).not.toContain('sipedge_');
    expect((await get(edge.httpPort, '/metrics', 'Bearer scrape-Token-7f3a9')).status).toBe(401);
    const scraper = await get(edge.httpPort, '/metrics', 'Bearer scrape-Token-7f3a9c');
    expect(scraper.status).toBe(200);
    expect(await scraper.text()).toMatch(/^sipedge_flood_sources /m);
    // Health checks stay open.
    expect((await get(edge.httpPort, '/healthz')).status).toBe(200);
  });

  it('serves /metrics only on its own listener when http.metricsListen is set', async () => {
    edge = await startEdge({ overrides: { http: { metricsListen: '127.0.0.1:0' } } });
    const own = edge.app.addresses.metrics!.port;
    expect((await get(edge.httpPort, '/metrics')).status).toBe(404);
    const scraped = await get(own, '/metrics');
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^sipedge_flood_sources /m);
    expect((await get(own, '/api/me')).status).toBe(404);
  });
});
