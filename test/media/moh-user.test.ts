// A registered user (not an upstream) calls the hold-music URI: the proxy's admission challenges the INVITE with 407,
// the authenticated retry is answered by the hold-music service with RTP to the user's SDP address, and BYE ends it.
// A stranger from a foreign domain gets 403, a guessed extension a 407 it cannot answer, and neither gets music.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { proxyAuthorization, register } from '../helpers/phone.ts';
import { ackFor, buildRequest, inDialog, SipPeer, tagOf, uriOf } from '../helpers/sip-peer.ts';
import { RtpReceiver } from './moh-caller.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

let edge: TestEdge | undefined;
const closers: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await edge?.stop();
  edge = undefined;
});

async function rtpReceiver(): Promise<RtpReceiver> {
  const r = await RtpReceiver.open('127.0.0.1');
  closers.push(() => r.close());
  return r;
}

const sdpFor = (port: number): string =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n`;

async function setup(): Promise<void> {
  edge = await startEdge();
  await edge.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: PW });
  });
  expect(await eventually(async () => !!(await edge!.app.stores.accounts.getExtension('acme', '1001')))).toBe(true);
}

describe('hold music for an authenticated user', () => {
  it('answers the 407-authenticated INVITE to sip:moh@domain with PCMA RTP until BYE', async () => {
    await setup();
    const phone = await SipPeer.open({ transport: 'udp', port: edge!.udpPort, localAddress: '127.0.0.1' });
    closers.push(() => phone.close());
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);
    const rtp = await rtpReceiver();
    const to = `sip:moh@${DOMAIN}`;
    const base = { method: 'INVITE', ruri: to, from: `sip:1001@${DOMAIN}`, to, body: sdpFor(rtp.port) };
    const first = buildRequest(phone, base);
    phone.send(first.text);
    const challenge = await phone.waitFor(phone.response(407, 'INVITE', first.callId));
    const auth = proxyAuthorization(challenge, { username: '1001', password: PW, method: 'INVITE', uri: to });
    const inv = buildRequest(phone, { ...base, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
    phone.send(inv.text);
    const ok = await phone.waitFor(phone.response(200, 'INVITE', inv.callId));
    expect(ok.body).toContain('a=sendonly');
    expect(ok.body).toMatch(/m=audio \d+ RTP\/AVP 8/);
    phone.send(ackFor(phone, inv, ok, { from: `sip:1001@${DOMAIN}`, cseq: 2 }));
    await rtp.received(10);
    for (const p of rtp.packets.slice(0, 10)) {
      expect(p.size).toBe(172);
      expect(p.pt).toBe(8);
    }
    const bye = inDialog(phone, {
      method: 'BYE',
      target: uriOf(ok.header('contact')!),
      routes: [...ok.headers('record-route')].reverse(),
      from: `sip:1001@${DOMAIN}`,
      fromTag: inv.fromTag,
      to,
      toTag: tagOf(ok.header('to'))!,
      callId: inv.callId,
      cseq: 3,
    });
    phone.send(bye);
    await phone.waitFor(phone.response(200, 'BYE', inv.callId));
    await rtp.settled(); // what was sent before the BYE has been read
    const after = rtp.packets.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(rtp.packets.length).toBe(after);
  });

  it('refuses a stranger from a domain we do not serve (403), challenges an unknown extension of ours (407), no RTP', async () => {
    await setup();
    const stranger = await SipPeer.open({ transport: 'udp', port: edge!.udpPort, localAddress: '127.0.0.3' });
    closers.push(() => stranger.close());
    const rtp = await rtpReceiver();
    const to = `sip:moh@${DOMAIN}`;
    const inv = buildRequest(stranger, { method: 'INVITE', ruri: to, from: 'sip:2000@elsewhere.example.net', to, body: sdpFor(rtp.port) });
    stranger.send(inv.text);
    await stranger.waitFor(stranger.response(403, 'INVITE', inv.callId));
    // An extension of ours that does not exist is challenged like any other (no user enumeration), never served.
    const guess = buildRequest(stranger, { method: 'INVITE', ruri: to, from: `sip:9999@${DOMAIN}`, to, body: sdpFor(rtp.port) });
    stranger.send(guess.text);
    const ch = await stranger.waitFor(stranger.response(407, 'INVITE', guess.callId));
    const auth = proxyAuthorization(ch, { username: '9999', password: 'any-guess-at-all-1', method: 'INVITE', uri: to });
    stranger.send(buildRequest(stranger, { method: 'INVITE', ruri: to, from: `sip:9999@${DOMAIN}`, to, body: sdpFor(rtp.port), callId: guess.callId, fromTag: guess.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] }).text);
    await stranger.waitFor((m) => !m.isRequest && m.header('cseq') === '2 INVITE' && m.status >= 400);
    await new Promise((r) => setTimeout(r, 200));
    expect(rtp.packets).toHaveLength(0);
  });
});
