// Calls through the edge between phones (UDP and WebSocket peers on real sockets) and a PBX upstream (a UDP peer on
// 127.0.0.2): authentication, Record-Route, in-dialog requests both ways, CANCEL, re-INVITE, topology hiding, and the
// edge's refusals (403 strangers, 482 merged and looped requests, 483). The edge runs through createApp on port 0.
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { proxyAuthorization, register } from '../helpers/phone.ts';
import { ackFor, buildRequest, inDialog, SipPeer, tagOf, uriOf, type Msg } from '../helpers/sip-peer.ts';
import { readSdp, webrtcSdp } from '../helpers/sdp.ts';
import { startTestRtpengine } from '../../load-tests/lib/rtpengine.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

let edge: TestEdge | undefined;
const peers: SipPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  await edge?.stop();
  edge = undefined;
});

async function peer(kind: 'udp' | 'ws', address = '127.0.0.1'): Promise<SipPeer> {
  const p = kind === 'udp' ? await SipPeer.open({ transport: 'udp', port: edge?.udpPort ?? 0, localAddress: address }) : await SipPeer.open({ transport: 'ws', port: edge!.wsPort });
  peers.push(p);
  return p;
}

/** An edge with tenant acme (1001, 1002) and the given PBXs as upstreams, each proven up by one probe. */
async function setup(pbxs: SipPeer[], proxy: Record<string, unknown> = {}, rtpengine?: string): Promise<void> {
  edge = await startEdge({
    overrides: {
      upstreams: pbxs.map((p) => ({ uri: `sip:${p.host}:${p.port}`, priority: 1, weight: 1, transport: 'udp' as const })),
      proxy: { probe: { intervalSeconds: 1, timeoutSeconds: 0.5, failuresToDown: 2, successesToUp: 1 }, failoverTimeoutSeconds: 1, ...proxy },
      media: { rtpengine: rtpengine === undefined ? [] : [{ address: rtpengine, weight: 1 }] },
    },
  });
  for (const p of pbxs) p.edgePort = edge.udpPort;
  await edge.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
  });
  expect(await eventually(async () => !!(await edge!.app.stores.accounts.getExtension('acme', '1002')))).toBe(true);
  expect(await eventually(() => edge!.app.upstreams.healthy().length === pbxs.length)).toBe(true);
}

