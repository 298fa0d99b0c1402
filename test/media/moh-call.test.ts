// Calls to the hold-music URIs over real UDP sockets: an upstream PBX at 127.0.0.2 calls sip:moh@acme.example.com,
// receives RTP for seconds and hears the uploaded tone; re-INVITE moves the stream; codec and tenant refusals.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeAlaw, decodeUlaw } from '../../src/media/g711.ts';
import { SipClient } from '../helpers/sip-client.ts';
import { startEdge, type TestEdge } from '../helpers/edge.ts';
import { makeWav, rms, tone, toneShare } from './audio-fixtures.ts';
import { bodyOf, MohCall, offer, RtpReceiver } from './sip-peer.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let edge: TestEdge;
let pbx: SipClient;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  const base = 30000 + Math.floor(Math.random() * 300) * 100;
  edge = await startEdge({
    overrides: {
      upstreams: [{ uri: 'sip:127.0.0.2:5060', priority: 1, weight: 1, transport: 'udp' }],
      media: { rtpPortMin: base, rtpPortMax: base + 99, rtpAddress: '127.0.0.1' },
    },
  });
  await edge.app.stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
  await edge.app.stores.accounts.addTenant({ code: 'beta', domain: 'beta.example.com', createdAt: Date.now() });
  pbx = await SipClient.open({ transport: 'udp', port: edge.udpPort, localAddress: '127.0.0.2' });
});

afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await pbx.close();
  await edge.stop();
});

async function receiver(address = '127.0.0.2'): Promise<RtpReceiver> {
  const r = await RtpReceiver.open(address);
  closers.push(() => r.close());
  return r;
}

