// The Phone tab in Debian's Chromium (fake microphone): two users on two pages register over the edge's WebSocket
// listener and call each other: ring, accept, audio flows both ways peer to peer (inbound-rtp bytes growing in
// getStats() on both pages), mute, DTMF, hang up. On an edge without rtpengine (media bridging: phone-media.test.ts),
// calling the hold music shows the clear "media cannot be set up" message and a desk phone's call is refused with 488.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DOMAIN, LOGIN, portalSuite, recordPeerConnections, registered, shootAsIs, signIn } from '../helpers/browser.ts';
import { proxyAuthorization, register } from '../helpers/phone.ts';
import { buildRequest, SipPeer } from '../helpers/sip-peer.ts';

/** Audio bytes received so far on the page's newest peer connection (getStats inbound-rtp). */
function inboundBytes(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { peerConnections: RTCPeerConnection[] }).peerConnections;
    const pc = pcs[pcs.length - 1];
    if (!pc) return -1;
    let bytes = 0;
    (await pc.getStats()).forEach((r: { type: string; kind?: string; bytesReceived?: number }) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') bytes += r.bytesReceived ?? 0;
    });
    return bytes;
  });
}

/** Polls until the page's inbound audio bytes exceed `above`; returns the value seen. */
async function bytesAbove(page: Page, above: number): Promise<number> {
  let seen = -1;
  await expect.poll(async () => (seen = await inboundBytes(page)), { timeout: 20_000, interval: 250 }).toBeGreaterThan(above);
  return seen;
}

const callStatus = (page: Page): Promise<string | null> => page.getByTestId('call').getAttribute('data-status').catch(() => null);