/** Phone 1001 places an INVITE to `to`, answers the 407, and resolves when a PBX (the first of `atPbx` to get it) has it. */
async function call(phone: SipPeer, to: string, atPbx: SipPeer | SipPeer[], ext = '1001'): Promise<{ inv: ReturnType<typeof buildRequest>; req: Msg; at: SipPeer }> {
  const base = { method: 'INVITE', ruri: to, from: `sip:${ext}@${DOMAIN}`, to, body: SDP };
  const first = buildRequest(phone, base);
  phone.send(first.text);
  const challenge = await phone.waitFor(phone.response(407, 'INVITE', first.callId));
  expect(challenge.headers('proxy-authenticate').length).toBeGreaterThan(0);
  const auth = proxyAuthorization(challenge, { username: ext, password: PW, method: 'INVITE', uri: to });
  const inv = buildRequest(phone, { ...base, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
  phone.send(inv.text);
  const list = Array.isArray(atPbx) ? atPbx : [atPbx];
  const { req, at } = await Promise.any(list.map(async (p) => ({ req: await p.waitFor(p.request('INVITE', inv.callId), 4000), at: p })));
  return { inv, req, at };
}

describe('calls from a phone to the PBX', () => {
  it('tells a phone from the PBX when both run on one host (127.0.0.1): the phone is challenged and reaches the PBX, the PBX reaches the phone', async () => {
    const pbx = await peer('udp', '127.0.0.1');
    await setup([pbx]);
    const phone = await peer('udp', '127.0.0.1');
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);
    const { req } = await call(phone, `sip:2000@${DOMAIN}`, pbx);
    expect(req.ruri).toBe(`sip:2000@${DOMAIN}`);
    expect(phone.received.filter((m) => m.method === 'INVITE')).toHaveLength(0);
    const down = buildRequest(pbx, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: `sip:2000@${DOMAIN}`, to: `sip:1001@${DOMAIN}`, body: SDP });
    pbx.send(down.text);
    const atPhone = await phone.waitFor(phone.request('INVITE', down.callId));
    expect(atPhone.headers('record-route')).toHaveLength(2);
    expect(pbx.received.filter((m) => m.status === 407)).toHaveLength(0);
  });

  it('challenges the INVITE with 407, forwards it once with Record-Route, and relays 180/200, ACK and BYE', async () => {
    const pbx = await peer('udp', '127.0.0.2');
    await setup([pbx]);
    const phone = await peer('udp');
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);

    const { inv, req } = await call(phone, `sip:2000@${DOMAIN}`, pbx);
    expect(await phone.waitFor(phone.response(100, 'INVITE', inv.callId))).toBeDefined();
    expect(req.ruri).toBe(`sip:2000@${DOMAIN}`);
    expect(req.header('max-forwards')).toBe('69');
    expect(req.header('proxy-authorization')).toBeUndefined();
    expect(req.headers('via')).toHaveLength(2);
    expect(req.headers('record-route')).toHaveLength(2);
    expect(req.body).toBe(SDP);

    const toTag = pbx.reply(req, 180);
    pbx.reply(req, 200, { toTag, body: SDP });
    const ringing = await phone.waitFor(phone.response(180, 'INVITE', inv.callId));
    const ok = await phone.waitFor(phone.response(200, 'INVITE', inv.callId));
    expect(tagOf(ringing.header('to'))).toBe(toTag);
    expect(ok.headers('via')).toHaveLength(1);
    // Topology hiding: the phone sees the edge only (its Record-Route and a Contact at the edge).
    expect(ok.raw).not.toContain('127.0.0.2');
    expect(ok.raw).not.toContain(String(pbx.port));
    expect(uriOf(ok.header('contact')!)).toContain(`@127.0.0.1:${edge!.udpPort}`);

    phone.send(ackFor(phone, inv, ok, { from: `sip:1001@${DOMAIN}`, cseq: 2 }));
    const ack = await pbx.waitFor(pbx.request('ACK', inv.callId));
    expect(ack.ruri).toBe(`sip:peer@127.0.0.2:${pbx.port}`);
    expect(ack.headers('route')).toEqual([]);

    const routes = [...ok.headers('record-route')].reverse();
    phone.send(inDialog(phone, { method: 'BYE', target: uriOf(ok.header('contact')!), routes, from: `sip:1001@${DOMAIN}`, fromTag: inv.fromTag, to: `sip:2000@${DOMAIN}`, toTag, callId: inv.callId, cseq: 3 }));
    const bye = await pbx.waitFor(pbx.request('BYE', inv.callId));
    expect(bye.ruri).toBe(`sip:peer@127.0.0.2:${pbx.port}`);
    pbx.reply(bye, 200);
    expect((await phone.waitFor(phone.response(200, 'BYE', inv.callId))).headers('via')).toHaveLength(1);
    expect(await edge!.metric('sipedge_proxy_requests_total', { route: 'to-upstream' })).toBe(1);
    expect(await edge!.metric('sipedge_proxy_requests_total', { route: 'in-dialog' })).toBe(1);
    // Latency histograms: the 180 timed once as the post-dial delay, the 200 as the final; the server transactions by
    // method and class (the challenged INVITE's 407, the answered one's 200, the REGISTER's 401 and 200, the BYE's 200).
    expect(await edge!.metric('sipedge_proxy_invite_provisional_seconds_count')).toBe(1);
    expect(await edge!.metric('sipedge_proxy_invite_final_seconds_count', { status_class: '2xx' })).toBe(1);
    expect(await edge!.metric('sipedge_proxy_invite_final_seconds_count')).toBe(1);
    for (const [method, cls] of [['INVITE', '4xx'], ['INVITE', '2xx'], ['REGISTER', '4xx'], ['REGISTER', '2xx'], ['BYE', '2xx']]) {
      expect(await edge!.metric('sipedge_sip_response_seconds_count', { method: method!, status_class: cls! }), `${method} ${cls}`).toBe(1);
    }
    expect(await edge!.metric('sipedge_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status_class: '2xx' })).toBeGreaterThanOrEqual(1);
  });

  it('cancels a ringing call: 200 to the CANCEL, CANCEL to the PBX, 487 back to the phone', async () => {
    const pbx = await peer('udp', '127.0.0.2');
    await setup([pbx]);
    const phone = await peer('udp');
    const { inv, req } = await call(phone, `sip:2000@${DOMAIN}`, pbx);
    const toTag = pbx.reply(req, 180);
    await phone.waitFor(phone.response(180, 'INVITE', inv.callId));
    const cancel = inv.text.replace(/^INVITE /, 'CANCEL ').replace('CSeq: 2 INVITE', 'CSeq: 2 CANCEL').replace(/Content-Type[^\r]*\r\n/, '').replace(/Content-Length: \d+\r\n\r\n[^]*$/, 'Content-Length: 0\r\n\r\n').replace(/Proxy-Authorization[^\r]*\r\n/, '');
    phone.send(cancel);
    await phone.waitFor(phone.response(200, 'CANCEL', inv.callId));
    const atPbx = await pbx.waitFor(pbx.request('CANCEL', inv.callId));
    pbx.reply(atPbx, 200);
    pbx.reply(req, 487, { toTag });
    await phone.waitFor(phone.response(487, 'INVITE', inv.callId));
    // The edge acknowledges the 487 itself, hop by hop (§17.1.1.3).
    await pbx.waitFor(pbx.request('ACK', inv.callId));
  });

  it('forwards a re-INVITE in the dialog and a BYE from the PBX to the phone', async () => {
    const pbx = await peer('udp', '127.0.0.2');
    await setup([pbx]);
    const phone = await peer('udp');
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);
    const { inv, req } = await call(phone, `sip:2000@${DOMAIN}`, pbx);
    const toTag = pbx.reply(req, 200, { body: SDP });
    const ok = await phone.waitFor(phone.response(200, 'INVITE', inv.callId));
    phone.send(ackFor(phone, inv, ok, { from: `sip:1001@${DOMAIN}`, cseq: 2 }));
    await pbx.waitFor(pbx.request('ACK', inv.callId));

    // The phone puts the call on hold: re-INVITE along the route set.
    const routes = [...ok.headers('record-route')].reverse();
    const target = uriOf(ok.header('contact')!);
    phone.send(inDialog(phone, { method: 'INVITE', target, routes, from: `sip:1001@${DOMAIN}`, fromTag: inv.fromTag, to: `sip:2000@${DOMAIN}`, toTag, callId: inv.callId, cseq: 3, body: SDP.replace('m=audio', 'a=sendonly\r\nm=audio') }));
    const reinvite = await pbx.waitFor((m) => m.isRequest && m.method === 'INVITE' && m.header('cseq') === '3 INVITE');
    expect(reinvite.body).toContain('a=sendonly');
    pbx.reply(reinvite, 200, { body: SDP });
    await phone.waitFor((m) => !m.isRequest && m.status === 200 && m.header('cseq') === '3 INVITE');

    // The PBX hangs up: BYE with the route set of its side (Record-Route in order), to the phone's Contact.
    pbx.send(inDialog(pbx, { method: 'BYE', target: `sip:peer@127.0.0.1:${phone.port}`, routes: req.headers('record-route'), from: `sip:2000@${DOMAIN}`, fromTag: toTag, to: `sip:1001@${DOMAIN}`, toTag: inv.fromTag, callId: inv.callId, cseq: 1 }));
    const bye = await phone.waitFor(phone.request('BYE', inv.callId));
    expect(bye.raw).not.toContain('127.0.0.2');
    expect(bye.headers('via')).toHaveLength(1);
    phone.reply(bye, 200);
    const byeOk = await pbx.waitFor(pbx.response(200, 'BYE', inv.callId));
    expect(byeOk.headers('via')).toHaveLength(1);
    expect(byeOk.header('via')).toContain(`127.0.0.2:${pbx.port}`);
  });
});

