// Media anchoring through a real rtpengine (README "WebRTC media"): a browser (a WebSocket peer offering DTLS-SRTP
// with ICE) and desk phones (UDP peers offering RTP/AVP) call each other through the edge, which has each side's SDP
// rewritten by rtpengine: offers and answers both ways, early media, re-INVITE and UPDATE, forking, a late offer, and
// the rtpengine call's end on BYE, CANCEL and failure (rtpengine's own `query` says it is gone). Calls that need no
// bridging never touch rtpengine; calls that need it and cannot have it get 488 or 503 with a Warning.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { NgClient } from '../../src/relay/ng-client.ts';
import type { DeepPartial } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startTestRtpengine, type TestRtpengine } from '../../load-tests/lib/rtpengine.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { register } from '../helpers/phone.ts';
import { plainSdp, readSdp, webrtcSdp } from '../helpers/sdp.ts';
import { ackFor, buildRequest, inDialog, SipPeer, tagOf, uriOf, type Msg } from '../helpers/sip-peer.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

let rtpengine: TestRtpengine;
let ng: NgClient;
let edge: TestEdge | undefined;
const peers: SipPeer[] = [];

beforeAll(async () => {
  rtpengine = await startTestRtpengine();
  ng = new NgClient({ host: '127.0.0.1', port: rtpengine.ngPort, timeoutMs: 2000, retransmitMs: 250, clock: systemClock });
});
afterAll(async () => {
  ng?.close();
  await rtpengine?.stop();
});
afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  await edge?.stop();
  edge = undefined;
});

/** An edge for tenant acme (1001-1004, admitted from their registered source without a digest) with `media`. */
async function setup(media: DeepPartial<Config['media']> = { rtpengine: [{ address: rtpengine.address, weight: 1 }] }, more: DeepPartial<Config> = {}): Promise<TestEdge> {
  edge = await startEdge({
    overrides: {
      proxy: { tenantUserAuth: { acme: 'registered' } },
      media: { rtpengineProbe: { intervalSeconds: 0.5, timeoutSeconds: 0.3, failuresToDown: 2, successesToUp: 1 }, ...media },
      ...more,
    },
  });
  await edge.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    for (const ext of ['1001', '1002', '1003', '1004']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
  });
  expect(await eventually(async () => !!(await edge!.app.stores.accounts.getExtension('acme', '1004')))).toBe(true);
  if (edge.app.rtpengines.configured) expect(await eventually(() => edge!.app.rtpengines.members.every((m) => m.state === 'up'))).toBe(true);
  return edge;
}

/** A registered device of `ext`: a browser over WebSocket or a desk phone over UDP. */
async function device(kind: 'browser' | 'desk', ext: string): Promise<SipPeer> {
  const p = kind === 'browser' ? await SipPeer.open({ transport: 'ws', port: edge!.wsPort }) : await SipPeer.open({ transport: 'udp', port: edge!.udpPort });
  peers.push(p);
  expect(await register(p, ext, DOMAIN, PW)).toBe(200);
  return p;
}

interface Call {
  callId: string;
  fromTag: string;
  from: string;
  to: string;
  /** The INVITE as the callee got it. */
  atCallee: Msg;
}

/** `caller` (ext `from`) INVITEs ext `to` with `sdp`; resolves when `callee` has the INVITE. */
async function invite(caller: SipPeer, from: string, callee: SipPeer, to: string, sdp: string): Promise<Call> {
  const inv = buildRequest(caller, { method: 'INVITE', ruri: `sip:${to}@${DOMAIN}`, from: `sip:${from}@${DOMAIN}`, to: `sip:${to}@${DOMAIN}`, body: sdp });
  caller.send(inv.text);
  const atCallee = await callee.waitFor(callee.request('INVITE', inv.callId), 5000);
  return { callId: inv.callId, fromTag: inv.fromTag, from: `sip:${from}@${DOMAIN}`, to: `sip:${to}@${DOMAIN}`, atCallee };
}

