// Two browser softphones (JsSIP 3.13 and SIP.js 0.21 over WebSocket) and a desk phone (UDP) on the demo-like tenant of
// an edge with no upstream: they message and call each other through the edge (407, Record-Route, WS <-> UDP).
// The libraries run unmodified; Node has no WebRTC, so SIP.js gets a fixed-SDP session description handler and the
// JsSIP phone rejects the call it rings for (answering would need RTCPeerConnection). The desk phone's call to JsSIP
// goes through a real rtpengine (plain RTP to a browser is bridged).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import JsSIP from 'jssip';
import { Inviter, Messager, SessionState } from 'sip.js';
import type { DeepPartial } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startTestRtpengine } from '../../load-tests/lib/rtpengine.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { fixedSdp, installBrowserWebSocket, JsSipPhone, SDP, SipJsPhone, uninstallBrowserWebSocket, type SoftphoneAccount } from '../helpers/softphone.ts';
import { proxyAuthorization, register } from '../helpers/phone.ts';
import { buildRequest, inDialog, SipPeer, tagOf } from '../helpers/sip-peer.ts';

const DOMAIN = 'demo.example.com';
const PW = 'Correct-Horse-Battery-9';


describe('softphones calling each other through an edge without upstreams', () => {
  let edge: TestEdge;
  const phones: Array<JsSipPhone | SipJsPhone> = [];
  const peers: SipPeer[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(() => installBrowserWebSocket());
  afterAll(() => uninstallBrowserWebSocket());
  afterEach(async () => {
    for (const p of phones.splice(0)) await p.close();
    for (const p of peers.splice(0)) await p.close();
    await edge?.stop();
    for (const c of cleanups.splice(0)) await c();
  });

  async function setup(overrides: DeepPartial<Config> = {}): Promise<void> {
    edge = await startEdge({ store: 'memory', overrides });
    await edge.cli(async (p) => {
      await p.addTenant('demo', DOMAIN);
      for (const ext of ['1001', '1002', '1003']) await p.addExtension({ ext, tenant: 'demo' }, { password: PW });
    });
    expect(await eventually(async () => !!(await edge.app.stores.accounts.getExtension('demo', '1003')))).toBe(true);
  }

  const account = (name: string, ext: string): SoftphoneAccount => ({ name, wsPort: edge.wsPort, ext, domain: DOMAIN, password: PW });

  it('JsSIP and SIP.js message each other (each answers the 407 by itself)', async () => {
    await setup();
    const alice = new JsSipPhone(account('alice', '1001'));
    const bob = new SipJsPhone(account('bob', '1002'), {}, fixedSdp);
    phones.push(alice, bob);
    expect(await alice.start(), alice.wire()).toEqual({ registered: true });
    expect((await bob.start()).status, bob.wire()).toBe(200);

    const bobGot = new Promise<string>((resolve) => {
      bob.ua.delegate = { onMessage: (m) => { m.accept(); resolve(m.request.body); } };
    });
    const sent = new Promise<number>((resolve, reject) =>
      alice.ua.sendMessage(`sip:1002@${DOMAIN}`, 'hello bob', {
        eventHandlers: { succeeded: (e: { response: { status_code: number } }) => resolve(e.response.status_code), failed: (e: unknown) => reject(new Error(`JsSIP MESSAGE failed: ${JSON.stringify((e as { cause?: string }).cause)}\n${alice.wire()}`)) },
      }),
    );
    expect(await bobGot).toBe('hello bob');
    expect(await sent).toBe(200);

    const aliceGot = new Promise<string>((resolve) =>
      alice.ua.on('newMessage', (e: { originator: string; request: { body: string } }) => {
        if (e.originator === 'remote') resolve(e.request.body);
      }),
    );
    const target = bob.ua.userAgentCore.configuration.aor.clone();
    target.user = '1001';
    await new Messager(bob.ua, target, 'hello alice').message();
    expect(await aliceGot).toBe('hello alice');
  }, 30_000);

  it('SIP.js calls a UDP desk phone: 407, ring, answer, ACK, and the desk phone hangs up', async () => {
    await setup();
    const bob = new SipJsPhone(account('bob', '1002'), {}, fixedSdp);
    phones.push(bob);
    expect((await bob.start()).status, bob.wire()).toBe(200);
    const desk = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
    peers.push(desk);
    expect(await register(desk, '1003', DOMAIN, PW)).toBe(200);

    const target = bob.ua.userAgentCore.configuration.aor.clone();
    target.user = '1003';
    const inviter = new Inviter(bob.ua, target);
    const established = new Promise<void>((resolve) => inviter.stateChange.addListener((s) => s === SessionState.Established && resolve()));
    const terminated = new Promise<void>((resolve) => inviter.stateChange.addListener((s) => s === SessionState.Terminated && resolve()));
    await inviter.invite();
    const inv = await desk.waitFor(desk.request('INVITE'), 5000);
    expect(inv.headers('record-route')).toHaveLength(2);
    expect(inv.headers('record-route')[0]).toContain(`transport=udp`);
    expect(inv.headers('record-route')[1]).toContain(`transport=ws`);
    desk.reply(inv, 180);
    const toTag = desk.reply(inv, 200, { body: SDP });
    await established;
    const ack = await desk.waitFor(desk.request('ACK', inv.header('call-id')), 5000);
    expect(ack.headers('via')).toHaveLength(2);
    // The desk phone hangs up along its route set (Record-Route in order) to SIP.js's Contact.
    const contact = /<([^>]*)>/.exec(inv.header('contact')!)![1]!;
    desk.send(inDialog(desk, { method: 'BYE', target: contact, routes: inv.headers('record-route'), from: `sip:1003@${DOMAIN}`, fromTag: toTag, to: `sip:1002@${DOMAIN}`, toTag: tagOf(inv.header('from'))!, callId: inv.header('call-id')!, cseq: 1 }));
    await desk.waitFor(desk.response(200, 'BYE'), 5000);
    await terminated;
  }, 30_000);

  it('a UDP desk phone calls JsSIP: the INVITE reaches it once over its WebSocket, its offer bridged to DTLS-SRTP by rtpengine, and its answer (488 in Node) comes back', async () => {
    // A plain RTP call to a browser needs the media relay (README "WebRTC media"); without one the edge refuses it.
    const rtpengine = await startTestRtpengine();
    cleanups.push(() => rtpengine.stop());
    await setup({ media: { rtpengine: [{ address: rtpengine.address, weight: 1 }] } });
    expect(await eventually(() => edge.app.rtpengines.members[0]!.state === 'up')).toBe(true);
    const alice = new JsSipPhone(account('alice', '1001'));
    phones.push(alice);
    expect(await alice.start(), alice.wire()).toEqual({ registered: true });
    const desk = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
    peers.push(desk);
    // JsSIP looks for window.RTCPeerConnection on an incoming INVITE; Node has neither, so it answers 488.
    const g = globalThis as { window?: unknown };
    g.window = {};
    // Without a newRTCSession listener JsSIP would refuse INVITEs with 405 before looking.
    alice.ua.on('newRTCSession', () => undefined);
    try {
      const to = `sip:1001@${DOMAIN}`;
      const first = buildRequest(desk, { method: 'INVITE', ruri: to, from: `sip:1003@${DOMAIN}`, to, body: SDP });
      desk.send(first.text);
      const ch = await desk.waitFor(desk.response(407, 'INVITE', first.callId));
      const auth = proxyAuthorization(ch, { username: '1003', password: PW, method: 'INVITE', uri: to });
      const inv = buildRequest(desk, { method: 'INVITE', ruri: to, from: `sip:1003@${DOMAIN}`, to, body: SDP, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
      desk.send(inv.text);
      await desk.waitFor(desk.response(488, 'INVITE', inv.callId), 5000);
      const invites = alice.socket.received.filter((m) => m.startsWith('INVITE '));
      expect(invites).toHaveLength(1);
      expect(invites[0]).toContain(`Call-ID: ${inv.callId}`);
      expect(invites[0]).toMatch(/Record-Route: <sip:[^@]+@127\.0\.0\.1:\d+;transport=ws;lr>/);
      expect(invites[0]).toContain('UDP/TLS/RTP/SAVPF');
    } finally {
      delete g.window;
    }
  }, 30_000);
});
