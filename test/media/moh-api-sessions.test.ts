// /api/moh through gateway sessions (the portal's way in): a tenant admin uploads for their own tenant only, an
// operator for any, a plain user is refused, and a session upload without the CSRF header is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayEdge, PASSWORDS, type Client, type GatewayEdge } from '../gateway/api.ts';
import { makeWav, tone } from './audio-fixtures.ts';

let gw: GatewayEdge;

beforeAll(async () => {
  gw = await startGatewayEdge('memory');
});
afterAll(async () => {
  await gw.stop();
});

async function as(username: string, password: string): Promise<Client> {
  const c = gw.client();
  expect((await c.login(username, password)).status).toBe(200);
  return c;
}

async function upload(c: Client, tenant: string, opts: { csrf?: boolean } = {}): Promise<{ status: number; json: any }> {
  const f = new FormData();
  f.append('tenant', tenant);
  f.append('class', 'hold');
  f.append('file', new Blob([new Uint8Array(makeWav(tone(8000, 1, 440, 0.3), 8000, 'pcm16'))]), 'hold.wav');
  const headers: Record<string, string> = {};
  if (c.cookie) headers.cookie = c.cookie;
  if (c.csrf && opts.csrf !== false) headers['x-csrf-token'] = c.csrf;
  const res = await fetch(`http://127.0.0.1:${gw.edge.httpPort}/api/moh`, { method: 'POST', body: f, headers });
  return { status: res.status, json: await res.json() };
}

describe('hold-music API with gateway sessions', () => {
  it('lets a tenant admin upload for their own tenant only, whatever tenant the form names', async () => {
    const carol = await as('2001-globex', PASSWORDS.carol);
    const r = await upload(carol, 'acme');
    expect(r.status).toBe(201);
    expect(r.json.version).toMatchObject({ tenant: 'globex', class: 'hold', status: 'active' });
    const list = await carol.get('/api/moh?tenant=acme');
    expect(list.status).toBe(200);
    expect(list.body.versions.map((v: { tenant: string }) => v.tenant)).toEqual(['globex']);
  });

  it('lets an operator upload for any tenant', async () => {
    const oscar = await as('9000-ops', PASSWORDS.oscar);
    const r = await upload(oscar, 'acme');
    expect(r.status).toBe(201);
    expect(r.json.version).toMatchObject({ tenant: 'acme', status: 'active' });
  });

  it('refuses a plain user (403), a session upload without the CSRF header (403) and no session (401)', async () => {
    const alice = await as('1001-acme', PASSWORDS.alice);
    const byUser = await upload(alice, 'acme');
    expect(byUser.status).toBe(403);
    expect(byUser.json.error).toBe('SIPEDGE_ERR_API_FORBIDDEN');
    expect((await alice.get('/api/moh')).status).toBe(403);
    const carol = await as('2001-globex', PASSWORDS.carol);
    const noCsrf = await upload(carol, 'globex', { csrf: false });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.json.error).toBe('SIPEDGE_ERR_API_CSRF');
    expect((await upload(gw.client(), 'acme')).status).toBe(401);
  });
});