/** rtpengine's answer to `query` for the call: its tags, or 'gone' once it no longer knows the Call-ID. */
async function queryTags(callId: string): Promise<string[] | 'gone'> {
  const q = await ng.command({ command: 'query', 'call-id': callId });
  if (!q.ok) {
    if (q.detail === 'Unknown call-id') return 'gone';
    throw new Error(`query failed: ${q.reason} ${q.detail}`);
  }
  return Object.keys(q.reply.tags as object).filter((t) => !t.startsWith('<untagged'));
}

async function gone(callId: string): Promise<boolean> {
  return await eventually(async () => (await queryTags(callId)) === 'gone', 5000);
}

/** The edge's log line for the call's end, parsed. */
async function endLine(callId: string): Promise<Record<string, unknown>> {
  const line = await edge!.waitForLog((l) => l.includes('"relay.call.end"') && l.includes(callId), 5000);
  return JSON.parse(line) as Record<string, unknown>;
}

describe('a browser and a desk phone call each other through rtpengine', () => {
  it('rewrites the browser offer to RTP/AVP for the desk phone and the answer back to DTLS-SRTP; BYE ends the rtpengine call', async () => {
    await setup();
    const browser = await device('browser', '1001');
    const desk = await device('desk', '1002');
    const call = await invite(browser, '1001', desk, '1002', webrtcSdp(50000));
    const offer = readSdp(call.atCallee.body);
    expect(offer).toMatchObject({ proto: 'RTP/AVP', address: '127.0.0.1', ice: false, fingerprint: false });
    expect(offer.codecs).toEqual(expect.arrayContaining(['PCMU', 'PCMA']));
    expect(offer.port).not.toBe(50000);
    expect(call.atCallee.header('content-length')).toBe(String(Buffer.byteLength(call.atCallee.body)));

    const deskTag = desk.reply(call.atCallee, 200, { body: plainSdp(4000, { pts: [0] }) });
    const ok = await browser.waitFor(browser.response(200, 'INVITE', call.callId));
    const answer = readSdp(ok.body);
    expect(answer).toMatchObject({ proto: 'UDP/TLS/RTP/SAVPF', address: '127.0.0.1', ice: true, fingerprint: true });
    expect(ok.body).toContain('a=rtcp-mux');
    expect(ok.body).not.toContain(' 4000 ');
    expect((await queryTags(call.callId)) as string[]).toEqual(expect.arrayContaining([call.fromTag, deskTag]));
    expect(await edge!.metric('sipedge_anchored_calls')).toBe(1);

    browser.send(ackFor(browser, call, ok, { from: call.from }));
    await desk.waitFor(desk.request('ACK', call.callId));
    const routes = ok.headers('record-route').reverse();
    browser.send(inDialog(browser, { method: 'BYE', target: uriOf(ok.header('contact')!), routes, from: call.from, fromTag: call.fromTag, to: call.to, toTag: deskTag, callId: call.callId, cseq: 2 }));
    desk.reply(await desk.waitFor(desk.request('BYE', call.callId)), 200);
    await browser.waitFor(browser.response(200, 'BYE', call.callId));
    expect(await gone(call.callId)).toBe(true);
    const end = await endLine(call.callId);
    expect(end).toMatchObject({ rtpengine: rtpengine.address, reason: 'bye', rule: 'bridge webrtc->rtp' });
    expect(end.legs).toEqual(expect.arrayContaining([
      expect.objectContaining({ side: 'caller', profile: 'webrtc' }),
      expect.objectContaining({ side: 'callee', profile: 'rtp', codec: 'PCMU/8000' }),
    ]));
    expect(await edge!.metric('sipedge_anchored_calls')).toBe(0);
    expect(await edge!.metric('sipedge_anchor_decisions_total', { outcome: 'anchored' })).toBe(1);
  });

  it('offers the browser DTLS-SRTP with ICE and Opus when a desk phone calls it, with early media (183) answered through rtpengine too; the desk phone hangs up', async () => {
    await setup();
    const browser = await device('browser', '1001');
    const desk = await device('desk', '1002');
    const call = await invite(desk, '1002', browser, '1001', plainSdp(4002));
    const offer = readSdp(call.atCallee.body);
    expect(offer).toMatchObject({ proto: 'UDP/TLS/RTP/SAVPF', ice: true, fingerprint: true });
    expect(offer.codecs).toContain('opus');
    expect(call.atCallee.body).toContain('a=setup:actpass');

    const tag = browser.reply(call.atCallee, 183, { body: webrtcSdp(50002, { setup: 'active' }) });
    const early = await desk.waitFor(desk.response(183, 'INVITE', call.callId));
    expect(readSdp(early.body)).toMatchObject({ proto: 'RTP/AVP', ice: false, fingerprint: false });
    browser.reply(call.atCallee, 200, { toTag: tag, body: webrtcSdp(50002, { setup: 'active' }) });
    const ok = await desk.waitFor(desk.response(200, 'INVITE', call.callId));
    expect(readSdp(ok.body)).toMatchObject({ proto: 'RTP/AVP', ice: false });
    desk.send(ackFor(desk, call, ok, { from: call.from }));
    await browser.waitFor(browser.request('ACK', call.callId));

    const routes = ok.headers('record-route').reverse();
    desk.send(inDialog(desk, { method: 'BYE', target: uriOf(ok.header('contact')!), routes, from: call.from, fromTag: call.fromTag, to: call.to, toTag: tag, callId: call.callId, cseq: 2 }));
    browser.reply(await browser.waitFor(browser.request('BYE', call.callId)), 200);
    expect(await gone(call.callId)).toBe(true);
    expect(await endLine(call.callId)).toMatchObject({ reason: 'bye', rule: 'bridge rtp->webrtc' });
  });

  it('re-offers a re-INVITE (the desk phone puts the browser on hold) and an UPDATE (the browser) through rtpengine, each towards the other side', async () => {
    await setup();
    const browser = await device('browser', '1001');
    const desk = await device('desk', '1002');
    const call = await invite(browser, '1001', desk, '1002', webrtcSdp(50004));
    const deskTag = desk.reply(call.atCallee, 200, { body: plainSdp(4004) });
    const ok = await browser.waitFor(browser.response(200, 'INVITE', call.callId));
    browser.send(ackFor(browser, call, ok, { from: call.from }));
    await desk.waitFor(desk.request('ACK', call.callId));

    // The desk phone's hold: a sendonly re-offer; the browser gets it as DTLS-SRTP, sendonly.
    const deskRoutes = call.atCallee.headers('record-route');
    const hold = inDialog(desk, { method: 'INVITE', target: uriOf(call.atCallee.header('contact')!), routes: deskRoutes, from: call.to, fromTag: deskTag, to: call.from, toTag: call.fromTag, callId: call.callId, cseq: 10, body: plainSdp(4004, { direction: 'sendonly' }) });
    desk.send(hold);
    const reinvite = await browser.waitFor((m) => m.isRequest && m.method === 'INVITE' && m.header('cseq') === '10 INVITE');
    expect(readSdp(reinvite.body)).toMatchObject({ proto: 'UDP/TLS/RTP/SAVPF', direction: 'sendonly', ice: true, fingerprint: true });
    browser.reply(reinvite, 200, { body: webrtcSdp(50004, { setup: 'active', direction: 'recvonly' }) });
    const held = await desk.waitFor((m) => !m.isRequest && m.status === 200 && m.header('cseq') === '10 INVITE');
    expect(readSdp(held.body)).toMatchObject({ proto: 'RTP/AVP', direction: 'recvonly', ice: false });

    // The browser sends an UPDATE with a new offer: the desk phone gets plain RTP.
    const routes = ok.headers('record-route').reverse();
    browser.send(inDialog(browser, { method: 'UPDATE', target: uriOf(ok.header('contact')!), routes, from: call.from, fromTag: call.fromTag, to: call.to, toTag: deskTag, callId: call.callId, cseq: 3, body: webrtcSdp(50006, { setup: 'active' }) }));
    const update = await desk.waitFor(desk.request('UPDATE', call.callId));
    expect(readSdp(update.body)).toMatchObject({ proto: 'RTP/AVP', ice: false, fingerprint: false });
    desk.reply(update, 200, { body: plainSdp(4004) });
    const updated = await browser.waitFor(browser.response(200, 'UPDATE', call.callId));
    expect(readSdp(updated.body)).toMatchObject({ proto: 'UDP/TLS/RTP/SAVPF', ice: true, fingerprint: true });
    expect(await queryTags(call.callId)).toEqual(expect.arrayContaining([call.fromTag, deskTag]));
  });

  it('ends the rtpengine call when the caller CANCELs and when the callee refuses (486)', async () => {
    await setup();
    const browser = await device('browser', '1001');
    const desk = await device('desk', '1002');
    const call = await invite(browser, '1001', desk, '1002', webrtcSdp(50008));
    const tag = desk.reply(call.atCallee, 180);
    await browser.waitFor(browser.response(180, 'INVITE', call.callId));
    expect(await queryTags(call.callId)).not.toBe('gone');
    const inv = call.atCallee;
    browser.send(
      ['CANCEL sip:1002@' + DOMAIN + ' SIP/2.0', `Via: ${browser.via};branch=${/branch=([^;]+)/.exec(inv.headers('via').at(-1)!)![1]};rport`, 'Max-Forwards: 70', `From: <${call.from}>;tag=${call.fromTag}`, `To: <${call.to}>`, `Call-ID: ${call.callId}`, 'CSeq: 1 CANCEL', 'Content-Length: 0', '', ''].join('\r\n'),
    );
    const cancel = await desk.waitFor(desk.request('CANCEL', call.callId));
    desk.reply(cancel, 200);
    desk.reply(inv, 487, { toTag: tag });
    await browser.waitFor(browser.response(487, 'INVITE', call.callId));
    expect(await gone(call.callId)).toBe(true);
    expect(await endLine(call.callId)).toMatchObject({ reason: 'cancelled' });

    const second = await invite(browser, '1001', desk, '1002', webrtcSdp(50010));
    desk.reply(second.atCallee, 486);
    await browser.waitFor(browser.response(486, 'INVITE', second.callId));
    expect(await gone(second.callId)).toBe(true);
    expect(await endLine(second.callId)).toMatchObject({ reason: 'failed 486' });
  });
});