describe('Phone tab softphone (Chromium, WebRTC)', () => {
  const suite = portalSuite();

  async function user(name: string, password: string): Promise<Page> {
    const { page, context } = await suite.page();
    await context.addInitScript(recordPeerConnections);
    await signIn(page, name, password);
    await registered(page);
    return page;
  }

  it('two users call each other: ring, accept, audio both ways (inbound-rtp bytes grow on both pages), mute, DTMF, hang up', async () => {
    const alice = await user('1001-acme', LOGIN.alice);
    const bob = await user('1002-acme', LOGIN.bob);

    await alice.getByLabel('Number or extension').fill('1002');
    await alice.getByRole('button', { name: 'Call' }).click();
    await bob.getByTestId('incoming').waitFor({ timeout: 20_000 });
    expect(await bob.getByTestId('incoming').textContent()).toContain('Incoming call from 1001');
    await expect.poll(() => callStatus(alice), { timeout: 10_000 }).toBe('ringing');
    await shootAsIs(bob, 'phone-incoming');
    await shootAsIs(alice, 'phone-ringing');

    await bob.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => callStatus(alice), { timeout: 20_000 }).toBe('connected');
    await expect.poll(() => callStatus(bob), { timeout: 20_000 }).toBe('connected');

    // Media flows peer to peer in both directions, and keeps flowing.
    const a1 = await bytesAbove(alice, 0);
    const b1 = await bytesAbove(bob, 0);
    await bytesAbove(alice, a1);
    await bytesAbove(bob, b1);
    // The page shows the same counters to the user.
    await expect.poll(() => alice.getByTestId('audio-stats').textContent(), { timeout: 10_000 }).toMatch(/Audio received [1-9][0-9.]* k?B/);

    await alice.getByRole('button', { name: 'Mute' }).click();
    expect(await alice.getByRole('button', { name: 'Unmute' }).getAttribute('aria-pressed')).toBe('true');
    const sending = await alice.evaluate(() => {
      const pcs = (window as unknown as { peerConnections: RTCPeerConnection[] }).peerConnections;
      return pcs[pcs.length - 1]!.getSenders().map((s) => s.track?.enabled);
    });
    expect(sending).toEqual([false]);
    await alice.getByRole('button', { name: 'Unmute' }).click();

    for (const k of ['1', '5', '#']) await alice.getByRole('button', { name: `Key ${k}` }).click();
    await expect.poll(() => alice.locator('.dtmf').textContent()).toBe('Sent: 15#');
    await shootAsIs(alice, 'phone-connected');

    await bob.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => callStatus(alice), { timeout: 10_000 }).toBe('ended');
    await expect.poll(() => callStatus(bob), { timeout: 10_000 }).toBe('ended');
    expect(await alice.getByTestId('call-message').textContent()).toBe('Call ended.');
  });

  it('a declined call tells the caller so', async () => {
    const alice = await user('1001-acme', LOGIN.alice);
    const bob = await user('1002-acme', LOGIN.bob);
    await bob.getByLabel('Number or extension').fill('1001');
    await bob.getByRole('button', { name: 'Call' }).click();
    await alice.getByTestId('incoming').waitFor({ timeout: 20_000 });
    await alice.getByRole('button', { name: 'Decline' }).click();
    await expect.poll(() => bob.getByTestId('call-message').textContent().catch(() => ''), { timeout: 10_000 }).toBe('Declined.');
    await expect.poll(() => callStatus(alice), { timeout: 10_000 }).toBe('ended');
  });

  it('calling the hold music on an edge without rtpengine shows that the media cannot be set up (488)', async () => {
    const alice = await user('1001-acme', LOGIN.alice);
    await alice.getByLabel('Number or extension').fill('moh');
    await alice.getByRole('button', { name: 'Call' }).click();
    await expect.poll(() => alice.getByTestId('call-message').textContent().catch(() => ''), { timeout: 20_000 }).toContain('does not speak WebRTC (DTLS-SRTP)');
    await expect.poll(() => callStatus(alice), { timeout: 10_000 }).toBe('ended');
    await shootAsIs(alice, 'phone-media-message');
  });

  it('a desk phone (plain RTP over UDP) calling the page on an edge without rtpengine gets 488 naming the missing media relay; the page does not ring', async () => {
    const alice = await user('1001-acme', LOGIN.alice);
    const pe = await suite.edge();
    const { password } = await pe.edge.app.gateway.provisioning.rotate({ tenant: 'acme', ext: '1002' }, { graceMs: 0, dropBindings: false });
    const desk = await SipPeer.open({ transport: 'udp', port: pe.edge.udpPort });
    try {
      expect(await register(desk, '1002', DOMAIN, password)).toBe(200);
      const to = `sip:1001@${DOMAIN}`;
      const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0 8\r\n';
      const first = buildRequest(desk, { method: 'INVITE', ruri: to, from: `sip:1002@${DOMAIN}`, to, body: sdp });
      desk.send(first.text);
      const challenge = await desk.waitFor(desk.response(407, 'INVITE', first.callId));
      const auth = proxyAuthorization(challenge, { username: '1002', password, method: 'INVITE', uri: to });
      const invite = buildRequest(desk, { method: 'INVITE', ruri: to, from: `sip:1002@${DOMAIN}`, to, body: sdp, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
      desk.send(invite.text);
      const refused = await desk.waitFor(desk.response(488, 'INVITE', invite.callId), 10_000);
      expect(refused.header('warning')).toContain('needs rtpengine');
      // The edge refused before forking: the page never got the INVITE.
      expect(await alice.getByTestId('incoming').count()).toBe(0);
      await shootAsIs(alice, 'phone-no-media-relay');
    } finally {
      await desk.close();
    }
  });

  it('a page holding an outdated HA1 (the VoIP password was rotated elsewhere) fetches the credentials again and registers', async () => {
    const pe = await suite.edge();
    const stale = (await pe.edge.app.stores.accounts.getExtension('acme', '1002'))!.cred.md5;
    await pe.edge.app.gateway.provisioning.rotate({ tenant: 'acme', ext: '1002' }, { graceMs: 0, dropBindings: false });
    const { page } = await suite.page();
    // The page's first credentials are the ones it would have held before the rotation.
    let fetches = 0;
    await page.route('**/api/voip/webrtc', async (route) => {
      if (++fetches > 1) return route.continue();
      // The edge's real answer for this session, with the HA1 the page would have held before the rotation.
      const real = await pe.https().call('GET', '/api/voip/webrtc', undefined, { headers: { cookie: (await route.request().allHeaders()).cookie ?? '' } });
      await route.fulfill({ status: real.status, json: { ...real.body, authorizationHa1: stale } });
    });
    await signIn(page, '1002-acme', LOGIN.bob);
    await registered(page);
    expect(fetches).toBe(2);
    // The edge saw the old password's digest and counted it as a stale credential, not as a guess.
    expect(await pe.edge.metric('sipedge_auth_failures_total', { reason: 'stale-credential' })).toBeGreaterThan(0);
  });
});
