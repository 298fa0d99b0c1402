// Calls to the hold-music URIs over real UDP sockets: an upstream PBX at 127.0.0.2 calls sip:moh@acme.example.com,
// receives RTP and hears the uploaded tone; re-INVITE moves the stream; codec and tenant refusals. Time is the edge's
// fake clock, moved by play() (which runs the scheduler as its timer would); RtpReceiver.settled() waits until what was
// sent has been read. Nothing sleeps: the real-time story is test/e2e/sipp-moh.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import type { DeepPartial } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { decodeAlaw, decodeUlaw } from '../../src/media/g711.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { startEdge, type TestEdge } from '../helpers/edge.ts';
import { makeWav, rms, tone, toneShare } from './audio-fixtures.ts';
import { MohCall, offer, play as playOn, RtpReceiver } from './moh-caller.ts';

let edge: TestEdge;
let clock: FakeClock;
let pbx: SipPeer;
const closers: (() => Promise<void>)[] = [];
const upstreams = [{ uri: 'sip:127.0.0.2:5060', priority: 1, weight: 1, transport: 'udp' as const }];

/** An edge on a fake clock with tenants acme and beta, and the PBX at 127.0.0.2 that calls it. */
async function start(overrides: DeepPartial<Config>, tenants = ['acme', 'beta']): Promise<void> {
  clock = new FakeClock(Date.now());
  edge = await startEdge({ clock, overrides: { upstreams, ...overrides } });
  for (const code of tenants) await edge.app.stores.accounts.addTenant({ code, domain: `${code}.example.com`, createdAt: clock.now() });
  pbx = await SipPeer.open({ transport: 'udp', port: edge.udpPort, localAddress: '127.0.0.2' });
}

beforeEach(async () => {
  const base = 30000 + Math.floor(Math.random() * 300) * 100;
  await start({ media: { rtpPortMin: base, rtpPortMax: base + 99, rtpAddress: '127.0.0.1' } });
});

afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await pbx.close();
  await edge.stop();
});

async function restart(overrides: DeepPartial<Config>): Promise<void> {
  await pbx.close();
  await edge.stop();
  await start(overrides, ['acme']);
}

async function receiver(address = '127.0.0.2'): Promise<RtpReceiver> {
  const r = await RtpReceiver.open(address);
  closers.push(() => r.close());
  return r;
}

/** `ms` of hold music on the edge's clock; resolves once the receivers have read what it sent. */
function play(ms: number, ...receivers: RtpReceiver[]): Promise<void> {
  return playOn(clock, edge.app.holdMusic.scheduler, ms, receivers);
}

/** Uploads hold music for acme and waits until the edge's cache has it (it also follows the store on its own). */
async function upload(name: string, bytes: Buffer): Promise<void> {
  await edge.app.media.upload({ tenant: 'acme', cls: 'hold', sourceName: name, bytes });
  await edge.app.holdMusic.refreshMusic();
}

