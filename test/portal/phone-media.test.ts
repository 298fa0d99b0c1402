// WebRTC media through rtpengine with real parts: the Phone tab in Debian's Chromium (its fake microphone plays a
// known 1 kHz tone), a real rtpengine, and SIPp as the PBX with RTP. The browser calls the PBX and the PBX's G.711
// carries the tone; the PBX calls the browser and the page hears it (getStats audioLevel); the browser calls the hold
// music and hears it; hang-up from either side ends the rtpengine call (rtpengine's own `query` says it is gone).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { NgClient } from '../../src/relay/ng-client.ts';
import { startTestRtpengine, type TestRtpengine } from '../../load-tests/lib/rtpengine.ts';
import { runSipp } from '../../load-tests/lib/sipp.ts';
import { startSippUas, type SippUas } from '../../load-tests/lib/sipp-uas.ts';
import { DOMAIN, LOGIN, portalSuite, recordPeerConnections, registered, shootAsIs, signIn, type PortalEdge } from '../helpers/browser.ts';
import { eventually } from '../helpers/edge.ts';
import { RtpReceiver } from '../media/moh-caller.ts';
import { decodeG711, tonePcap, toneShares, toneWav } from '../helpers/tone.ts';

let dir = '';
let rtpengine: TestRtpengine;
let ng: NgClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sipedge-phone-media-'));
  writeFileSync(join(dir, 'tone.wav'), toneWav());
  rtpengine = await startTestRtpengine();
  ng = new NgClient({ host: '127.0.0.1', port: rtpengine.ngPort, timeoutMs: 2000, retransmitMs: 250, clock: systemClock });
});
afterAll(async () => {
  ng?.close();
  await rtpengine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The inbound audio of the page's newest peer connection: its level (0..1, getStats audioLevel) and bytes. */
function inbound(page: Page): Promise<{ level: number; bytes: number; codec: string }> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { peerConnections: RTCPeerConnection[] }).peerConnections;
    const pc = pcs[pcs.length - 1];
    const out = { level: 0, bytes: 0, codec: '' };
    if (!pc) return out;
    const stats = await pc.getStats();
    stats.forEach((r: { type: string; kind?: string; audioLevel?: number; bytesReceived?: number; codecId?: string }) => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'audio') return;
      out.level = Math.max(out.level, r.audioLevel ?? 0);
      out.bytes += r.bytesReceived ?? 0;
      const codec = r.codecId === undefined ? undefined : (stats.get(r.codecId) as { mimeType?: string } | undefined);
      out.codec = codec?.mimeType ?? '';
    });
    return out;
  });
}

const callStatus = (page: Page): Promise<string | null> => page.getByTestId('call').getAttribute('data-status').catch(() => null);

/** rtpengine's answer to `query`: 'gone' once it no longer knows the Call-ID. */
async function isGone(callId: string): Promise<boolean> {
  const q = await ng.command({ command: 'query', 'call-id': callId });
  return !q.ok && q.detail === 'Unknown call-id';
}

/** The Call-ID of the edge's anchored call (its log line), once there is one. */
async function anchoredCallId(pe: PortalEdge): Promise<string> {
  const line = await pe.edge.waitForLog((l) => l.includes('"relay.call.anchored"'), 20_000);
  return (JSON.parse(line) as { callId: string }).callId;
}

