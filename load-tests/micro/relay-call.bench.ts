// Micro-benchmark of what an anchored call costs the edge in src/relay/ alone: MediaRelay's offer (the browser's SDP
// towards a desk phone), answer (the desk phone's SDP back) and end (delete) against a real rtpengine, one call after
// the other, as CPU microseconds of this process per call: encoding, the NG client's sends, the three reply wakeups,
// decoding and the call's bookkeeping (rtpengine's own work is another process's). The SIP side of a bridged call is
// run-invite.ts --anchor's. Run with `npx tsx load-tests/micro/relay-call.bench.ts`.
import { systemClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { MediaRelay } from '../../src/relay/media-relay.ts';
import { RtpengineSet } from '../../src/relay/rtpengine-set.ts';
import { cpuMicros } from '../lib/cpu-bench.ts';
import { startTestRtpengine } from '../lib/rtpengine.ts';
import { BROWSER_OFFER, PBX_ANSWER } from './relay-sdp.ts';

const CALLS_PER_ROUND = 1500;
const ROUNDS = 5;

const rtpengine = await startTestRtpengine({ logLevel: 4 });
const logger = silentLogger();
const set = new RtpengineSet({
  rtpengines: [{ address: rtpengine.address, weight: 1 }],
  probe: { intervalSeconds: 5, timeoutSeconds: 1, failuresToDown: 2, successesToUp: 2 },
  clock: systemClock,
  logger,
  metrics: new Metrics(),
});
const relay = new MediaRelay({ set, mode: 'bridge', clock: systemClock, logger });
let seq = 0;
let failed = 0;

/** One anchored call's relay work, as the proxy asks it of MediaRelay for INVITE, its 200 and the BYE. */
async function call(): Promise<void> {
  const callId = `relay-bench-${seq++}@127.0.0.1`;
  const offer = await relay.offer({ callId, fromTag: 'caller', sdp: BROWSER_OFFER, from: 'webrtc', toward: 'rtp' }, 'bridge webrtc->rtp');
  const answer = await relay.answer({ callId, fromTag: 'caller', toTag: 'callee', sdp: PBX_ANSWER, from: 'rtp', toward: 'webrtc' });
  if (!offer.ok || !answer.ok) failed++;
  await relay.end(callId, 'bye');
}

try {
  await set.start();
  for (let i = 0; i < 300; i++) await call();
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = cpuMicros();
    for (let i = 0; i < CALLS_PER_ROUND; i++) await call();
    best = Math.min(best, (cpuMicros() - start) / CALLS_PER_ROUND);
  }
  if (failed > 0) throw new Error(`${failed} calls were not anchored`);
  console.log(`${'anchored call: offer, answer, delete (best of 5 x 1,500 calls)'.padEnd(62)} ${best.toFixed(1).padStart(7)} µs CPU per call`);
} finally {
  set.stop();
  await rtpengine.stop();
}