describe('calls from the PBX to users', () => {
  it('forks to every registered device of the user (UDP at its source, WebSocket on its connection), each once', async () => {
    // The WebSocket device is a browser: its branch gets the PBX's offer through rtpengine (test/proxy/anchoring.test.ts).
    const rtpengine = await startTestRtpengine();
    onTestFinished(() => rtpengine.stop());
    const pbx = await peer('udp', '127.0.0.2');
    await setup([pbx], {}, rtpengine.address);
    const desk = await peer('udp');
    const soft = await peer('ws');
    expect(await register(desk, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(soft, '1001', DOMAIN, PW)).toBe(200);
    const inv = buildRequest(pbx, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: `sip:2000@${DOMAIN}`, to: `sip:1001@${DOMAIN}`, body: SDP });
    pbx.send(inv.text);
    await pbx.waitFor(pbx.response(100, 'INVITE', inv.callId));
    const atDesk = await desk.waitFor(desk.request('INVITE', inv.callId));
    const atSoft = await soft.waitFor(soft.request('INVITE', inv.callId));
    expect(atDesk.ruri).toBe(`sip:peer@127.0.0.1:${desk.port}`);
    expect(atSoft.ruri).toMatch(/\.invalid;transport=ws$/);
    // Double Record-Route: the softphone sees the edge's WS address, the PBX the UDP one.
    expect(atSoft.headers('record-route')[0]).toContain(`:${edge!.wsPort};transport=ws;lr`);
    expect(atSoft.headers('record-route')[1]).toContain(`:${edge!.udpPort};transport=udp;lr`);
    for (const m of [atDesk, atSoft]) {
      expect(m.raw).not.toContain('127.0.0.2');
      expect(m.headers('via')).toHaveLength(1);
    }
    expect(atDesk.body).toBe(SDP);
    expect(readSdp(atSoft.body).proto).toBe('UDP/TLS/RTP/SAVPF');
    const ringDesk = desk.reply(atDesk, 180);
    soft.reply(atSoft, 180);
    await pbx.waitFor(pbx.response(180, 'INVITE', inv.callId));
    // The softphone answers; the edge cancels the desk phone's branch.
    soft.reply(atSoft, 200, { body: webrtcSdp(50000, { setup: 'active' }) });
    const ok = await pbx.waitFor(pbx.response(200, 'INVITE', inv.callId));
    expect(ok.header('via')).toContain(`127.0.0.2:${pbx.port}`);
    const cancel = await desk.waitFor(desk.request('CANCEL', inv.callId));
    desk.reply(cancel, 200);
    desk.reply(atDesk, 487, { toTag: ringDesk });
    await desk.waitFor(desk.request('ACK', inv.callId));
    // The PBX acknowledges the 2xx along the route set; it reaches the softphone over its WebSocket.
    pbx.send(ackFor(pbx, inv, ok, { from: `sip:2000@${DOMAIN}` }));
    await soft.waitFor(soft.request('ACK', inv.callId));
    expect(desk.received.filter((m) => m.method === 'INVITE')).toHaveLength(0);
    // Only the 487 of the cancelled branch stays with the edge; the PBX saw one final response.
    expect(await pbx.waitFor(pbx.response(487, 'INVITE', inv.callId), 300).catch(() => undefined)).toBeUndefined();
  });

  it('rings the phone once when the same INVITE comes through two upstream addresses: 482 to the second', async () => {
    const pbxA = await peer('udp', '127.0.0.2');
    const pbxB = await peer('udp', '127.0.0.4');
    await setup([pbxA, pbxB]);
    const phone = await peer('udp');
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);
    const inv = buildRequest(pbxA, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: `sip:2000@${DOMAIN}`, to: `sip:1001@${DOMAIN}`, body: SDP });
    pbxA.send(inv.text);
    // The phone rings (180): from then on the edge's INVITE transaction towards it sends no retransmissions (Timer A,
    // 500 ms), so any second INVITE below is a second ring.
    phone.reply(await phone.waitFor(phone.request('INVITE', inv.callId)), 180);
    // The same call (From tag, Call-ID, CSeq) through the second PBX: its own Via and branch.
    const again = buildRequest(pbxB, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: `sip:2000@${DOMAIN}`, to: `sip:1001@${DOMAIN}`, body: SDP, callId: inv.callId, fromTag: inv.fromTag });
    pbxB.send(again.text);
    await pbxB.waitFor(pbxB.response(482, 'INVITE', inv.callId));
    // A retransmission of the first is absorbed by its transaction.
    pbxA.send(inv.text);
    expect(await phone.waitFor(phone.request('INVITE', inv.callId), 500).catch(() => undefined)).toBeUndefined();
    expect(await edge!.metric('sipedge_proxy_rejected_total', { reason: 'merged' })).toBe(1);
  });

  it('answers 403 to an INVITE from a source that is neither an upstream nor one of our users', async () => {
    const pbx = await peer('udp', '127.0.0.2');
    await setup([pbx]);
    const phone = await peer('udp');
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);
    const stranger = await peer('udp', '127.0.0.3');
    const inv = buildRequest(stranger, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: 'sip:2000@elsewhere.example.net', to: `sip:1001@${DOMAIN}`, body: SDP });
    stranger.send(inv.text);
    await stranger.waitFor(stranger.response(403, 'INVITE', inv.callId));
    expect(phone.received.filter((m) => m.method === 'INVITE')).toHaveLength(0);
  });

  it('refuses a wrong password with a fresh 407 and never forwards', async () => {
    const pbx = await peer('udp', '127.0.0.2');
    await setup([pbx]);
    const phone = await peer('udp');
    const to = `sip:2000@${DOMAIN}`;
    const first = buildRequest(phone, { method: 'INVITE', ruri: to, from: `sip:1001@${DOMAIN}`, to, body: SDP });
    phone.send(first.text);
    const ch = await phone.waitFor(phone.response(407, 'INVITE', first.callId));
    const auth = proxyAuthorization(ch, { username: '1001', password: 'wrong-password-123', method: 'INVITE', uri: to });
    const second = buildRequest(phone, { method: 'INVITE', ruri: to, from: `sip:1001@${DOMAIN}`, to, body: SDP, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
    phone.send(second.text);
    await phone.waitFor((m) => m.status === 407 && m.header('cseq') === '2 INVITE');
    expect(pbx.received.filter((m) => m.method === 'INVITE')).toHaveLength(0);
    expect(await edge!.metric('sipedge_auth_failures_total', { reason: 'bad-password' })).toBe(1);
  });

  it('answers 483 when Max-Forwards is 0 and 482 to a request that already passed the edge', async () => {
    const pbx = await peer('udp', '127.0.0.2');
    await setup([pbx]);
    const inv = buildRequest(pbx, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: `sip:2000@${DOMAIN}`, to: `sip:1001@${DOMAIN}` });
    pbx.send(inv.text.replace('Max-Forwards: 70', 'Max-Forwards: 0'));
    await pbx.waitFor(pbx.response(483, 'INVITE', inv.callId));
    const looped = buildRequest(pbx, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: `sip:2000@${DOMAIN}`, to: `sip:1001@${DOMAIN}` });
    pbx.send(looped.text.replace('Max-Forwards: 70', `Via: SIP/2.0/UDP 127.0.0.1:${edge!.udpPort};branch=z9hG4bKold\r\nMax-Forwards: 70`));
    await pbx.waitFor(pbx.response(482, 'INVITE', looped.callId));
  });
});

