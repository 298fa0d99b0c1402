// Mutated bodies against every route that takes one (seeded, reproducible): whatever arrives, the answer is a
// success or a 4xx with a SIPEDGE_ERR_API_* code, never a 5xx, and the edge keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayEdge, PASSWORDS, type Client, type GatewayEdge } from './api.ts';
import { rng } from '../helpers/rng.ts';

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

function randomValue(r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * (depth > 2 ? 7 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 2e9) - 1e9;
    case 3: return r() * 1e6;
    case 4: return '';
    case 5: return String.fromCodePoint(...Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 0x2fff)));
    case 6: return 'x'.repeat(Math.floor(r() * 3000));
    case 7: return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}`, randomValue(r, depth + 1)]));
  }
}

const VALID: Array<[string, string, Record<string, unknown>]> = [
  ['POST', '/api/login', { username: '1002-acme', password: PASSWORDS.bob }],
  ['POST', '/api/password/forgot', { username: '1002-acme' }],
  ['POST', '/api/password/reset', { token: 'a'.repeat(43), newPassword: 'Some-pass-123' }],
  ['POST', '/api/provisioning/redeem', { token: 'a'.repeat(43) }],
  ['POST', '/api/2fa/activate', { code: '123456' }],
  ['POST', '/api/2fa/disable', { password: 'x', code: '123456' }],
  ['POST', '/api/voip/sip-password', { graceSeconds: 10, dropBindings: false }],
  ['POST', '/api/admin/tenants', { code: 'fuzzco', domain: 'fuzz.example.com' }],
  ['POST', '/api/admin/tenants/acme/extensions', { ext: '1500', email: 'f@example.com', role: 'user', delivery: 'token' }],
  ['PATCH', '/api/admin/tenants/acme/extensions/1002', { email: 'bob@example.com', role: 'user' }],
  ['POST', '/api/admin/tenants/acme/extensions/1002/login-password', { password: 'Bob-login-pw22' }],
  ['POST', '/api/admin/tenants/acme/extensions/1002/sip-password', { graceSeconds: 0, dropBindings: true, delivery: 'response' }],
];

function mutate(r: () => number, valid: Record<string, unknown>): unknown {
  const body: Record<string, unknown> = { ...valid };
  const keys = Object.keys(body);
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    const what = r();
    const k = keys[Math.floor(r() * keys.length)]!;
    if (what < 0.4) body[k] = randomValue(r);
    else if (what < 0.6) delete body[k];
    else if (what < 0.75) body[`extra${i}`] = randomValue(r);
    else if (what < 0.85) return randomValue(r);
    else body[k] = String(body[k]) + String.fromCodePoint(Math.floor(r() * 0x10ffff) & 0xd7ff);
  }
  return body;
}

describe('gateway fuzz', () => {
  it.each(VALID.map((v, i) => [i, ...v] as const))('route %i %s %s never answers 5xx to mutated bodies', async (i, method, path, valid) => {
    const r = rng(0x5eed + i);
    for (let n = 0; n < 40; n++) {
      const body = mutate(r, valid);
      const res = await oscar.call(method, path, body);
      expect(res.status, `seed ${0x5eed + i} #${n}: ${JSON.stringify(body).slice(0, 200)}`).toBeLessThan(500);
      if (res.status >= 400) expect(res.body.error).toMatch(/^SIPEDGE_ERR_API_/);
    }
    expect((await gw.client().get('/healthz')).status).toBe(200);
  });
});
