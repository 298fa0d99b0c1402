// POST /api/moh and GET /api/moh on the edge's HTTP server: bearer-token operator access, multipart upload with the
// refusal reasons, and a body over the limit cut off while it is still being sent (not buffered whole).
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type TestEdge } from '../helpers/edge.ts';
import { makeWav, tone } from './audio-fixtures.ts';

const TOKEN = 'op-token-4f8a1c2e9b';
let edge: TestEdge;

beforeAll(async () => {
  edge = await startEdge({ overrides: { media: { apiToken: TOKEN, holdMaxBytes: 300_000 } } });
  await edge.app.stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
});
afterAll(async () => {
  await edge.stop();
});

function form(fields: Record<string, string>, file?: { name: string; bytes: Buffer }): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  if (file) f.append('file', new Blob([new Uint8Array(file.bytes)]), file.name);
  return f;
}

async function post(body: FormData | string, token: string | null = TOKEN, query = ''): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`http://127.0.0.1:${edge.httpPort}/api/moh${query}`, {
    method: 'POST',
    body,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

describe('POST /api/moh and GET /api/moh', () => {
  it('refuses callers without the operator token (401) and compares it as a whole', async () => {
    const f = () => form({ tenant: 'acme', class: 'hold' }, { name: 'a.wav', bytes: makeWav(tone(8000, 1, 440), 8000, 'pcm16') });
    expect((await post(f(), null)).status).toBe(401);
    expect((await post(f(), 'wrong')).status).toBe(401);
    expect((await post(f(), TOKEN.slice(0, -1))).status).toBe(401);
    const get = await fetch(`http://127.0.0.1:${edge.httpPort}/api/moh`);
    expect(get.status).toBe(401);
    expect(get.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('activates an uploaded WAV (201) and lists it as active, then a refused WMA as failed with the reason', async () => {
    const ok = await post(form({ tenant: 'acme', class: 'hold' }, { name: 'hold.wav', bytes: makeWav(tone(22050, 1.5, 440, 0.3, 2), 22050, 'pcm16') }));
    expect(ok.status).toBe(201);
    expect(ok.json.version).toMatchObject({ tenant: 'acme', class: 'hold', status: 'active', sourceName: 'hold.wav', description: 'WAV PCM 16-bit 22050 Hz stereo', durationMs: 1500 });
    const wma = Buffer.concat([Buffer.from('3026b2758e66cf11a6d900aa0062ce6c', 'hex'), Buffer.alloc(5000)]);
    const bad = await post(form({ tenant: 'acme', class: 'hold' }, { name: 'song.wma', bytes: wma }));
    expect(bad.status).toBe(415);
    expect(bad.json).toMatchObject({ error: 'SIPEDGE_ERR_UPLOAD_REFUSED', reason: 'unsupported-format' });
    expect(bad.json.message).toBe('song.wma: Windows Media (WMA/WMV) is not supported; upload a WAV or MP3 file');
    const list = await fetch(`http://127.0.0.1:${edge.httpPort}/api/moh?tenant=acme`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const versions = ((await list.json()) as { versions: Record<string, unknown>[] }).versions;
    expect(versions.map((v) => [v.sourceName, v.status])).toEqual([['song.wma', 'failed'], ['hold.wav', 'active']]);
    expect(versions[0]!.reason).toContain('Windows Media');
    expect(typeof versions[1]!.activatedAt).toBe('string');
  });

  it('answers 400/404 for a missing file, a bad class and an unknown tenant, naming the problem', async () => {
    const wav = { name: 'a.wav', bytes: makeWav(tone(8000, 1, 440), 8000, 'pcm16') };
    const noFile = await post(form({ tenant: 'acme', class: 'hold' }));
    expect(noFile.status).toBe(400);
    const badClass = await post(form({ tenant: 'acme', class: 'lobby' }, wav));
    expect(badClass.status).toBe(400);
    expect(badClass.json.message).toBe('class "lobby" is not hold or queue');
    const unknown = await post(form({ tenant: 'nobody', class: 'hold' }, wav));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toBe('SIPEDGE_ERR_TENANT_UNKNOWN');
    const notMultipart = await post('plain text');
    expect(notMultipart.status).toBe(415);
  });

  it('cuts off an upload over the limit while it is still being sent (413), keeping the active music', async () => {
    const boundary = 'XbOuNdArY';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="tenant"\r\n\r\nacme\r\n--${boundary}\r\nContent-Disposition: form-data; name="class"\r\n\r\nhold\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
    const chunk = Buffer.alloc(64 * 1024, 0x11);
    const total = 20 * 1024 * 1024; // announced: 20 MB
    let written = 0;
    const result = await new Promise<{ status: number; body: string; written: number }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: edge.httpPort,
        method: 'POST',
        path: '/api/moh',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + total) },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, written }));
      });
      req.on('error', (e) => (answered ? undefined : reject(e)));
      req.write(head);
      const pump = () => {
        while (!answered && written < total) {
          written += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end();
      };
      pump();
    });
    expect(result.status).toBe(413);
    const json = JSON.parse(result.body) as Record<string, string>;
    expect(json.error).toBe('SIPEDGE_ERR_UPLOAD_TOO_LARGE');
    expect(json.message).toMatch(/^huge\.wav is over 0\.3\d MB; hold music may be at most 0\.3 MB \(media\.holdMaxBytes\)$/);
    // The answer came long before the 20 MB were sent.
    expect(result.written).toBeLessThan(8 * 1024 * 1024);
    const active = await edge.app.stores.media.active('acme', 'hold');
    expect(active?.sourceName).toBe('hold.wav');
  });
});
