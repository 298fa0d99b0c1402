// Rotation stories: the operator rotates a VoIP password while phones are registered, with and without grace,
// and with --drop-bindings; the real `sipedge` CLI in a separate process reaches the running edge.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Phone } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';

const run = promisify(execFile);
const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

for (const store of ['memory', 'redis'] as const) {
  describe(`rotation (${store} store)`, () => {
    let edge: TestEdge;
    const clients: SipPeer[] = [];

    async function setup(): Promise<void> {
      edge = await startEdge({ store });
      await edge.cli(async (p) => {
        await p.addTenant('acme', DOMAIN);
        await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: PW });
      });
      // The CLI wrote through its own store; wait until the running edge sees it (tailing, < 1 s).
      expect(await eventually(async () => !!(await edge.app.stores.accounts.getExtension('acme', '1001')))).toBe(true);
    }

    async function phone(password: string): Promise<Phone> {
      const client = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
      clients.push(client);
      return new Phone(client, { ext: '1001', domain: DOMAIN, password });
    }

    /** Runs the real CLI against the edge's data dir / redis. */
    async function cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
      const env = {
        ...process.env,
        SIPEDGE_DATA_DIR: edge.config.dataDir,
        SIPEDGE_STORE: edge.config.store,
        SIPEDGE_REDIS_URL: edge.config.redis.url,
        SIPEDGE_REDIS__KEY_PREFIX: edge.config.redis.keyPrefix,
      };
      return run(process.execPath, ['bin/sipedge.js', ...args], { env });
    }

    afterEach(async () => {
      for (const c of clients.splice(0)) await c.close();
      await edge?.stop();
    });

    it('rotates without grace: the new password registers, the old one fails as a stale credential (not a guess)', async () => {
      await setup();
      const { stdout } = await cli('ext', 'rotate', '1001@acme');
      const fresh = stdout.trim();
      expect(fresh.length).toBeGreaterThanOrEqual(20);
      expect(fresh).not.toBe(PW);
      const oldPhone = await phone(PW);
      expect(await eventually(async () => (await oldPhone.register({ expires: 300 })).status === 401)).toBe(true);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'stale-credential' })).toBeGreaterThanOrEqual(1);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' })).toBe(0);
      const newPhone = await phone(fresh);
      expect((await newPhone.register({ expires: 300 })).status).toBe(200);
      expect(edge.logs.some((l) => l.includes('auth.stale_credential'))).toBe(true);
    });

    it('rotates with --grace: the old password keeps working during the grace window', async () => {
      await setup();
      const { stdout } = await cli('ext', 'rotate', '1001@acme', '--grace', '10m');
      const fresh = stdout.trim();
      const newPhone = await phone(fresh);
      expect(await eventually(async () => (await newPhone.register({ expires: 300 })).status === 200)).toBe(true);
      const oldPhone = await phone(PW);
      expect((await oldPhone.register({ expires: 300 })).status).toBe(200);
    });

    it('rotates with --drop-bindings: current registrations disappear at once', async () => {
      await setup();
      const p = await phone(PW);
      expect((await p.register({ expires: 600 })).status).toBe(200);
      expect(await edge.metric('sipedge_registrations_active')).toBe(1);
      await cli('ext', 'rotate', '1001@acme', '--drop-bindings');
      expect(await eventually(async () => (await edge.metric('sipedge_registrations_active')) === 0)).toBe(true);
    });

    it('never shows a password in ext show, and no secret reaches the logs', async () => {
      await setup();
      const { stdout: fresh } = await cli('ext', 'rotate', '1001@acme');
      const p = await phone(fresh.trim());
      expect(await eventually(async () => (await p.register({ expires: 300 })).status === 200)).toBe(true);
      const { stdout } = await cli('ext', 'show', '1001@acme', '--json');
      const view = JSON.parse(stdout) as Record<string, unknown>;
      expect(view.extension).toBe('1001');
      expect(stdout).not.toContain(fresh.trim());
      expect(stdout).not.toContain(PW);
      const all = edge.logs.join('\n');
      expect(all.length).toBeGreaterThan(0);
      for (const secret of [PW, fresh.trim()]) expect(all).not.toContain(secret);
      expect(all).not.toMatch(/response="[0-9a-f]{32,64}"/);
    });
  });
}
