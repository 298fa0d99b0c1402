// Hold music with the Redis store: an upload through one edge is played by a second edge sharing the same Redis
// (multi-node: the activation counter and the artifact come from Redis).
import { afterEach, describe, expect, it } from 'vitest';
import { decodeUlaw } from '../../src/media/g711.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { startEdge, type TestEdge } from '../helpers/edge.ts';
import { makeWav, tone, toneShare } from './audio-fixtures.ts';
import { MohCall, offer, RtpReceiver } from './moh-caller.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('hold music on the Redis store', () => {
  it('plays music uploaded through one edge on another edge sharing the Redis store', async () => {
    const upstreams = [{ uri: 'sip:127.0.0.2:5060', priority: 1, weight: 1, transport: 'udp' as const }];
    const a: TestEdge = await startEdge({ store: 'redis', overrides: { upstreams } });
    cleanup.push(() => a.stop());
    const base = 36000 + Math.floor(Math.random() * 200) * 10;
    const b: TestEdge = await startEdge({
      store: 'redis',
      overrides: { upstreams, redis: { keyPrefix: a.config.redis.keyPrefix }, media: { rtpPortMin: base, rtpPortMax: base + 9 } },
    });
    cleanup.push(() => b.stop());
    await a.app.stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
    await a.app.media.upload({ tenant: 'acme', cls: 'queue', sourceName: 'q.wav', bytes: makeWav(tone(32000, 2, 800, 0.4), 32000, 'float32') });
    await b.app.holdMusic.refreshMusic(); // b reads the activation from Redis (its cache also polls it)
    const pbx = await SipPeer.open({ transport: 'udp', port: b.udpPort, localAddress: '127.0.0.2' });
    cleanup.push(() => pbx.close());
    const rtp = await RtpReceiver.open();
    cleanup.push(() => rtp.close());
    const call = new MohCall(pbx, 'sip:queue@acme.example.com');
    expect((await call.invite(offer('127.0.0.2', rtp.port, '0'))).status).toBe(200);
    call.ack();
    await rtp.received(25);
    expect((await call.bye()).status).toBe(200);
    expect(toneShare(decodeUlaw(Buffer.concat(rtp.packets.map((p) => p.payload))), 8000, 800)).toBeGreaterThan(0.9);
    expect((await b.app.stores.media.active('acme', 'queue'))?.sourceName).toBe('q.wav');
  });
});
