// The I/O switches as an operator sees them: the edge says at start how it moves SIP datagrams and RTP packets, and
// why not natively. This file runs in both test projects (vitest.config.ts): with the native parts, and with
// SIPEDGE_NATIVE_UDP=0 and SIPEDGE_NATIVE_RTP=0, where the registrar, proxy and hold-music stories run on dgram.
import { afterEach, expect, it } from 'vitest';
import { IO_SWITCHES } from '../../src/config/io-switches.ts';
import { startEdge, type TestEdge } from '../helpers/edge.ts';

let edge: TestEdge | undefined;
afterEach(async () => {
  await edge?.stop();
  edge = undefined;
});

const switchedOff = process.env[IO_SWITCHES.nativeUdp] === '0';

it(`logs at start that SIP over UDP and hold-music RTP use ${switchedOff ? 'dgram, and why' : 'the native I/O'}`, async () => {
  edge = await startEdge();
  const lines = edge.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  const listening = lines.find((l) => l.event === 'transport.listening');
  const rtp = lines.find((l) => l.event === 'moh.rtp.sender');
  if (switchedOff) {
    expect(listening).toMatchObject({ udpIo: 'dgram', udpIoReason: 'disabled by SIPEDGE_NATIVE_UDP=0' });
    expect(rtp).toMatchObject({ native: false, why: 'disabled by SIPEDGE_NATIVE_RTP=0' });
  } else {
    expect(listening).toMatchObject({ udpIo: 'native' });
    expect(listening).not.toHaveProperty('udpIoReason');
    expect(rtp).toMatchObject({ native: true });
  }
});