describe('one upstream per extension', () => {
  it('sends each user to one PBX only and moves the user to the other when it stops answering', async () => {
    const pbxA = await peer('udp', '127.0.0.2');
    const pbxB = await peer('udp', '127.0.0.4');
    await setup([pbxA, pbxB]);
    const phone = await peer('udp');
    const to = `sip:2000@${DOMAIN}`;
    // Three calls: all to the one chosen upstream, none to the other.
    const first = await call(phone, to, [pbxA, pbxB]);
    first.at.reply(first.req, 486);
    const chosen = first.at;
    const other = chosen === pbxA ? pbxB : pbxA;
    expect((await edge!.app.stores.upstreamChoices.get('1001@acme'))?.upstream).toBe(`sip:${chosen.host}:${chosen.port}`);
    for (let i = 0; i < 2; i++) {
      const { req } = await call(phone, to, chosen);
      chosen.reply(req, 486);
    }
    expect(chosen.seen.get('INVITE')).toBe(3);
    expect(other.seen.get('INVITE') ?? 0).toBe(0);

    // The chosen PBX dies: it answers nothing any more, probes neither. The next call fails over after 1 s of silence.
    chosen.silent = true;
    const { inv, req, at } = await call(phone, to, other);
    expect(at).toBe(other);
    other.reply(req, 200, { body: SDP });
    await phone.waitFor(phone.response(200, 'INVITE', inv.callId));
    expect((await edge!.app.stores.upstreamChoices.get('1001@acme'))?.upstream).toBe(`sip:${other.host}:${other.port}`);
    expect(await edge!.metric('sipedge_proxy_failovers_total')).toBe(1);
    // The next call goes straight to the new upstream; the dead one saw that one INVITE (and its retransmissions) only.
    const next = await call(phone, to, other);
    other.reply(next.req, 486);
    expect(other.seen.get('INVITE')).toBe(2);
    expect(await eventually(() => edge!.app.upstreams.stateOf(`sip:${chosen.host}:${chosen.port}`) === 'down', 5000)).toBe(true);
  });
});

