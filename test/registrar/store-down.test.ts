// A phone against an edge on its own redis-server that goes away and comes back: while Redis cannot be reached every
// REGISTER and call is answered 503 with Retry-After (DESIGN.md §11), the edge logs store.unavailable and no bug;
// once Redis is back (its append-only file kept the accounts) the phone registers again.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/global-setup.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { Phone } from '../helpers/phone.ts';
import { SipPeer, type Msg } from '../helpers/sip-peer.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

let edge: TestEdge | undefined;
let client: SipPeer | undefined;
let dir = '';
let port = 0;

afterEach(async () => {
  await client?.close();
  await edge?.stop();
  edge = undefined;
  client = undefined;
  shutdownRedis();
  rmSync(dir, { recursive: true, force: true });
});

/** This test's own redis-server, with an append-only file so the accounts survive its restart. */
function startRedis(): void {
  execFileSync('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
    '--daemonize', 'yes', '--pidfile', join(dir, 'redis.pid'), '--dir', dir, '--logfile', join(dir, 'redis.log'),
  ]);
}

function shutdownRedis(): void {
  try {
    execFileSync('redis-cli', ['-p', String(port), 'shutdown'], { stdio: 'pipe' });
  } catch {
    // Already down, or redis-cli reports the dropped connection as an error: the server is down either way.
  }
}

/** An INVITE from 1001 to 1002 without credentials (the proxy would challenge it with 407 when the store is up). */
function invite(c: SipPeer, callId: string): string {
  return [
    `INVITE sip:1002@${DOMAIN} SIP/2.0`,
    `Via: ${c.via};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:1001@${DOMAIN}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:1002@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <${c.contact}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const retryAfter = (r: Msg): string | undefined => r.header('retry-after');

describe('an edge on Redis while Redis is down', () => {
  it('answers REGISTER and INVITE 503 with Retry-After, logs store.unavailable, and registers again once Redis is back', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-store-down-'));
    port = await freePort();
    startRedis();
    edge = await startEdge({ store: 'redis', overrides: { redis: { url: `redis://127.0.0.1:${port}` } } });
    await edge.cli(async (p) => {
      await p.addTenant('acme', DOMAIN);
      for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
    });
    client = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
    const phone = new Phone(client, { ext: '1001', domain: DOMAIN, password: PW });
    expect((await phone.register({ expires: 600 })).status).toBe(200);

    shutdownRedis();
    let refused: Msg | undefined;
    expect(
      await eventually(async () => {
        refused = await phone.register({ expires: 600 }).catch(() => undefined);
        return refused !== undefined && refused.status !== 200;
      }, 10_000),
    ).toBe(true);
    expect(refused!.status).toBe(503);
    expect(retryAfter(refused!)).toBe('5');
    const callId = `${randomBytes(6).toString('hex')}@test`;
    const answer = await client.sendRequest(invite(client, callId), callId, 1);
    expect(answer.status).toBe(503);
    expect(retryAfter(answer)).toBe('5');
    const events = edge.logs.map((l) => (JSON.parse(l) as { event?: string }).event);
    expect(events).toContain('store.unavailable');
    expect(events.filter((e) => e !== undefined && e.endsWith('.error'))).toEqual([]);

    startRedis();
    expect(await eventually(async () => (await phone.register({ expires: 600 }).catch(() => undefined))?.status === 200, 15_000)).toBe(true);
  });
});