describe('hold music over SIP', () => {
  it('answers an upstream INVITE to sip:moh@ with sendonly PCMA and streams the tenant\'s uploaded tone for 3 s', async () => {
    await upload('tone.wav', makeWav(tone(44100, 4, 700, 0.5, 2), 44100, 'pcm16'));
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port, '8 0'));
    expect(res.status).toBe(200);
    const sdp = res.body;
    expect(sdp).toMatch(/^m=audio \d+ RTP\/AVP 8 0\r$/m);
    expect(sdp).toContain('a=sendonly');
    expect(sdp).toContain('a=ptime:20');
    expect(sdp).toContain('c=IN IP4 127.0.0.1');
    call.ack();
    await play(3000, rtp);
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
    await play(100, rtp);
    const after = rtp.packets.length;
    await play(200, rtp);
    expect(rtp.packets.length).toBe(after);
    expect(await edge.metric('sipedge_moh_streams')).toBe(0);
  });

  it('plays the shipped default music (not silence) for a tenant that uploaded nothing, in PCMU when offered first', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:queue@beta.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port, '0 8'));
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^m=audio \d+ RTP\/AVP 0 8\r$/m);
    call.ack();
    await play(1000, rtp);
    expect((await call.bye()).status).toBe(200);
    expect(rtp.packets.length).toBeGreaterThan(40);
    expect(rtp.packets.every((p) => p.pt === 0)).toBe(true);
    expect(rms(decodeUlaw(Buffer.concat(rtp.packets.map((p) => p.payload))))).toBeGreaterThan(1000);
  });

  it('streams to where a caller behind NAT sends its RTP from when its SDP names a private address', async () => {
    const rtp = await receiver(); // the caller's NAT: its public side is 127.0.0.2, like its SIP
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('10.11.12.13', 40000)); // the phone's LAN address, unreachable from here
    expect(res.status).toBe(200);
    const edgeRtpPort = Number(/^m=audio (\d+) /m.exec(res.body)![1]);
    call.ack();
    await play(300, rtp);
    expect(rtp.packets.length).toBe(0);
    // A stranger's packet moves nothing.
    const stranger = await receiver('127.0.0.3');
    stranger.socket.send(Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]), edgeRtpPort, '127.0.0.1');
    await stranger.settled(); // the edge's RTP socket has read the stranger's packet too
    await play(300, stranger);
    expect(stranger.packets.length).toBe(0);
    // The phone's first RTP packet (through its NAT: from the SIP source address) pulls the stream to it.
    const latched = edge.waitForLog((l) => l.includes('"moh.rtp.latched"') && l.includes(`"to":"127.0.0.2:${rtp.port}"`));
    rtp.socket.send(Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7]), edgeRtpPort, '127.0.0.1');
    await latched;
    await play(600, rtp);
    expect(rtp.packets.length).toBeGreaterThan(20);
    // A refresh repeating the private address keeps the stream where it is.
    expect((await call.invite(offer('10.11.12.13', 40000))).status).toBe(200);
    call.ack();
    const n = rtp.packets.length;
    await play(400, rtp);
    expect(rtp.packets.length - n).toBeGreaterThan(12);
    expect((await call.bye()).status).toBe(200);
  });

  it('follows a re-INVITE to a new address without restarting sequence or timestamp', async () => {
    const first = await receiver();
    const second = await receiver('127.0.0.3');
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', first.port))).status).toBe(200);
    call.ack();
    await play(500, first);
    const re = await call.invite(offer('127.0.0.3', second.port));
    expect(re.status).toBe(200);
    expect(re.body).toMatch(/^o=sipedge \d+ 2 /m);
    call.ack();
    const movedAt = first.packets.length;
    await play(500, first, second);
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
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port, '9', 'sendrecv', ['a=rtpmap:9 G722/8000']));
    expect(res.status).toBe(488);
    expect(res.header('warning')).toContain('no common codec');
    const stranger = new MohCall(pbx, 'sip:moh@nobody.example.com');
    expect((await stranger.invite(offer('127.0.0.2', rtp.port))).status).toBe(404);
    await play(100, rtp);
    expect(rtp.packets.length).toBe(0);
  });

  it('stops streaming and sends nothing while the peer puts the call on hold (sendonly offer -> inactive answer)', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    call.ack();
    await play(300, rtp);
    const re = await call.invite(offer('127.0.0.2', rtp.port, '0 8', 'sendonly'));
    expect(re.body).toContain('a=inactive');
    call.ack();
    await play(100, rtp);
    const n = rtp.packets.length;
    await play(300, rtp);
    expect(rtp.packets.length).toBe(n);
    expect((await call.bye()).status).toBe(200);
  });

  it('lets a call on hold finish its loop of the old version, then switches to the newly activated one', async () => {
    // A loops every 6 s (300 frames); B is activated while the call is inside its first loop of A.
    await upload('a.wav', makeWav(tone(8000, 6, 500, 0.4), 8000, 'pcm16'));
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port, '0'))).status).toBe(200);
    call.ack();
    await play(1000, rtp);
    await upload('b.wav', makeWav(tone(8000, 1, 1200, 0.4), 8000, 'pcm16'));
    const switchedAt = rtp.packets.length;
    expect(switchedAt).toBeLessThan(290); // still inside the first loop of A
    await play(Math.max(0, (320 - switchedAt) * 20) + 1000, rtp);
    await call.bye();
    const frames = rtp.packets.map((p) => decodeUlaw(p.payload));
    expect(frames.length).toBeGreaterThan(340);
    const isA = (f: Int16Array) => toneShare(f, 8000, 500) > 0.5;
    const isB = (f: Int16Array) => toneShare(f, 8000, 1200) > 0.5;
    // After B became active the call still plays A to the end of its loop (frame 299; the last one fades out) ...
    expect(frames.slice(switchedAt, 299).every(isA)).toBe(true);
    // ... and B from the loop point on.
    expect(frames.slice(301, 340).every(isB)).toBe(true);
  });

  it('answers an INVITE without SDP with an offer of both codecs and starts streaming on the ACK\'s answer', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    const res = await call.invite('');
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^m=audio \d+ RTP\/AVP 0 8\r$/m);
    await play(200, rtp);
    expect(rtp.packets.length).toBe(0);
    call.ack(offer('127.0.0.2', rtp.port, '8'));
    await pbx.settled(); // the ACK has reached the edge, and its answer has started the stream
    await play(600, rtp);
    expect((await call.bye()).status).toBe(200);
    expect(rtp.packets.length).toBeGreaterThan(20);
    expect(rtp.packets.every((p) => p.pt === 8)).toBe(true);
  });

  it('answers a BYE for a call that already ended with 481', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    call.ack();
    expect((await call.bye()).status).toBe(200);
    expect((await call.bye()).status).toBe(481);
  });

  it('accepts a session timer as refresher=uac (Require: timer) and refuses one under 90 s with 422 Min-SE', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port), ['Supported: timer', 'Session-Expires: 120']);
    expect(res.status).toBe(200);
    expect(res.header('session-expires')).toBe('120;refresher=uac');
    expect(res.header('require')).toBe('timer');
    call.ack();
    expect((await call.bye()).status).toBe(200);
    const short = new MohCall(pbx, 'sip:moh@acme.example.com');
    const refused = await short.invite(offer('127.0.0.2', rtp.port), ['Supported: timer', 'Session-Expires: 30']);
    expect(refused.status).toBe(422);
    expect(refused.header('min-se')).toBe('90');
  });

  it('retransmits the 200 until the ACK arrives (RFC 3261 §13.3.1.4), then stops', async () => {
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    // The first 200 was taken by invite(); its retransmissions stay in `received`.
    const retransmitted = () => pbx.received.filter((r) => r.status === 200 && r.header('call-id') === call.callId).length;
    await play(1700, rtp);
    await pbx.settled();
    expect(retransmitted()).toBeGreaterThanOrEqual(2); // T1 (500 ms), then 2 x T1 later
    call.ack();
    await pbx.settled(); // the ACK has reached the edge
    await play(100, rtp);
    await pbx.settled();
    const n = retransmitted();
    await play(2200, rtp);
    await pbx.settled();
    expect(retransmitted()).toBe(n);
    await call.bye();
  });

  it('sends a BYE and frees the stream when a sendrecv peer sends no RTP for media.rtpTimeoutSeconds', async () => {
    const base = 38000 + Math.floor(Math.random() * 200) * 10;
    await restart({ media: { rtpPortMin: base, rtpPortMax: base + 9, rtpTimeoutSeconds: 5 } });
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port))).status).toBe(200);
    call.ack();
    await pbx.settled();
    const bye = pbx.waitFor((r) => r.raw.startsWith('BYE '));
    await play(7000, rtp);
    expect((await bye).raw).toContain(`Call-ID: ${call.callId}`);
    expect((await bye).raw).toMatch(/^To: <sip:pbx@127\.0\.0\.2>;tag=/m);
    expect(await edge.metric('sipedge_moh_streams')).toBe(0);
  });

  it('names a reachable address, never the wildcard, in Contact, SDP and Via when SIP listens on 0.0.0.0', async () => {
    const base = 39000 + Math.floor(Math.random() * 90) * 10;
    // No media.rtpAddress, no sip.advertisedHost: the production default of listening on every address.
    await restart({ sip: { udp: '0.0.0.0:0' }, media: { rtpPortMin: base, rtpPortMax: base + 9, rtpTimeoutSeconds: 5 } });
    const rtp = await receiver();
    const call = new MohCall(pbx, 'sip:moh@acme.example.com');
    const res = await call.invite(offer('127.0.0.2', rtp.port));
    expect(res.status).toBe(200);
    // The caller is on this host: the edge is 127.0.0.1 to it (a LAN caller gets the LAN address; unit-tested).
    expect(res.header('contact')).toBe(`<sip:moh@127.0.0.1:${edge.udpPort}>`);
    expect(res.body).toContain('c=IN IP4 127.0.0.1');
    call.ack();
    await pbx.settled();
    await play(500, rtp);
    expect(rtp.packets.length).toBeGreaterThan(15);
    // The edge's own BYE (RTP timeout: this peer offered sendrecv and sends nothing) names it the same way in Via.
    const bye = pbx.waitFor((r) => r.raw.startsWith('BYE '));
    await play(7000, rtp);
    expect((await bye).raw).toMatch(new RegExp(`^Via: SIP/2\\.0/UDP 127\\.0\\.0\\.1:${edge.udpPort};`, 'm'));
    expect((await bye).raw).not.toContain('0.0.0.0');
  });
});