describe('failover on 503', () => {
  it('re-sends a call that the chosen PBX answers 503 to the other PBX once, and the user moves with it', async () => {
    const pbxA = await peer('udp', '127.0.0.2');
    const pbxB = await peer('udp', '127.0.0.4');
    await setup([pbxA, pbxB]);
    const phone = await peer('udp');
    const to = `sip:2000@${DOMAIN}`;
    const first = await call(phone, to, [pbxA, pbxB]);
    const other = first.at === pbxA ? pbxB : pbxA;
    first.at.reply(first.req, 503);
    const moved = await other.waitFor(other.request('INVITE', first.inv.callId));
    other.reply(moved, 200, { body: SDP });
    await phone.waitFor(phone.response(200, 'INVITE', first.inv.callId));
    expect((await edge!.app.stores.upstreamChoices.get('1001@acme'))?.upstream).toBe(`sip:${other.host}:${other.port}`);
    // The phone never saw the 503.
    expect(phone.received.some((m) => m.status === 503)).toBe(false);
  });

  it('passes a second 503 on as 500 (RFC 3261 §16.7 step 6) instead of trying a third time', async () => {
    const pbxA = await peer('udp', '127.0.0.2');
    const pbxB = await peer('udp', '127.0.0.4');
    await setup([pbxA, pbxB]);
    const phone = await peer('udp');
    const first = await call(phone, `sip:2000@${DOMAIN}`, [pbxA, pbxB]);
    const other = first.at === pbxA ? pbxB : pbxA;
    first.at.reply(first.req, 503);
    other.reply(await other.waitFor(other.request('INVITE', first.inv.callId)), 503);
    await phone.waitFor(phone.response(500, 'INVITE', first.inv.callId));
    expect(first.at.seen.get('INVITE')).toBe(1);
  });
});