describe('hold music over SIP', () => {
  it('answers an upstream INVITE to sip:moh@ with sendonly PCMA and streams the tenant\'s uploaded tone for 3 s', async () => {
    await edge.app.media.upload({ tenant: 'acme', cls: 'hold', sourceName: 'tone.wav', bytes: makeWav(tone(44100, 4, 700, 0.5, 2), 44100, 'pcm16') });
    await sleep(600); // the edge's cache follows the activation counter every 250 ms
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port, '8 0'));
    expect(res.status).toBe(200);
    const sdp = bodyOf(res);
    expect(sdp).toMatch(/^m=audio \d+ RTP\/AVP 8 0\r$/m);
    expect(sdp).toContain('a=sendonly');
    expect(sdp).toContain('a=ptime:20');
    expect(sdp).toContain('c=IN IP4 127.0.0.1');
    call.ack();
    await sleep(3000);
    const got = [...rtp.packets];
    expect((await call.bye()).status).toBe(200);
    expect(got.length).toBeGreaterThan(135);
    expect(got.length).toBeLessThan(165);
    for (const p of got) {
      expect(p.version).toBe(2);
      expect(p.pt).toBe(8);
      expect(p.size).toBe(172);
      expect(p.ssrc).toBe(got[0]!.ssrc);
    }
    expect(got[0]!.marker).toBe(true);
    expect(got.slice(1).every((p) => !p.marker)).toBe(true);
    for (let i = 1; i < got.length; i++) {
      expect(got[i]!.seq).toBe((got[i - 1]!.seq + 1) & 0xffff);
      expect(got[i]!.ts).toBe((got[i - 1]!.ts + 160) >>> 0);
    }
    const pcm = decodeAlaw(Buffer.concat(got.map((p) => p.payload)));
    expect(rms(pcm)).toBeGreaterThan(2000);
    // Stereo 700 Hz left + 1050 Hz right downmixed: both tones, nothing else of note.
    expect(toneShare(pcm, 8000, 700) + toneShare(pcm, 8000, 1050)).toBeGreaterThan(0.9);
    // After BYE the stream stops.
    await sleep(100);
    const after = rtp.packets.length;
    await sleep(200);
    expect(rtp.packets.length).toBe(after);
    expect(await edge.metric('sipedge_moh_streams')).toBe(0);
  });

  it('plays the shipped default music (not silence) for a tenant that uploaded nothing, in PCMU when offered first', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:queue@beta.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port, '0 8'));
    expect(res.status).toBe(200);
    expect(bodyOf(res)).toMatch(/^m=audio \d+ RTP\/AVP 0 8\r$/m);
    call.ack();
    await sleep(1000);
    expect((await call.bye()).status).toBe(200);
    expect(rtp.packets.length).toBeGreaterThan(40);
    expect(rtp.packets.every((p) => p.pt === 0)).toBe(true);
    expect(rms(decodeUlaw(Buffer.concat(rtp.packets.map((p) => p.payload))))).toBeGreaterThan(1000);
  });

  it('streams to where a caller behind NAT sends its RTP from when its SDP names a private address', async () => {
    const rtp = await receiver(); // the caller's NAT: its public side is 127.0.0.2, like its SIP
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('10.11.12.13', 40000)); // the phone's LAN address, unreachable from here
    expect(res.status).toBe(200);
    const edgeRtpPort = Number(/^m=audio (\d+) /m.exec(bodyOf(res))![1]);
    call.ack();
    await sleep(300);
    expect(rtp.packets.length).toBe(0);
    // A stranger's packet moves nothing.
    const stranger = await receiver('127.0.0.3');
    stranger.socket.send(Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]), edgeRtpPort, '127.0.0.1');
    await sleep(300);
    expect(stranger.packets.length).toBe(0);
    // The phone's first RTP packet (through its NAT: from the SIP source address) pulls the stream to it.
    rtp.socket.send(Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7]), edgeRtpPort, '127.0.0.1');
    await sleep(600);
    expect(rtp.packets.length).toBeGreaterThan(20);
    expect(edge.logs.some((l) => l.includes('"moh.rtp.latched"') && l.includes(`"to":"127.0.0.2:${rtp.port}"`))).toBe(true);
    // A refresh repeating the private address keeps the stream where it is.
    expect((await call.invite(offer('10.11.12.13', 40000))).status).toBe(200);
    call.ack();
    const n = rtp.packets.length;
    await sleep(400);
    expect(rtp.packets.length - n).toBeGreaterThan(12);
    expect((await call.bye()).status).toBe(200);
  });

  it('follows a re-INVITE to a new address without restarting sequence or timestamp', async () => {
    const first = await receiver();
    const second = await receiver('127.0.0.3');
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', first.port))).status).toBe(200);
    call.ack();
    await sleep(500);
    const re = await call.invite(offer('127.0.0.3', second.port));
    expect(re.status).toBe(200);
    expect(bodyOf(re)).toMatch(/^o=sipedge \d+ 2 /m);
    call.ack();
    const movedAt = first.packets.length;
    await sleep(500);
    expect((await call.bye()).status).toBe(200);
    expect(first.packets.length - movedAt).toBeLessThanOrEqual(2);
    expect(second.packets.length).toBeGreaterThan(15);
    const a = first.packets.at(-1)!;
    const b = second.packets[0]!;
    expect(b.ssrc).toBe(a.ssrc);
    expect((b.seq - a.seq) & 0xffff).toBe(1);
    expect(b.ts - a.ts).toBe(160);
  });

  it('answers 488 when the offer has no PCMU or PCMA, and 404 for a domain no tenant owns', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port, '9', 'sendrecv', ['a=rtpmap:9 G722/8000']));
    expect(res.status).toBe(488);
    expect(res.header('warning')).toContain('no common codec');
    const stranger = new MohCall(pbx, edge.udpPort, 'sip:moh@nobody.example.com');
    expect((await stranger.invite(offer('127.0.0.2', rtp.port))).status).toBe(404);
    await sleep(100);
    expect(rtp.packets.length).toBe(0);
  });

  it('stops streaming and sends nothing while the peer puts the call on hold (sendonly offer -> inactive answer)', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    call.ack();
    await sleep(300);
    const re = await call.invite(offer('127.0.0.2', rtp.port, '0 8', 'sendonly'));
    expect(bodyOf(re)).toContain('a=inactive');
    call.ack();
    await sleep(100);
    const n = rtp.packets.length;
    await sleep(300);
    expect(rtp.packets.length).toBe(n);
    expect((await call.bye()).status).toBe(200);
  });

  it('lets a call on hold finish its loop of the old version, then switches to the newly activated one', async () => {
    // A loops every 6 s (300 frames); B is activated while the call is inside its first loop of A.
    await edge.app.media.upload({ tenant: 'acme', cls: 'hold', sourceName: 'a.wav', bytes: makeWav(tone(8000, 6, 500, 0.4), 8000, 'pcm16') });
    await sleep(600);
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port, '0'))).status).toBe(200);
    call.ack();
    await edge.app.media.upload({ tenant: 'acme', cls: 'hold', sourceName: 'b.wav', bytes: makeWav(tone(8000, 1, 1200, 0.4), 8000, 'pcm16') });
    await sleep(600); // the edge's cache has B now
    const switchedAt = rtp.packets.length;
    expect(switchedAt).toBeLessThan(290); // still inside the first loop of A
    await sleep(Math.max(0, (320 - switchedAt) * 20) + 1000);
    await call.bye();
    const frames = rtp.packets.map((p) => decodeUlaw(p.payload));
    expect(frames.length).toBeGreaterThan(340);
    const isA = (f: Int16Array) => toneShare(f, 8000, 500) > 0.5;
    const isB = (f: Int16Array) => toneShare(f, 8000, 1200) > 0.5;
    // After B became active the call still plays A to the end of its loop (frame 299; the last one fades out) ...
    expect(frames.slice(switchedAt, 299).every(isA)).toBe(true);
    // ... and B from the loop point on.
    expect(frames.slice(301, 340).every(isB)).toBe(true);
  }, 20_000);

  it('answers an INVITE without SDP with an offer of both codecs and starts streaming on the ACK\'s answer', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    const res = await call.invite('');
    expect(res.status).toBe(200);
    expect(bodyOf(res)).toMatch(/^m=audio \d+ RTP\/AVP 0 8\r$/m);
    await sleep(200);
    expect(rtp.packets.length).toBe(0);
    call.ack(offer('127.0.0.2', rtp.port, '8'));
    await sleep(600);
    expect((await call.bye()).status).toBe(200);
    expect(rtp.packets.length).toBeGreaterThan(20);
    expect(rtp.packets.every((p) => p.pt === 8)).toBe(true);
  });

  it('answers a BYE for a call that already ended with 481', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    call.ack();
    expect((await call.bye()).status).toBe(200);
    expect((await call.bye()).status).toBe(481);
  });

  it('accepts a session timer as refresher=uac (Require: timer) and refuses one under 90 s with 422 Min-SE', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port), ['Supported: timer', 'Session-Expires: 120']);
    expect(res.status).toBe(200);
    expect(res.header('session-expires')).toBe('120;refresher=uac');
    expect(res.header('require')).toBe('timer');
    call.ack();
    expect((await call.bye()).status).toBe(200);
    const short = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    const refused = await short.invite(offer('127.0.0.2', rtp.port), ['Supported: timer', 'Session-Expires: 30']);
    expect(refused.status).toBe(422);
    expect(refused.header('min-se')).toBe('90');
  });

  it('retransmits the 200 until the ACK arrives (RFC 3261 §13.3.1.4), then stops', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    const oks = () => pbx.received.filter((r) => r.status === 200 && r.header('call-id') === call.callId).length;
    await sleep(1700);
    expect(oks()).toBeGreaterThanOrEqual(3);
    call.ack();
    await sleep(100);
    const n = oks();
    await sleep(2200);
    expect(oks()).toBe(n);
    await call.bye();
  });

  it('sends a BYE and frees the stream when a sendrecv peer sends no RTP for media.rtpTimeoutSeconds', async () => {
    await edge.stop();
    const base = 38000 + Math.floor(Math.random() * 200) * 10;
    edge = await startEdge({ overrides: { upstreams: [{ uri: 'sip:127.0.0.2:5060', priority: 1, weight: 1, transport: 'udp' }], media: { rtpPortMin: base, rtpPortMax: base + 9, rtpTimeoutSeconds: 5 } } });
    await edge.app.stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
    await pbx.close();
    pbx = await SipClient.open({ transport: 'udp', port: edge.udpPort, localAddress: '127.0.0.2' });
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    call.ack();
    const bye = await pbx.waitFor((r) => r.raw.startsWith('BYE '), 9000);
    expect(bye.raw).toContain(`Call-ID: ${call.callId}`);
    expect(bye.raw).toMatch(/^To: <sip:pbx@127\.0\.0\.2>;tag=/m);
    expect(await edge.metric('sipedge_moh_streams')).toBe(0);
  }, 15_000);

  it('names a reachable address, never the wildcard, in Contact, SDP and Via when SIP listens on 0.0.0.0', async () => {
    await edge.stop();
    const base = 39000 + Math.floor(Math.random() * 90) * 10;
    // No media.rtpAddress, no sip.advertisedHost: the production default of listening on every address.
    edge = await startEdge({
      overrides: {
        sip: { udp: '0.0.0.0:0' },
        upstreams: [{ uri: 'sip:127.0.0.2:5060', priority: 1, weight: 1, transport: 'udp' }],
        media: { rtpPortMin: base, rtpPortMax: base + 9, rtpTimeoutSeconds: 5 },
      },
    });
    await edge.app.stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
    await pbx.close();
    pbx = await SipClient.open({ transport: 'udp', port: edge.udpPort, localAddress: '127.0.0.2' });
    const rtp = await receiver();
    const call = new MohCall(pbx, edge.udpPort, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port));
    expect(res.status).toBe(200);
    // The caller is on this host: the edge is 127.0.0.1 to it (a LAN caller gets the LAN address; unit-tested).
    expect(res.header('contact')).toBe(`<sip:moh@127.0.0.1:${edge.udpPort}>`);
    expect(bodyOf(res)).toContain('c=IN IP4 127.0.0.1');
    call.ack();
    await sleep(500);
    expect(rtp.packets.length).toBeGreaterThan(15);
    // The edge's own BYE (RTP timeout: this peer offered sendrecv and sends nothing) names it the same way in Via.
    const bye = await pbx.waitFor((r) => r.raw.startsWith('BYE '), 9000);
    expect(bye.raw).toMatch(new RegExp(`^Via: SIP/2\\.0/UDP 127\\.0\\.0\\.1:${edge.udpPort};`, 'm'));
    expect(bye.raw).not.toContain('0.0.0.0');
  }, 15_000);
});
