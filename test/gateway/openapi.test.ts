// The OpenAPI document as an API client reads it: valid OpenAPI 3.1 to a real parser (@readme/openapi-parser), and
// complete: every route fastify registered is in it with its method, an operationId and a 2xx response schema, unless
// hidden on purpose. And the trap of generating it from the response schemas: fastify serializes a reply by its
// schema and silently drops a field the schema does not list, so a story over the main routes compares what each
// handler handed fastify with what the client received.
import { compileErrors, validate } from '@readme/openapi-parser';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_PATHS } from '../../src/gateway/portal-routes.ts';
import { register } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { makeWav, tone } from '../media/audio-fixtures.ts';
import { PASSWORDS, startGatewayEdge, type Client, type GatewayEdge } from './api.ts';

/** Every route fastify registered, as its onRoute hook saw it. */
const routes: RouteOptions[] = [];
/** The JSON a handler (or the error handler) gave fastify, by request, before serialization. */
const handedOver = new WeakMap<FastifyRequest, string>();
/** "METHOD url status" of every JSON answer compared, and the ones that lost or changed something on the way. */
const compared = new Set<string>();
const altered: string[] = [];

function watch(app: FastifyInstance): void {
  app.addHook('onRoute', (r) => {
    routes.push(r);
  });
  app.addHook('preSerialization', async (req, _reply, payload) => {
    handedOver.set(req, JSON.stringify(payload));
    return payload;
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const before = handedOver.get(req);
    if (before === undefined || typeof payload !== 'string') return payload;
    const key = `${req.method} ${req.routeOptions.url} ${reply.statusCode}`;
    compared.add(key);
    if (!isDeepStrictEqual(JSON.parse(payload), JSON.parse(before))) altered.push(`${key}\n  handler: ${before}\n  sent:    ${payload}`);
    return payload;
  });
}

let gw: GatewayEdge;

beforeAll(async () => {
  gw = await startGatewayEdge('memory', {}, { inspectHttp: watch });
});
afterAll(async () => {
  await gw.stop();
});

const asPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}');

async function as(username: string, password: string): Promise<Client> {
  const c = gw.client();
  expect((await c.login(username, password)).status).toBe(200);
  return c;
}

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document to @readme/openapi-parser, with the relative server "/"', async () => {
    const r = await gw.client().get('/api/openapi.json');
    expect(r.status).toBe(200);
    const result = await validate(structuredClone(r.body));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(r.body.openapi).toBe('3.1.0');
    expect(r.body.servers.map((s: { url: string }) => s.url)).toEqual(['/']);
  });

  it('lists every route fastify registered, with its method, an operationId and a 2xx response schema, unless hidden', async () => {
    const doc = (await gw.client().get('/api/openapi.json')).body;
    const shown = routes.filter((r) => r.method !== 'HEAD' && (r.schema as { hide?: boolean } | undefined)?.hide !== true);
    const hidden = routes.filter((r) => (r.schema as { hide?: boolean } | undefined)?.hide === true);
    // Hiding is for the portal's pages and files only: anything else hidden would be an API left undocumented.
    for (const r of hidden) expect(PAGE_PATHS.includes(r.url) || r.url.startsWith('/assets/'), r.url).toBe(true);
    expect(shown.map((r) => r.url)).toEqual(expect.arrayContaining(['/api/login', '/api/moh', '/healthz', '/readyz', '/metrics', '/provision/:file']));
    const ids = new Set<string>();
    for (const r of shown) {
      for (const method of [r.method].flat()) {
        const where = `${method} ${r.url}`;
        const op = doc.paths[asPath(r.url)]?.[method.toLowerCase()];
        expect(op, where).toBeDefined();
        expect(op.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
        expect(ids.has(op.operationId), `${where}: operationId ${op.operationId} twice`).toBe(false);
        ids.add(op.operationId);
        expect(op.tags?.length, where).toBeGreaterThan(0);
        const success = Object.entries(op.responses as Record<string, { content?: Record<string, { schema?: unknown }> }>).filter(([s]) => s.startsWith('2'));
        expect(success.length, `${where}: no 2xx response`).toBeGreaterThan(0);
        // A 204 has no body; every other 2xx names its body's schema.
        for (const [status, res] of success) if (status !== '204') expect(Object.values(res.content ?? {})[0]?.schema, `${where} ${status}`).toBeDefined();
      }
    }
    // And nothing in the document that the server does not serve.
    const served = new Set(shown.flatMap((r) => [r.method].flat().map((m) => `${m.toLowerCase()} ${asPath(r.url)}`)));
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) expect(served.has(`${method} ${path}`), `${method} ${path}`).toBe(true);
    }
  });

  it('describes the hold-music upload as multipart/form-data and every error with the shared ApiError body', async () => {
    const doc = (await gw.client().get('/api/openapi.json')).body;
    const upload = doc.paths['/api/moh'].post;
    expect(upload.requestBody.content['multipart/form-data'].schema.required).toEqual(['file']);
    expect(upload.responses['413'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ApiError' });
    expect(doc.components.schemas.ApiError.required).toEqual(['error', 'message']);
    const login = doc.paths['/api/login'].post;
    expect(Object.keys(login.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '429', '5XX']));
    expect(doc.paths['/api/me'].get.security).toEqual([{ session: [] }]);
    expect(doc.paths['/metrics'].get.responses['200'].content['text/plain']).toBeDefined();
  });
});