describe('forking, late offers and the anchoring modes', () => {
  it('forks a desk phone call to a user with a browser and a desk phone: only the browser branch is anchored; when the desk phone answers, the rtpengine call goes', async () => {
    await setup();
    const caller = await device('desk', '1002');
    const browser = await device('browser', '1001');
    const desk = await device('desk', '1001');
    const sdp = plainSdp(4010);
    const call = await invite(caller, '1002', browser, '1001', sdp);
    const atDesk = await desk.waitFor(desk.request('INVITE', call.callId));
    expect(readSdp(call.atCallee.body).proto).toBe('UDP/TLS/RTP/SAVPF');
    expect(atDesk.body).toBe(sdp);
    const ringing = browser.reply(call.atCallee, 180);
    desk.reply(atDesk, 200, { body: plainSdp(4012) });
    const ok = await caller.waitFor(caller.response(200, 'INVITE', call.callId));
    expect(ok.body).toBe(plainSdp(4012));
    const cancel = await browser.waitFor(browser.request('CANCEL', call.callId));
    browser.reply(cancel, 200);
    browser.reply(call.atCallee, 487, { toTag: ringing });
    expect(await gone(call.callId)).toBe(true);
    expect(await endLine(call.callId)).toMatchObject({ reason: 'answered-unanchored' });
  });

  it('forks to two browsers of one user on one rtpengine call: each early answer (183) is rewritten under its own to-tag', async () => {
    await setup();
    const caller = await device('desk', '1002');
    const first = await device('browser', '1001');
    const second = await device('browser', '1001');
    const call = await invite(caller, '1002', first, '1001', plainSdp(4014));
    const atSecond = await second.waitFor(second.request('INVITE', call.callId));
    const tagA = first.reply(call.atCallee, 183, { body: webrtcSdp(50012, { setup: 'active' }) });
    const tagB = second.reply(atSecond, 183, { body: webrtcSdp(50014, { setup: 'active' }) });
    const earlyA = await caller.waitFor((m) => m.status === 183 && tagOf(m.header('to')) === tagA);
    const earlyB = await caller.waitFor((m) => m.status === 183 && tagOf(m.header('to')) === tagB);
    for (const e of [earlyA, earlyB]) expect(readSdp(e.body)).toMatchObject({ proto: 'RTP/AVP', ice: false });
    expect(await queryTags(call.callId)).toEqual(expect.arrayContaining([call.fromTag, tagA, tagB]));
    first.reply(call.atCallee, 200, { toTag: tagA, body: webrtcSdp(50012, { setup: 'active' }) });
    const ok = await caller.waitFor(caller.response(200, 'INVITE', call.callId));
    expect(tagOf(ok.header('to'))).toBe(tagA);
    expect(readSdp(ok.body).proto).toBe('RTP/AVP');
    expect(edge!.app.relay.size).toBe(1);
  });

  it('rewrites a late offer: the browser offers in its 2xx, the desk phone answers in its ACK', async () => {
    await setup();
    const browser = await device('browser', '1001');
    const desk = await device('desk', '1002');
    const inv = buildRequest(desk, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: `sip:1002@${DOMAIN}`, to: `sip:1001@${DOMAIN}` });
    desk.send(inv.text);
    const atBrowser = await browser.waitFor(browser.request('INVITE', inv.callId), 5000);
    expect(atBrowser.body).toBe('');
    const tag = browser.reply(atBrowser, 200, { body: webrtcSdp(50016) });
    const ok = await desk.waitFor(desk.response(200, 'INVITE', inv.callId));
    expect(readSdp(ok.body)).toMatchObject({ proto: 'RTP/AVP', ice: false, fingerprint: false });
    const ack = ackFor(desk, inv, ok, { from: `sip:1002@${DOMAIN}` }).replace('Content-Length: 0\r\n\r\n', `Content-Type: application/sdp\r\nContent-Length: ${plainSdp(4016, { pts: [0] }).length}\r\n\r\n${plainSdp(4016, { pts: [0] })}`);
    desk.send(ack);
    const atAck = await browser.waitFor(browser.request('ACK', inv.callId));
    expect(readSdp(atAck.body)).toMatchObject({ proto: 'UDP/TLS/RTP/SAVPF', ice: true, fingerprint: true });
    expect(await queryTags(inv.callId)).toEqual(expect.arrayContaining([tag, inv.fromTag]));
  });

  it('leaves desk phone to desk phone calls alone in bridge mode and anchors them in always mode', async () => {
    await setup();
    let caller = await device('desk', '1002');
    let callee = await device('desk', '1003');
    const sdp = plainSdp(4020);
    const direct = await invite(caller, '1002', callee, '1003', sdp);
    expect(direct.atCallee.body).toBe(sdp);
    expect(await queryTags(direct.callId)).toBe('gone');
    expect(await edge!.metric('sipedge_anchor_decisions_total', { outcome: 'direct' })).toBe(1);
    for (const p of peers.splice(0)) await p.close();
    await edge!.stop();

    await setup({ rtpengine: [{ address: rtpengine.address, weight: 1 }], anchoring: 'always' });
    caller = await device('desk', '1002');
    callee = await device('desk', '1003');
    const anchored = await invite(caller, '1002', callee, '1003', sdp);
    expect(readSdp(anchored.atCallee.body)).toMatchObject({ proto: 'RTP/AVP', address: '127.0.0.1', ice: false });
    expect(anchored.atCallee.body).not.toContain(' 4020 ');
    expect(await queryTags(anchored.callId)).toEqual([anchored.fromTag]);
    expect(await edge!.metric('sipedge_anchor_decisions_total', { outcome: 'anchored' })).toBe(1);
  });
});

