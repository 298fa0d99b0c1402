// Bad input never gets a 500: a table of bad bodies, parameters and encodings against every route, each answered
// 4xx with a stable code and (for schema failures) the offending field; plus the OpenAPI document.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayEdge, PASSWORDS, type Client, type GatewayEdge } from './api.ts';

let gw: GatewayEdge;
let oscar: Client;

beforeAll(async () => {
  gw = await startGatewayEdge('memory');
  oscar = gw.client();
  await oscar.login('9000-ops', PASSWORDS.oscar);
});
afterAll(async () => {
  await gw.stop();
});

const long = 'x'.repeat(2000);

/** [method, path, body, expected field (undefined: just 4xx)] */
const BAD_BODIES: Array<[string, string, unknown, string | undefined]> = [
  ['POST', '/api/login', {}, 'username'],
  ['POST', '/api/login', { username: '1001-acme' }, 'password'],
  ['POST', '/api/login', { username: 1001, password: 'x' }, 'username'],
  ['POST', '/api/login', { username: '', password: 'x' }, 'username'],
  ['POST', '/api/login', { username: long, password: 'x' }, 'username'],
  ['POST', '/api/login', { username: 'a', password: long }, 'password'],
  ['POST', '/api/login', { username: 'a', password: 'b', admin: true }, 'admin'],
  ['POST', '/api/login', [], '(body)'],
  ['POST', '/api/login', 'just a string', '(body)'],
  ['POST', '/api/login', null, '(body)'],
  ['POST', '/api/login', { username: ['a'], password: 'b' }, 'username'],
  ['POST', '/api/login', { username: { $ne: '' }, password: 'b' }, 'username'],
  ['POST', '/api/password/forgot', { username: null }, 'username'],
  ['POST', '/api/password/reset', { token: 'abc' }, 'newPassword'],
  ['POST', '/api/password/reset', { token: 42, newPassword: 'Long-enough-1' }, 'token'],
  ['POST', '/api/provisioning/redeem', { token: '' }, 'token'],
  ['POST', '/api/password', { currentPassword: 'x' }, 'newPassword'],
  ['POST', '/api/2fa/activate', { code: '12345a' }, 'code'],
  ['POST', '/api/2fa/activate', { code: 123456 }, 'code'],
  ['POST', '/api/2fa/disable', { password: 'x', code: '1234567' }, 'code'],
  ['POST', '/api/voip/sip-password', { graceSeconds: -1 }, 'graceSeconds'],
  ['POST', '/api/voip/sip-password', { graceSeconds: '60' }, 'graceSeconds'],
  ['POST', '/api/voip/sip-password', { graceSeconds: 1.5 }, 'graceSeconds'],
  ['POST', '/api/voip/sip-password', { dropBindings: 'yes' }, 'dropBindings'],
  ['POST', '/api/admin/tenants', { code: 'Bad Code', domain: 'x.example.com' }, 'code'],
  ['POST', '/api/admin/tenants', { code: 'ok', domain: 'not a domain!' }, 'domain'],
  ['POST', '/api/admin/tenants', { code: 'ok' }, 'domain'],
  ['POST', '/api/admin/tenants/acme/extensions', { ext: '10-01' }, 'ext'],
  ['POST', '/api/admin/tenants/acme/extensions', { ext: '1010', email: 'not-an-email' }, 'email'],
  ['POST', '/api/admin/tenants/acme/extensions', { ext: '1010', role: 'root' }, 'role'],
  ['POST', '/api/admin/tenants/acme/extensions', { ext: '1010', delivery: 'pigeon' }, 'delivery'],
  ['POST', '/api/admin/tenants/acme/extensions', { ext: '1010', loginPassword: 'short' }, 'loginPassword'],
  ['PATCH', '/api/admin/tenants/acme/extensions/1001', {}, '(body)'],
  ['PATCH', '/api/admin/tenants/acme/extensions/1001', { email: 5 }, 'email'],
  ['POST', '/api/admin/tenants/acme/extensions/1001/sip-password', { delivery: 'fax' }, 'delivery'],
  ['POST', '/api/admin/tenants/acme/extensions/1001/login-password', { password: 7 }, 'password'],
  ['GET', '/api/admin/tenants/ACME', undefined, 'tenant'],
  ['GET', '/api/admin/tenants/acme/extensions/a%2Fb', undefined, 'ext'],
  ['DELETE', '/api/admin/tenants/acme/extensions/..', undefined, undefined],
];