describe('response schemas', () => {
  it('send every field the handlers return, through a story over the main routes', async () => {
    const anon = gw.client();
    expect((await anon.get('/healthz')).status).toBe(200);
    expect((await anon.get('/readyz')).status).toBe(200);
    expect((await anon.login('1001-acme', 'wrong password')).status).toBe(401);
    expect((await anon.post('/api/password/forgot', { username: '1001-acme' })).status).toBe(202);
    expect((await anon.post('/api/login', { username: 1001 })).status).toBe(400);

    // Alice: her settings, a new VoIP password (then her phone registers with it), 2FA setup, a weak new password.
    const alice = await as('1001-acme', PASSWORDS.alice);
    expect((await alice.get('/api/me')).status).toBe(200);
    expect((await alice.get('/api/voip')).status).toBe(200);
    expect((await alice.get('/api/voip/webrtc')).status).toBe(200);
    const rotated = await alice.post('/api/voip/sip-password', {});
    expect(rotated.status).toBe(200);
    expect(rotated.body.linphone.url).toContain('/provision/');
    const phone = await SipPeer.open({ transport: 'udp', port: gw.edge.udpPort, localAddress: '127.0.0.1' });
    try {
      expect(await register(phone, '1001', 'acme.example.com', rotated.body.voipPassword)).toBe(200);
    } finally {
      await phone.close();
    }
    expect((await alice.post('/api/2fa/setup')).status).toBe(200);
    const weak = await alice.post('/api/password', { currentPassword: PASSWORDS.alice, newPassword: 'short' });
    expect(weak.status).toBe(400);
    expect(weak.body.violations.length).toBeGreaterThan(0);

    // Oscar, operator: tenants and extensions, both ways of delivering a VoIP password, a generated login password.
    const oscar = await as('9000-ops', PASSWORDS.oscar);
    expect((await oscar.get('/api/admin/tenants')).status).toBe(200);
    expect((await oscar.post('/api/admin/tenants', { code: 'initech', domain: 'initech.example.com' })).status).toBe(201);
    expect((await oscar.get('/api/admin/tenants/initech')).status).toBe(200);
    expect((await oscar.post('/api/admin/tenants/initech/extensions', { ext: '100', email: 'peter@example.com' })).status).toBe(201);
    const byToken = await oscar.post('/api/admin/tenants/initech/extensions', { ext: '101', delivery: 'token' });
    expect(byToken.status).toBe(201);
    expect((await oscar.get('/api/admin/tenants/initech/extensions')).status).toBe(200);
    const withBinding = await oscar.get('/api/admin/tenants/acme/extensions/1001');
    expect(withBinding.body.bindings).toHaveLength(1);
    expect((await oscar.call('PATCH', '/api/admin/tenants/initech/extensions/100', { email: null, role: 'tenant-admin' })).status).toBe(200);
    expect((await oscar.post('/api/admin/tenants/initech/extensions/100/login-password', {})).status).toBe(200);
    const again = await oscar.post('/api/admin/tenants/initech/extensions/101/sip-password', { delivery: 'token' });
    expect(again.status).toBe(200);
    expect((await oscar.post('/api/admin/tenants/initech/extensions', { ext: '100' })).status).toBe(409);
    // The first token holds a password rotated since: refused; the second one redeems.
    expect((await anon.post('/api/provisioning/redeem', { token: byToken.body.provisioningToken })).status).toBe(400);
    expect((await anon.post('/api/provisioning/redeem', { token: again.body.provisioningToken })).status).toBe(200);

    // Carol, tenant admin: hold music, uploaded and listed.
    const carol = await as('2001-globex', PASSWORDS.carol);
    const form = new FormData();
    form.append('tenant', 'globex');
    form.append('class', 'hold');
    form.append('file', new Blob([new Uint8Array(makeWav(tone(8000, 1, 440, 0.3), 8000, 'pcm16'))]), 'hold.wav');
    const up = await fetch(`http://127.0.0.1:${gw.edge.httpPort}/api/moh`, {
      method: 'POST',
      body: form,
      headers: { cookie: carol.cookie!, 'x-csrf-token': carol.csrf! },
    });
    expect(up.status).toBe(201);
    expect((await carol.get('/api/moh')).status).toBe(200);
    expect((await anon.get('/api/moh')).status).toBe(401);

    // Bob guesses until the limit answers 429 with retryAfter.
    let last = 0;
    for (let i = 0; i < 6 && last !== 429; i++) last = (await anon.login('1002-acme', `wrong-${i}`)).status;
    expect(last).toBe(429);

    expect(altered, altered.join('\n')).toEqual([]);
    expect([...compared]).toEqual(expect.arrayContaining([
      'GET /healthz 200', 'GET /readyz 200', 'POST /api/login 200', 'POST /api/login 401', 'POST /api/login 400', 'POST /api/login 429',
      'POST /api/password/forgot 202', 'GET /api/me 200', 'GET /api/voip 200', 'GET /api/voip/webrtc 200',
      'POST /api/voip/sip-password 200', 'POST /api/2fa/setup 200', 'POST /api/password 400', 'GET /api/admin/tenants 200',
      'POST /api/admin/tenants 201', 'GET /api/admin/tenants/:tenant 200', 'POST /api/admin/tenants/:tenant/extensions 201',
      'GET /api/admin/tenants/:tenant/extensions 200', 'GET /api/admin/tenants/:tenant/extensions/:ext 200',
      'PATCH /api/admin/tenants/:tenant/extensions/:ext 200', 'POST /api/admin/tenants/:tenant/extensions/:ext/login-password 200',
      'POST /api/admin/tenants/:tenant/extensions/:ext/sip-password 200', 'POST /api/admin/tenants/:tenant/extensions 409',
      'POST /api/provisioning/redeem 400', 'POST /api/provisioning/redeem 200', 'POST /api/moh 201', 'GET /api/moh 200', 'GET /api/moh 401',
    ]));
  });
});
