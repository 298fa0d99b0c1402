// Attack stories over real sockets: lockout after repeated failures, the lockout that cannot be used as a weapon
// against a registered phone, source bans, scanner drops, and the operator's unlock.
import { afterEach, describe, expect, it } from 'vitest';
import { digestAuthorization, param, Phone } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

for (const store of ['memory', 'redis'] as const) {
  describe(`lockout and bans (${store} store)`, () => {
    let edge: TestEdge;
    const clients: SipPeer[] = [];

    async function setup(exts = ['1001']): Promise<void> {
      edge = await startEdge({ store });
      await edge.cli(async (p) => {
        await p.addTenant('acme', DOMAIN);
        for (const ext of exts) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
      });
      // The CLI wrote through its own store; wait until the running edge sees it (tailing, < 1 s).
      expect(await eventually(async () => !!(await edge.app.stores.accounts.getExtension('acme', exts[exts.length - 1]!)))).toBe(true);
    }

    async function phoneAt(ip: string, ext: string, password: string, userAgent?: string): Promise<Phone> {
      const client = await SipPeer.open({ transport: 'udp', port: edge.udpPort, localAddress: ip });
      clients.push(client);
      return new Phone(client, { ext, domain: DOMAIN, password, userAgent });
    }

    afterEach(async () => {
      for (const c of clients.splice(0)) await c.close();
      await edge?.stop();
    });

    it('locks an extension after 5 failed digests: 403 even for the right password, until the operator unlocks it', async () => {
      await setup();
      const guesser = await phoneAt('127.0.0.3', '1001', 'guess-1');
      for (let i = 0; i < 5; i++) expect((await guesser.register({ expires: 300 })).status).toBe(401);
      const owner = await phoneAt('127.0.0.4', '1001', PW);
      const locked = await owner.register({ expires: 300 });
      expect(locked.status).toBe(403);
      expect(await edge.metric('sipedge_auth_lockouts_total')).toBe(1);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'locked' })).toBeGreaterThanOrEqual(1);
      await edge.cli((p) => p.unlock({ ext: '1001', tenant: 'acme' }));
      // The CLI's unlock reaches the running edge (through the journal for the embedded store).
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        status = (await owner.register({ expires: 300 })).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe(200);
    });

    it('keeps the proven phone registered while a scanner at another address hammers the extension', async () => {
      await setup();
      const phone = await phoneAt('127.0.0.1', '1001', PW);
      expect((await phone.register({ expires: 300 })).status).toBe(200);
      const attacker = await phoneAt('127.0.0.2', '1001', 'not-the-password');
      const statuses: number[] = [];
      for (let round = 0; round < 8; round++) {
        statuses.push((await attacker.register({ expires: 300 })).status);
        // The phone keeps refreshing its registration throughout the attack.
        expect((await phone.register({ expires: 300 })).status).toBe(200);
      }
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual([403, 403, 403]);
      // A stranger with the right password is still locked out: the lock is real for everyone else.
      const stranger = await phoneAt('127.0.0.5', '1001', PW);
      expect((await stranger.register({ expires: 300 })).status).toBe(403);
    });

    it('locks only a trusted phone that keeps failing itself, and the operator unlock frees it', async () => {
      await setup();
      const phone = await phoneAt('127.0.0.9', '1001', PW);
      expect((await phone.register({ expires: 300 })).status).toBe(200);
      // The user retypes the password wrongly on the phone that used to work.
      for (let i = 0; i < 5; i++) expect((await phone.register({ expires: 300, password: 'typo-password' })).status).toBe(401);
      expect((await phone.register({ expires: 300 })).status).toBe(403);
      // Other sources are not locked by the phone's own failures.
      const other = await phoneAt('127.0.0.10', '1001', PW);
      expect((await other.register({ expires: 300 })).status).toBe(200);
      await edge.cli((p) => p.unlock({ ext: '1001', tenant: 'acme' }));
      expect(await eventually(async () => (await phone.register({ expires: 300 })).status === 200)).toBe(true);
    });

    it("cannot lock the proven phone out with nonces taken elsewhere and the phone's address as source", async () => {
      await setup();
      const phone = await phoneAt('127.0.0.1', '1001', PW);
      expect((await phone.register({ expires: 300 })).status).toBe(200);
      // Mallory takes a nonce at her own address, then sends wrong digests with the phone's address as source (a
      // forged UDP source, or the same NAT): from another port of 127.0.0.1.
      const mallory = await phoneAt('127.0.0.2', '1001', 'guess');
      const first = mallory.buildRegister({ expires: 300 });
      const challenge = (await mallory.client.sendRequest(first.text, mallory.callId, first.cseq)).headers('www-authenticate')[0]!;
      const forger = await phoneAt('127.0.0.1', '1001', 'guess');
      for (let i = 0; i < 8; i++) {
        const authorization = digestAuthorization(challenge, { username: '1001', password: `guess-${i}`, method: 'REGISTER', uri: `sip:${DOMAIN}` });
        const forged = forger.buildRegister({ expires: 300, authorization });
        const res = await forger.client.sendRequest(forged.text, forger.callId, forged.cseq);
        // Not the nonce this source was given: a fresh challenge, the response never evaluated.
        expect(res.status).toBe(401);
        expect(param(res.headers('www-authenticate')[0]!, 'stale')).toBe('true');
      }
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' })).toBe(0);
      expect(await edge.metric('sipedge_auth_lockouts_total')).toBe(0);
      // The same NAT with nonces of its own: its port is not the phone's, so it locks the extension for strangers only.
      for (let i = 0; i < 5; i++) expect((await forger.register({ expires: 300 })).status).toBe(401);
      expect((await forger.register({ expires: 300 })).status).toBe(403);
      expect(await edge.metric('sipedge_auth_lockouts_total')).toBe(1);
      expect((await phone.register({ expires: 300 })).status).toBe(200);
    });

    it("re-challenges a phone whose NAT moved it to another port, without counting a failure", async () => {
      await setup();
      const before = await phoneAt('127.0.0.11', '1001', PW);
      const first = before.buildRegister({ expires: 300 });
      const challenge = (await before.client.sendRequest(first.text, before.callId, first.cseq)).headers('www-authenticate')[0]!;
      const auth = (nc: number) => digestAuthorization(challenge, { username: '1001', password: PW, method: 'REGISTER', uri: `sip:${DOMAIN}`, nc });
      const ok = before.buildRegister({ expires: 300, authorization: auth(1) });
      expect((await before.client.sendRequest(ok.text, before.callId, ok.cseq)).status).toBe(200);
      // The NAT mapping changes: the phone's next refresh, with its nonce and the next nc, comes from a new port.
      const after = await phoneAt('127.0.0.11', '1001', PW);
      const moved = after.buildRegister({ expires: 300, authorization: auth(2) });
      const res = await after.client.sendRequest(moved.text, after.callId, moved.cseq);
      expect(res.status).toBe(401);
      expect(param(res.headers('www-authenticate')[0]!, 'stale')).toBe('true');
      // Answering that challenge (a phone does so without asking its user) registers it again.
      expect((await after.answer(res, { expires: 300 })).status).toBe(200);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' })).toBe(0);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'stale-nonce' })).toBe(1);
    });

    it('bans (drops silently) a source that fails on 10 different extensions', async () => {
      const exts = Array.from({ length: 11 }, (_, i) => String(2001 + i));
      await setup(exts);
      const scanner = await phoneAt('127.0.0.6', exts[0]!, 'x');
      for (const ext of exts.slice(0, 10)) {
        const p = new Phone(scanner.client, { ext, domain: DOMAIN, password: 'wrong' });
        expect((await p.register({ expires: 300 })).status).toBe(401);
      }
      expect(await edge.metric('sipedge_auth_bans_total')).toBe(1);
      const last = new Phone(scanner.client, { ext: exts[10]!, domain: DOMAIN, password: PW });
      await expect(last.register({ expires: 300 })).rejects.toThrow(/no matching SIP response/);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'banned' })).toBeGreaterThanOrEqual(1);
      // Another source is not affected.
      const owner = await phoneAt('127.0.0.7', exts[10]!, PW);
      expect((await owner.register({ expires: 300 })).status).toBe(200);
    });

    it('drops requests from known scanner User-Agents without answering', async () => {
      await setup();
      const sv = await phoneAt('127.0.0.8', '1001', PW, 'friendly-scanner');
      await expect(sv.register({ expires: 300 })).rejects.toThrow(/no matching SIP response/);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'scanner' })).toBe(1);
    });
  });
}