describe('gateway input validation', () => {
  it.each(BAD_BODIES)('%s %s %j -> 4xx naming %s', async (method, path, body, field) => {
    const r = await oscar.call(method, path, body);
    expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.body.error).toMatch(/^SIPEDGE_ERR_API_/);
    if (field !== undefined) expect(r.body.field).toBe(field);
  });

  it('answers broken encodings with 400/415/413, never 500', async () => {
    const bad = [
      await oscar.call('POST', '/api/login', undefined, { raw: '{"username": "a", ' }),
      await oscar.call('POST', '/api/login', undefined, { raw: '' }),
      await oscar.call('POST', '/api/login', undefined, { raw: 'username=a&password=b', contentType: 'application/x-www-form-urlencoded' }),
      await oscar.call('POST', '/api/login', undefined, { raw: '\u0000\u00ff garbage', contentType: 'application/json' }),
      await oscar.call('POST', '/api/login', undefined, { raw: JSON.stringify({ username: 'a', password: 'x'.repeat(1_100_000) }) }),
      await oscar.call('POST', '/api/login', undefined, { raw: '{"__proto__": {"admin": true}, "username": "a", "password": "b"}' }),
    ];
    expect(bad.map((r) => r.status)).toEqual([400, 400, 415, 400, 413, 400]);
    for (const r of bad) expect(r.body.error).toMatch(/^SIPEDGE_ERR_API_/);
    const cookie = gw.client();
    cookie.cookie = 'sipedge_session=' + 'A'.repeat(5000);
    expect((await cookie.get('/api/me')).status).toBe(401);
    cookie.cookie = 'sipedge_session=%E0%A4%A';
    expect((await cookie.get('/api/me')).status).toBe(401);
    expect((await oscar.get('/api/nothing-here')).status).toBe(404);
  });

  it('serves an OpenAPI 3.1 document listing every route with its body schema', async () => {
    const doc = (await gw.client().get('/api/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) => Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`));
    expect(ops).toEqual(expect.arrayContaining([
      'POST /api/login', 'POST /api/login/totp', 'POST /api/logout', 'GET /api/me', 'POST /api/password', 'POST /api/password/forgot',
      'POST /api/password/reset', 'POST /api/2fa/setup', 'POST /api/2fa/activate', 'POST /api/2fa/disable', 'GET /api/voip',
      'POST /api/voip/sip-password', 'POST /api/provisioning/redeem', 'GET /api/admin/tenants', 'POST /api/admin/tenants',
      'GET /api/admin/tenants/{tenant}', 'DELETE /api/admin/tenants/{tenant}', 'GET /api/admin/tenants/{tenant}/extensions',
      'POST /api/admin/tenants/{tenant}/extensions', 'PATCH /api/admin/tenants/{tenant}/extensions/{ext}',
      'DELETE /api/admin/tenants/{tenant}/extensions/{ext}', 'POST /api/admin/tenants/{tenant}/extensions/{ext}/unlock',
      'POST /api/admin/tenants/{tenant}/extensions/{ext}/login-password', 'POST /api/admin/tenants/{tenant}/extensions/{ext}/reset-2fa',
      'POST /api/admin/tenants/{tenant}/extensions/{ext}/sip-password', 'GET /api/openapi.json',
    ]));
    expect(doc.paths['/api/login'].post.requestBody.content['application/json'].schema.required).toEqual(['username', 'password']);
    // The README documents every route too.
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync('README.md', 'utf8');
    for (const op of ops) expect(readme, op).toContain(`\`${op.replace(/\{(\w+)\}/g, ':$1')}\``);
  });

  it('documents every API error code in the README', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync('README.md', 'utf8');
    const codes = new Set(readFileSync('src/errors.ts', 'utf8').match(/SIPEDGE_ERR_API_[A-Z_]+/g));
    expect(codes.size).toBeGreaterThan(10);
    for (const code of codes) expect(readme, code).toContain(code);
  });

  it('keeps /healthz, /readyz and /metrics next to the API', async () => {
    const c = gw.client();
    expect((await c.get('/healthz')).status).toBe(200);
    expect((await c.get('/readyz')).status).toBe(200);
    expect((await c.get('/metrics')).status).toBe(200);
  });
});