describe('without upstreams (a small office)', () => {
  it('routes MESSAGE and a call between two registered users of the tenant, with the same 407 and Record-Route', async () => {
    await setup([]);
    const alice = await peer('udp');
    const bob = await peer('udp');
    expect(await register(alice, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(bob, '1002', DOMAIN, PW)).toBe(200);
    const to = `sip:1002@${DOMAIN}`;

    const msg = buildRequest(alice, { method: 'MESSAGE', ruri: to, from: `sip:1001@${DOMAIN}`, to, headers: ['Content-Type: text/plain'] });
    alice.send(msg.text.replace('Content-Length: 0\r\n\r\n', 'Content-Length: 5\r\n\r\nhello'));
    const ch = await alice.waitFor(alice.response(407, 'MESSAGE', msg.callId));
    const auth = proxyAuthorization(ch, { username: '1001', password: PW, method: 'MESSAGE', uri: to });
    const msg2 = buildRequest(alice, { method: 'MESSAGE', ruri: to, from: `sip:1001@${DOMAIN}`, to, callId: msg.callId, fromTag: msg.fromTag, cseq: 2, headers: ['Content-Type: text/plain', `Proxy-Authorization: ${auth}`] });
    alice.send(msg2.text.replace('Content-Length: 0\r\n\r\n', 'Content-Length: 5\r\n\r\nhello'));
    const atBob = await bob.waitFor(bob.request('MESSAGE', msg.callId));
    expect(atBob.body).toBe('hello');
    expect(atBob.ruri).toBe(`sip:peer@127.0.0.1:${bob.port}`);
    bob.reply(atBob, 200);
    await alice.waitFor(alice.response(200, 'MESSAGE', msg.callId));

    const { inv, req } = await call(alice, to, bob);
    expect(req.headers('record-route')).toHaveLength(2);
    const toTag = bob.reply(req, 200, { body: SDP });
    const ok = await alice.waitFor(alice.response(200, 'INVITE', inv.callId));
    alice.send(ackFor(alice, inv, ok, { from: `sip:1001@${DOMAIN}`, cseq: 2 }));
    await bob.waitFor(bob.request('ACK', inv.callId));
    bob.send(inDialog(bob, { method: 'BYE', target: `sip:peer@127.0.0.1:${alice.port}`, routes: req.headers('record-route'), from: to, fromTag: toTag, to: `sip:1001@${DOMAIN}`, toTag: inv.fromTag, callId: inv.callId, cseq: 1 }));
    const bye = await alice.waitFor(alice.request('BYE', inv.callId));
    alice.reply(bye, 200);
    await bob.waitFor(bob.response(200, 'BYE', inv.callId));
    expect(await edge!.metric('sipedge_proxy_requests_total', { route: 'local' })).toBe(2);
  });

  it('answers 480 for a user with no registered device and 404 for a user of another tenant', async () => {
    await setup([]);
    const alice = await peer('udp');
    const to = `sip:1002@${DOMAIN}`;
    const { inv } = await (async () => {
      const first = buildRequest(alice, { method: 'INVITE', ruri: to, from: `sip:1001@${DOMAIN}`, to });
      alice.send(first.text);
      const ch = await alice.waitFor(alice.response(407, 'INVITE', first.callId));
      const auth = proxyAuthorization(ch, { username: '1001', password: PW, method: 'INVITE', uri: to });
      const inv = buildRequest(alice, { method: 'INVITE', ruri: to, from: `sip:1001@${DOMAIN}`, to, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
      alice.send(inv.text);
      return { inv };
    })();
    await alice.waitFor(alice.response(480, 'INVITE', inv.callId));
    await edge!.cli((p) => p.addTenant('other', 'other.example.com'));
    expect(await eventually(async () => !!(await edge!.app.stores.accounts.getTenant('other')))).toBe(true);
    const far = 'sip:1002@other.example.com';
    const first = buildRequest(alice, { method: 'MESSAGE', ruri: far, from: `sip:1001@${DOMAIN}`, to: far });
    alice.send(first.text);
    const ch = await alice.waitFor(alice.response(407, 'MESSAGE', first.callId));
    const auth = proxyAuthorization(ch, { username: '1001', password: PW, method: 'MESSAGE', uri: far });
    const again = buildRequest(alice, { method: 'MESSAGE', ruri: far, from: `sip:1001@${DOMAIN}`, to: far, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
    alice.send(again.text);
    await alice.waitFor(alice.response(404, 'MESSAGE', first.callId));
  });

  it('admits a tenant on the "registered" policy without a challenge from its registered source only', async () => {
    await setup([], { tenantUserAuth: { acme: 'registered' } });
    const alice = await peer('udp');
    const bob = await peer('udp');
    expect(await register(alice, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(bob, '1002', DOMAIN, PW)).toBe(200);
    const to = `sip:1002@${DOMAIN}`;
    const msg = buildRequest(alice, { method: 'MESSAGE', ruri: to, from: `sip:1001@${DOMAIN}`, to });
    alice.send(msg.text);
    const atBob = await bob.waitFor(bob.request('MESSAGE', msg.callId));
    bob.reply(atBob, 200);
    await alice.waitFor(alice.response(200, 'MESSAGE', msg.callId));
    // Another socket claiming to be 1001 is not its registered source: challenged.
    const mallory = await peer('udp');
    const forged = buildRequest(mallory, { method: 'MESSAGE', ruri: to, from: `sip:1001@${DOMAIN}`, to });
    mallory.send(forged.text);
    await mallory.waitFor(mallory.response(407, 'MESSAGE', forged.callId));
  });
});
