// VoIP credential stories: the settings name the edge as the one server, a regenerated password registers a real
// phone (and the QR carries exactly it), grace keeps the old one for a while, provisioning tokens work once in 15 min.
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { startGatewayEdge, PASSWORDS, type GatewayEdge } from './api.ts';

for (const store of ['memory', 'redis'] as const) {
  describe(`gateway VoIP credentials (${store} store)`, () => {
    let gw: GatewayEdge | undefined;
    const sip: SipPeer[] = [];
    afterEach(async () => {
      for (const c of sip.splice(0)) await c.close();
      await gw?.stop();
      gw = undefined;
    });

    async function register(password: string): Promise<number> {
      const client = await SipPeer.open({ transport: 'udp', port: gw!.edge.udpPort });
      sip.push(client);
      return (await new Phone(client, { ext: '1001', domain: 'acme.example.com', password }).register({ expires: 300 })).status;
    }

    it('shows the SIP username, domain/realm, the edge as the one server and its transports, never a password', async () => {
      gw = await startGatewayEdge(store, { sip: { advertisedHost: 'sip.example.net' } });
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      const r = await alice.get('/api/voip');
      expect(r.status).toBe(200);
      const e = gw.edge;
      expect(r.body).toEqual({
        sipUsername: '1001',
        domain: 'acme.example.com',
        realm: 'acme.example.com',
        server: 'sip.example.net',
        transports: {
          udp: `sip.example.net:${e.udpPort}`,
          tcp: `sip.example.net:${e.tcpPort}`,
          tls: `sip.example.net:${e.tlsPort}`,
          ws: `ws://sip.example.net:${e.wsPort}`,
          wss: `wss://sip.example.net:${e.wssPort}`,
        },
      });
    });

    it('regenerates the VoIP password once: the new one registers, its QR carries the settings, the old one stops', async () => {
      gw = await startGatewayEdge(store);
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      const r = await alice.post('/api/voip/sip-password', {});
      expect(r.status).toBe(200);
      const { voipPassword, provisioning, settings } = r.body;
      expect(voipPassword).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(JSON.parse(provisioning.content)).toEqual({
        type: 'sipedge-provisioning',
        version: 1,
        server: settings.server,
        domain: 'acme.example.com',
        realm: 'acme.example.com',
        username: '1001',
        password: voipPassword,
        transports: settings.transports,
      });
      expect(provisioning.qrSvg).toMatch(/^<svg/);
      expect(provisioning.qrPngDataUrl).toMatch(/^data:image\/png;base64,/);
      expect(await register(voipPassword)).toBe(200);
      // A second regeneration without grace: the first password no longer registers.
      const again = await alice.post('/api/voip/sip-password', {});
      expect(again.body.voipPassword).not.toBe(voipPassword);
      expect(await register(voipPassword)).toBe(401);
      expect(await register(again.body.voipPassword)).toBe(200);
    });

    it('keeps the old password working during the grace window it was asked for', async () => {
      gw = await startGatewayEdge(store);
      const alice = gw.client();
      await alice.login('1001-acme', PASSWORDS.alice);
      const first = (await alice.post('/api/voip/sip-password', {})).body.voipPassword;
      await alice.post('/api/voip/sip-password', { graceSeconds: 600, dropBindings: true });
      expect(await register(first)).toBe(200);
      gw.clock.advance(601_000);
      expect(await register(first)).toBe(401);
    });

    it('hands the password out behind a provisioning token redeemable once within 15 minutes', async () => {
      gw = await startGatewayEdge(store);
      const oscar = gw.client();
      await oscar.login('9000-ops', PASSWORDS.oscar);
      const created = await oscar.post('/api/admin/tenants/acme/extensions', { ext: '1005', delivery: 'token' });
      expect(created.status).toBe(201);
      expect(created.body.voipPassword).toBeUndefined();
      expect(created.body.provisioning).toBeUndefined();
      const token = created.body.provisioningToken as string;
      expect(created.body.provisioningUrl).toBe(`http://localhost:8080/provision?token=${token}`);
      const phone = gw.client();
      const redeemed = await phone.post('/api/provisioning/redeem', { token });
      expect(redeemed.status).toBe(200);
      expect(JSON.parse(redeemed.body.provisioning.content)).toMatchObject({ username: '1005', password: redeemed.body.voipPassword });
      const client = await SipPeer.open({ transport: 'udp', port: gw.edge.udpPort });
      sip.push(client);
      expect((await new Phone(client, { ext: '1005', domain: 'acme.example.com', password: redeemed.body.voipPassword }).register({ expires: 300 })).status).toBe(200);
      const twice = await phone.post('/api/provisioning/redeem', { token });
      expect(twice.status).toBe(400);
      expect(twice.body.error).toBe('SIPEDGE_ERR_API_TOKEN_INVALID');

      const rotated = await oscar.post('/api/admin/tenants/acme/extensions/1005/sip-password', { delivery: 'token' });
      gw.clock.advance(15 * 60_000);
      expect((await phone.post('/api/provisioning/redeem', { token: rotated.body.provisioningToken })).status).toBe(400);

      // A token whose password was rotated again before redemption holds nothing valid any more.
      const stale = await oscar.post('/api/admin/tenants/acme/extensions/1005/sip-password', { delivery: 'token' });
      await oscar.post('/api/admin/tenants/acme/extensions/1005/sip-password', {});
      expect((await phone.post('/api/provisioning/redeem', { token: stale.body.provisioningToken })).status).toBe(400);
    });
  });
}
