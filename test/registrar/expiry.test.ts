// Time-driven registrar stories on an injected clock (no sleeps): stale nonces and bindings that expire on time;
// plus what a phone sees when it sends a malformed REGISTER.
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { FakeClock } from '../../src/clock.ts';
import { digestAuthorization, Phone, param } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

for (const store of ['memory', 'redis'] as const) {
  describe(`registrar timing and bad input (${store} store)`, () => {
    let edge: TestEdge;
    let clock: FakeClock;
    const clients: SipPeer[] = [];

    async function setup(): Promise<Phone> {
      clock = new FakeClock(Date.now());
      edge = await startEdge({ store, clock });
      await edge.cli(async (p) => {
        await p.addTenant('acme', DOMAIN);
        await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: PW });
      });
      expect(await eventually(async () => !!(await edge.app.stores.accounts.getExtension('acme', '1001')))).toBe(true);
      const client = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
      clients.push(client);
      return new Phone(client, { ext: '1001', domain: DOMAIN, password: PW });
    }

    afterEach(async () => {
      for (const c of clients.splice(0)) await c.close();
      await edge?.stop();
    });

    it('answers an expired nonce with 401 stale=true and does not count it as a failure', async () => {
      const alice = await setup();
      const first = alice.buildRegister({ expires: 600 });
      const r1 = await alice.client.sendRequest(first.text, alice.callId, first.cseq);
      clock.advance(301_000); // auth.nonceTtlSeconds is 300
      const auth = digestAuthorization(r1.headers('www-authenticate')[0]!, { username: '1001', password: PW, method: 'REGISTER', uri: `sip:${DOMAIN}` });
      const late = alice.buildRegister({ expires: 600, authorization: auth });
      const r2 = await alice.client.sendRequest(late.text, alice.callId, late.cseq);
      expect(r2.status).toBe(401);
      expect(r2.headers('www-authenticate').every((c) => param(c, 'stale') === 'true')).toBe(true);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'stale-nonce' })).toBe(1);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' })).toBe(0);
      // The phone retries with the fresh nonce and is registered.
      expect((await alice.answer(r2, { expires: 600 })).status).toBe(200);
    });

    it('forgets a binding once its expiry has passed', async () => {
      const alice = await setup();
      expect((await alice.register({ expires: 120 })).status).toBe(200);
      expect(await edge.metric('sipedge_registrations_active')).toBe(1);
      clock.advance(119_000);
      expect(await edge.metric('sipedge_registrations_active')).toBe(1);
      clock.advance(2_000);
      expect(await edge.metric('sipedge_registrations_active')).toBe(0);
      const fetch = await alice.register({ contact: null }); // a fetch: REGISTER without Contact
      expect(fetch.status).toBe(200);
      expect(fetch.headers('contact')).toHaveLength(0);
    });

    it('answers a REGISTER with a malformed CSeq with 400 naming the problem, and keeps serving', async () => {
      const alice = await setup();
      const callId = `${randomBytes(6).toString('hex')}@t`;
      const bad = [
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${alice.client.port};branch=z9hG4bK${randomBytes(5).toString('hex')};rport`,
        'Max-Forwards: 70',
        `From: <sip:1001@${DOMAIN}>;tag=1`,
        `To: <sip:1001@${DOMAIN}>`,
        `Call-ID: ${callId}`,
        'CSeq: one REGISTER',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      const p = alice.client.waitFor((r) => r.header('call-id') === callId);
      alice.client.send(bad);
      const r = await p;
      expect(r.status).toBe(400);
      expect(r.reason.toLowerCase()).toContain('cseq');
      alice.client.send('\x00\x01garbage that is not SIP at all\r\n\r\n');
      expect(await eventually(async () => (await edge.metric('sipedge_sip_parse_errors_total', { outcome: 'dropped' })) === 1)).toBe(true);
      expect((await alice.register({ expires: 600 })).status).toBe(200);
    });
  });
}