describe('Phone tab media through rtpengine (Chromium, SIPp, rtpengine)', { timeout: 120_000 }, () => {
  const suite = portalSuite(() => ({ fakeAudioFile: join(dir, 'tone.wav') }));
  let pbx: SippUas | undefined;
  let ear: RtpReceiver | undefined;

  /** The edge with rtpengine and a SIPp PBX on 127.0.0.2 that answers with an SDP naming `ear` (our RTP receiver). */
  async function edgeWithPbx(): Promise<PortalEdge> {
    ear = await RtpReceiver.open('127.0.0.2');
    pbx = await startSippUas({ ip: '127.0.0.2', scenario: 'load-tests/sipp/uas-media.xml', extraArgs: ['-key', 'rtpip', '127.0.0.2', '-key', 'rtpport', String(ear.port)] });
    const pe = await suite.edge({
      upstreams: [{ uri: pbx.uri, priority: 1, weight: 1, transport: 'udp' }],
      // Up at its first answer; on a busy machine a late OPTIONS answer must not take the PBX down mid-test.
      proxy: { probe: { intervalSeconds: 2, timeoutSeconds: 1.5, failuresToDown: 5, successesToUp: 1 } },
      media: { rtpengine: [{ address: rtpengine.address, weight: 1 }] },
    });
    expect(await eventually(() => pe.edge.app.upstreams.healthy().length === 1 && pe.edge.app.rtpengines.members[0]!.state === 'up', 10_000)).toBe(true);
    return pe;
  }

  async function user(name: string, password: string): Promise<Page> {
    const { page, context } = await suite.page();
    await context.addInitScript(recordPeerConnections);
    await signIn(page, name, password);
    await registered(page);
    return page;
  }

  afterEach(async () => {
    await pbx?.stop();
    await ear?.close();
    pbx = undefined;
    ear = undefined;
  });

  it('the browser calls the PBX: the PBX receives G.711 RTP carrying the browser microphone tone; hanging up in the browser ends the rtpengine call', async () => {
    const pe = await edgeWithPbx();
    const alice = await user('1001-acme', LOGIN.alice);
    await alice.getByLabel('Number or extension').fill('2000');
    await alice.getByRole('button', { name: 'Call' }).click();
    await expect.poll(() => callStatus(alice), { timeout: 30_000 }).toBe('connected');
    const callId = await anchoredCallId(pe);
    // Two seconds of the PBX's audio, after the first half second (ICE, DTLS and the encoder settle).
    await ear!.received(150, 30_000);
    const audio = decodeG711(ear!.packets.slice(-100));
    expect(audio.length).toBe(16_000);
    const shares = toneShares(audio);
    expect(shares.atTone, JSON.stringify(shares)).toBeGreaterThan(0.5);
    expect(shares.offTone).toBeLessThan(0.05);
    await shootAsIs(alice, 'phone-call-pbx');

    await alice.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => callStatus(alice), { timeout: 10_000 }).toBe('ended');
    expect(await eventually(() => isGone(callId), 10_000)).toBe(true);
    const end = JSON.parse(await pe.edge.waitForLog((l) => l.includes('"relay.call.end"') && l.includes(callId))) as { reason: string; legs: { side: string; profile: string; packets: number; codec: string }[] };
    expect(end.reason).toBe('bye');
    // The call's log line: what rtpengine received from the browser (the PBX here sends nothing), codecs per leg.
    const legs = Object.fromEntries(end.legs.map((l) => [l.side, l]));
    expect(legs.caller, JSON.stringify(end.legs)).toMatchObject({ profile: 'webrtc' });
    expect(legs.caller!.packets, JSON.stringify(end.legs)).toBeGreaterThan(50);
    expect(legs.callee, JSON.stringify(end.legs)).toMatchObject({ profile: 'rtp', codec: expect.stringMatching(/^(PCMU|PCMA)\/8000$/) });
  });

  it('the PBX (SIPp) calls the browser: the page hears the PBX tone (getStats audioLevel above silence); the PBX hanging up ends the rtpengine call', async () => {
    const pe = await edgeWithPbx();
    const alice = await user('1001-acme', LOGIN.alice);
    const calling = runSipp({
      scenario: 'load-tests/sipp/uac-media.xml',
      target: `127.0.0.1:${pe.edge.udpPort}`,
      calls: 1,
      localIp: '127.0.0.2',
      timeoutMs: 90_000,
      recvTimeoutMs: 60_000,
      files: { 'tone-pcmu.pcap': tonePcap(10) },
      extraArgs: ['-s', '1001', '-key', 'domain', DOMAIN, '-mi', '127.0.0.2', '-d', '8000'],
    });
    await alice.getByTestId('incoming').waitFor({ timeout: 30_000 });
    expect(await alice.getByTestId('incoming').textContent()).not.toContain('does not speak WebRTC');
    await alice.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => callStatus(alice), { timeout: 20_000 }).toBe('connected');
    const callId = await anchoredCallId(pe);
    let heard = { level: 0, bytes: 0, codec: '' };
    await expect.poll(async () => (heard = await inbound(alice)).level, { timeout: 20_000, interval: 250 }).toBeGreaterThan(0.1);
    expect(heard.bytes).toBeGreaterThan(0);
    await shootAsIs(alice, 'phone-call-from-pbx');
    const result = await calling;
    expect(result.exitCode, result.errors).toBe(0);
    await expect.poll(() => callStatus(alice), { timeout: 10_000 }).toBe('ended');
    expect(await eventually(() => isGone(callId), 10_000)).toBe(true);
  });

  it('the browser calls the hold music and hears it; hanging up ends the rtpengine call', async () => {
    const pe = await suite.edge({ media: { rtpengine: [{ address: rtpengine.address, weight: 1 }] } });
    expect(await eventually(() => pe.edge.app.rtpengines.members[0]!.state === 'up', 10_000)).toBe(true);
    const alice = await user('1001-acme', LOGIN.alice);
    await alice.getByLabel('Number or extension').fill('moh');
    await alice.getByRole('button', { name: 'Call' }).click();
    await expect.poll(() => callStatus(alice), { timeout: 30_000 }).toBe('connected');
    const callId = await anchoredCallId(pe);
    await expect.poll(async () => (await inbound(alice)).level, { timeout: 20_000, interval: 250 }).toBeGreaterThan(0.01);
    expect(await alice.getByTestId('call-message').textContent().catch(() => '')).not.toContain('does not speak WebRTC');
    await alice.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => callStatus(alice), { timeout: 10_000 }).toBe('ended');
    expect(await eventually(() => isGone(callId), 10_000)).toBe(true);
  });
});