describe('without a working rtpengine', () => {
  it('answers a call that needs bridging 488 with a Warning when no rtpengine is configured, and still connects desk phones', async () => {
    await setup({ rtpengine: [] });
    const browser = await device('browser', '1001');
    const desk = await device('desk', '1002');
    const inv = buildRequest(browser, { method: 'INVITE', ruri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, body: webrtcSdp(50020) });
    browser.send(inv.text);
    const refused = await browser.waitFor(browser.response(488, 'INVITE', inv.callId));
    expect(refused.header('warning')).toContain('needs rtpengine and none is configured');
    expect(desk.received.filter((m) => m.method === 'INVITE')).toHaveLength(0);
    const other = await device('desk', '1003');
    const plain = await invite(desk, '1002', other, '1003', plainSdp(4030));
    expect(plain.atCallee.body).toBe(plainSdp(4030));
    expect(await edge!.metric('sipedge_anchor_decisions_total', { outcome: 'refused' })).toBe(1);
  });

  it('notices an rtpengine killed mid-call: it is marked down, the next bridged call gets 503, a plain call still works, the BYE still goes through', async () => {
    const own = await startTestRtpengine();
    try {
      await setup({ rtpengine: [{ address: own.address, weight: 1 }] });
      const browser = await device('browser', '1001');
      const desk = await device('desk', '1002');
      const call = await invite(browser, '1001', desk, '1002', webrtcSdp(50030));
      const deskTag = desk.reply(call.atCallee, 200, { body: plainSdp(4040) });
      const ok = await browser.waitFor(browser.response(200, 'INVITE', call.callId));
      browser.send(ackFor(browser, call, ok, { from: call.from }));
      expect(await edge!.metric('sipedge_rtpengine_up', { rtpengine: own.address })).toBe(1);

      await own.kill();
      await edge!.waitForLog((l) => l.includes('"rtpengine.down"') && l.includes(own.address), 10_000);
      expect(await edge!.metric('sipedge_rtpengine_up', { rtpengine: own.address })).toBe(0);

      const next = buildRequest(browser, { method: 'INVITE', ruri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, body: webrtcSdp(50032) });
      browser.send(next.text);
      const refused = await browser.waitFor(browser.response(503, 'INVITE', next.callId));
      expect(refused.header('warning')).toContain('no media relay (rtpengine) is reachable');
      expect(refused.header('retry-after')).toBe('5');

      const other = await device('desk', '1003');
      const plain = await invite(desk, '1002', other, '1003', plainSdp(4042));
      expect(plain.atCallee.body).toBe(plainSdp(4042));

      // The anchored call's BYE still reaches the desk phone; its log line says rtpengine could not be asked.
      const routes = ok.headers('record-route').reverse();
      browser.send(inDialog(browser, { method: 'BYE', target: uriOf(ok.header('contact')!), routes, from: call.from, fromTag: call.fromTag, to: call.to, toTag: deskTag, callId: call.callId, cseq: 2 }));
      desk.reply(await desk.waitFor(desk.request('BYE', call.callId)), 200);
      expect(await endLine(call.callId)).toMatchObject({ reason: 'bye', stats: 'unavailable' });
      expect(await edge!.metric('sipedge_rtpengine_errors_total', { rtpengine: own.address })).toBeGreaterThan(0);
    } finally {
      await own.stop();
    }
  });
});
