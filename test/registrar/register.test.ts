// Registration stories over real sockets against an edge started by createApp(), on both stores:
// challenge, digest, bindings (§10.3), outbound flows, and what an operator's rotation does to registered phones.
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { digestAuthorization, Phone, param } from '../helpers/phone.ts';
import { SipPeer, type PeerTransport } from '../helpers/sip-peer.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

for (const store of ['memory', 'redis'] as const) {
  describe(`registrar (${store} store)`, () => {
    let edge: TestEdge;
    const clients: SipPeer[] = [];

    async function setup(overrides = {}): Promise<void> {
      edge = await startEdge({ store, overrides });
      await edge.cli(async (p) => {
        await p.addTenant('acme', DOMAIN);
        for (const ext of ['1001', '1002', '1003']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
      });
      // The CLI wrote through its own store; wait until the running edge sees it (tailing, < 1 s).
      expect(await eventually(async () => !!(await edge.app.stores.accounts.getExtension('acme', '1003')))).toBe(true);
    }

    async function phone(transport: PeerTransport, ext = '1001', extra: Partial<ConstructorParameters<typeof Phone>[1]> = {}, localAddress?: string): Promise<Phone> {
      const ports = { udp: edge.udpPort, tcp: edge.tcpPort, tls: edge.tlsPort, ws: edge.wsPort, wss: edge.wssPort };
      // TLS and WSS: the edge's self-signed certificate (for 127.0.0.1) is the one trusted, as a phone that pinned it.
      const client = await SipPeer.open({ transport, port: ports[transport], localAddress, ca: edge.app.certificates!.current.cert });
      clients.push(client);
      return new Phone(client, { ext, domain: DOMAIN, password: PW, ...extra });
    }

    afterEach(async () => {
      for (const c of clients.splice(0)) await c.close();
      await edge?.stop();
    });

    it('challenges a REGISTER with 401 offering SHA-256 first, then MD5, both qop=auth', async () => {
      await setup();
      const alice = await phone('udp');
      const reg = alice.buildRegister({ expires: 600 });
      const r = await alice.client.sendRequest(reg.text, alice.callId, reg.cseq);
      expect(r.status).toBe(401);
      const ch = r.headers('www-authenticate');
      expect(ch.map((c) => param(c, 'algorithm'))).toEqual(['SHA-256', 'MD5']);
      expect(ch.every((c) => param(c, 'qop') === 'auth' && param(c, 'realm') === DOMAIN)).toBe(true);
    });

    it('offers SHA-256 first to every client, sharing one nonce with the MD5 challenge', async () => {
      await setup();
      const desk = await phone('udp', '1002', { userAgent: 'Yealink SIP-T46U 108.86.0.20' });
      const reg = desk.buildRegister({ expires: 600 });
      const r = await desk.client.sendRequest(reg.text, desk.callId, reg.cseq);
      expect(r.headers('www-authenticate').map((c) => param(c, 'algorithm'))).toEqual(['SHA-256', 'MD5']);
      expect(new Set(r.headers('www-authenticate').map((c) => param(c, 'nonce'))).size).toBe(1);
    });

    for (const transport of ['udp', 'tcp', 'tls', 'ws', 'wss'] as const) {
      it(`registers a phone over ${transport.toUpperCase()} and lists its binding in the 200`, async () => {
        await setup();
        const alice = await phone(transport);
        const r = await alice.register({ expires: 600 });
        expect(r.status).toBe(200);
        const contacts = r.headers('contact');
        expect(contacts).toHaveLength(1);
        expect(contacts[0]).toContain(alice.contactUri());
        expect(Number(/expires=(\d+)/.exec(contacts[0]!)![1])).toBeGreaterThan(590);
        expect(await edge.metric('sipedge_registrations_active')).toBe(1);
        const [binding] = (await edge.app.stores.bindings.get('1001@acme', Date.now())).bindings;
        expect(binding).toMatchObject({ transport, sourceAddress: '127.0.0.1' });
      });
    }

    it('accepts an MD5 answer to the second challenge', async () => {
      await setup();
      const bob = await phone('udp', '1002', { algorithm: 'MD5' });
      expect((await bob.register({ expires: 300 })).status).toBe(200);
    });

    it('registers username extension-tenant against the shared domain', async () => {
      await setup({ auth: { sharedDomain: 'sip.example.net' } });
      const shared = await phone('udp', '1001-acme', { domain: 'sip.example.net', password: PW });
      const r = await shared.register({ expires: 600 });
      expect(r.status).toBe(200);
      expect((await edge.app.stores.bindings.get('1001@acme', Date.now())).bindings).toHaveLength(1);
      const stranger = await phone('udp', '1001-nosuch', { domain: 'sip.example.net', password: PW });
      expect((await stranger.register({ expires: 600 })).status).toBe(401);
    });

    it('answers a wrong password with a new 401 and counts it as bad-password', async () => {
      await setup();
      const mallory = await phone('udp', '1001', { password: 'wrong-password-123' });
      const r = await mallory.register({ expires: 300 });
      expect(r.status).toBe(401);
      expect(r.headers('www-authenticate')).toHaveLength(2);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' })).toBe(1);
    });

    it('refuses a replayed Authorization (same nonce and nonce-count) from a new transaction', async () => {
      await setup();
      const alice = await phone('udp');
      const first = alice.buildRegister({ expires: 300 });
      const r1 = await alice.client.sendRequest(first.text, alice.callId, first.cseq);
      const auth = digestAuthorization(r1.headers('www-authenticate')[0]!, { username: '1001', password: PW, method: 'REGISTER', uri: `sip:${DOMAIN}`, nc: 1, cnonce: 'abc123' });
      const ok = alice.buildRegister({ expires: 300, authorization: auth });
      expect((await alice.client.sendRequest(ok.text, alice.callId, ok.cseq)).status).toBe(200);
      const again = alice.buildRegister({ expires: 300, authorization: auth });
      const r3 = await alice.client.sendRequest(again.text, alice.callId, again.cseq);
      expect(r3.status).toBe(401);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'replay' })).toBe(1);
    });

    it('absorbs a retransmitted REGISTER: the same response again, processed once', async () => {
      await setup();
      const alice = await phone('udp');
      const first = alice.buildRegister({ expires: 300 });
      const r1 = await alice.client.sendRequest(first.text, alice.callId, first.cseq);
      const auth = digestAuthorization(r1.headers('www-authenticate')[0]!, { username: '1001', password: PW, method: 'REGISTER', uri: `sip:${DOMAIN}` });
      const second = alice.buildRegister({ expires: 300, authorization: auth });
      const a = await alice.client.sendRequest(second.text, alice.callId, second.cseq);
      const b = await alice.client.sendRequest(second.text, alice.callId, second.cseq);
      expect(a.status).toBe(200);
      expect(b.raw).toBe(a.raw);
      expect(await edge.metric('sipedge_sip_retransmissions_absorbed_total')).toBe(1);
      expect(await edge.metric('sipedge_auth_failures_total', { reason: 'replay' })).toBe(0);
    });

    it('keeps several contacts per address-of-record, refreshes one, removes one with Expires 0 and all with *', async () => {
      await setup();
      const desk = await phone('udp');
      const soft = await phone('tcp');
      expect((await desk.register({ expires: 600 })).status).toBe(200);
      const both = await soft.register({ expires: 600 });
      expect(both.headers('contact')).toHaveLength(2);
      const refreshed = await desk.register({ expires: 900 });
      expect(refreshed.headers('contact')).toHaveLength(2);
      const removed = await desk.register({ expires: 0 });
      expect(removed.status).toBe(200);
      expect(removed.headers('contact')).toHaveLength(1);
      expect(removed.headers('contact')[0]).toContain(soft.contactUri());
      const star = await soft.register({ expires: 0, contact: '*' });
      expect(star.status).toBe(200);
      expect(star.headers('contact')).toHaveLength(0);
      expect(await edge.metric('sipedge_registrations_active')).toBe(0);
    });

    it('answers 400 to a * Contact with a non-zero Expires', async () => {
      await setup();
      const alice = await phone('udp');
      const r = await alice.register({ expires: 600, contact: '*' });
      expect(r.status).toBe(400);
    });

    it('answers 423 with Min-Expires to a registration shorter than the minimum, and clamps a long one', async () => {
      await setup();
      const alice = await phone('udp');
      const brief = await alice.register({ expires: 30 });
      expect(brief.status).toBe(423);
      expect(brief.header('min-expires')).toBe('60');
      const long = await alice.register({ expires: 999_999 });
      expect(long.status).toBe(200);
      expect(Number(/expires=(\d+)/.exec(long.headers('contact')[0]!)![1])).toBeLessThanOrEqual(3600);
    });

    it('refuses a REGISTER whose CSeq is not above the last one of the same Call-ID', async () => {
      await setup();
      const alice = await phone('udp');
      expect((await alice.register({ expires: 600 })).status).toBe(200);
      alice.cseq = 1; // a phone that restarted its CSeq but kept the Call-ID
      const r = await alice.register({ expires: 600 });
      expect(r.status).toBe(400);
    });

    it('stores Path and returns it when the phone supports path', async () => {
      await setup();
      const alice = await phone('udp', '1001', { extraHeaders: ['Supported: path', 'Path: <sip:lb1.example.net;lr>'] });
      const r = await alice.register({ expires: 600 });
      expect(r.status).toBe(200);
      expect(r.headers('path')).toEqual(['<sip:lb1.example.net;lr>']);
    });

    it('replaces the old contact when the same +sip.instance re-registers from a new address (RFC 5626)', async () => {
      await setup();
      const instance = ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-00aa00bb00cc>";reg-id=1';
      const first = await phone('tcp', '1001', { contactParams: instance, extraHeaders: ['Supported: outbound, path'] });
      expect((await first.register({ expires: 600 })).status).toBe(200);
      const second = await phone('tcp', '1001', { contactParams: instance, extraHeaders: ['Supported: outbound, path'], callId: first.callId });
      second.cseq = 10;
      const r = await second.register({ expires: 600 });
      expect(r.status).toBe(200);
      expect(r.headers('contact')).toHaveLength(1);
      expect(r.headers('contact')[0]).toContain(second.contactUri());
      expect(r.header('require')).toBe('outbound');
    });

    for (const transport of ['tcp', 'ws'] as const) {
      it(`drops an outbound ${transport.toUpperCase()} binding when its connection closes`, async () => {
        await setup();
        const instance = ';+sip.instance="<urn:uuid:11111111-0000-1000-8000-00aa00bb00cc>";reg-id=1';
        const soft = await phone(transport, '1001', { contactParams: instance, extraHeaders: ['Supported: outbound'] });
        const desk = await phone('udp');
        expect((await soft.register({ expires: 600 })).status).toBe(200);
        expect((await desk.register({ expires: 600 })).status).toBe(200);
        expect(await edge.metric('sipedge_registrations_active')).toBe(2);
        await soft.client.close();
        expect(await eventually(async () => (await edge.metric('sipedge_registrations_active')) === 1)).toBe(true);
        const fetch = await desk.register({ expires: 600 });
        expect(fetch.headers('contact')).toHaveLength(1);
        expect(fetch.headers('contact')[0]).toContain(desk.contactUri());
      });
    }

    it('answers OPTIONS to the edge with 200', async () => {
      await setup();
      const c = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
      clients.push(c);
      const callId = `${randomBytes(6).toString('hex')}@t`;
      const r = await c.sendRequest(
        [
          `OPTIONS sip:${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bK${randomBytes(5).toString('hex')};rport`,
          'Max-Forwards: 70',
          `From: <sip:probe@${DOMAIN}>;tag=1`,
          `To: <sip:${DOMAIN}>`,
          `Call-ID: ${callId}`,
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        callId,
        1,
      );
      expect(r.status).toBe(200);
      expect(r.header('allow')).toContain('REGISTER');
    });
  });
}
