// Micro-benchmark of the NG protocol's bencode (src/relay/bencode.ts) as an anchored call uses it: the offer command
// (the browser's SDP as bytes, the constant flags as a part), and rtpengine's real offer, answer and delete replies
// (a real rtpengine is started to get them) decoded whole and with only the keys media-relay.ts reads.
// Run with `npx tsx load-tests/micro/bencode.bench.ts`.
import dgram from 'node:dgram';
import { flagsToward } from '../../src/relay/anchoring.ts';
import { decode, decodeDict, encodeMerged } from '../../src/relay/bencode.ts';
import { replyKeys, type NgCommandDict } from '../../src/relay/ng-client.ts';
import { benchCpu } from '../lib/cpu-bench.ts';
import { startTestRtpengine } from '../lib/rtpengine.ts';
import { BROWSER_OFFER as browserOffer, PBX_ANSWER as pbxAnswer } from './relay-sdp.ts';

const call = { 'call-id': 'bench-1@127.0.0.1', 'from-tag': 'caller-tag' };

const rtpengine = await startTestRtpengine({ logLevel: 4 });
const socket = dgram.createSocket('udp4');
let replies: { offer: Buffer; answer: Buffer; delete: Buffer };
try {
  await new Promise<void>((resolve) => socket.connect(rtpengine.ngPort, '127.0.0.1', () => resolve()));
  let seq = 0;
  const ask = (parts: NgCommandDict[]): Promise<Buffer> =>
    new Promise((resolve) => {
      socket.once('message', (m: Buffer) => resolve(m));
      socket.send(encodeMerged(`b${seq++} `, parts));
    });
  replies = {
    offer: await ask([{ command: 'offer', ...call, sdp: browserOffer }, flagsToward('rtp', true)]),
    answer: await ask([{ command: 'answer', ...call, 'to-tag': 'callee-tag', sdp: pbxAnswer }, flagsToward('webrtc', false)]),
    delete: await ask([{ command: 'delete', ...call }]),
  };
} finally {
  socket.close();
  await rtpengine.stop();
}
const body = (m: Buffer): number => m.indexOf(0x20) + 1;
console.log(`offer command ${encodeMerged('cookie ', [{ command: 'offer', ...call, sdp: browserOffer }, flagsToward('rtp', true)]).length} bytes; replies: offer ${replies.offer.length}, answer ${replies.answer.length}, delete ${replies.delete.length} bytes`);

let sink = 0;
const bench = (name: string, fn: () => unknown): void => void benchCpu(name, fn);
bench('(a) encode the offer command (SDP as bytes, flags constant)', () => {
  // The parts as media-relay.ts and rtpengine-set.ts give them.
  const own = { 'call-id': call['call-id'], 'from-tag': call['from-tag'], 'to-tag': undefined, 'via-branch': undefined, sdp: browserOffer };
  sink += encodeMerged('abcdefgh.1 ', [{ command: 'offer' }, own, flagsToward('rtp', true)]).length;
});
const sdpOnly = replyKeys('sdp');
const stats = replyKeys('tags', 'totals', 'SSRC');
const outcome = replyKeys();
// As ng-client.ts decodes a reply: the sdp as bytes.
const sdpBytes = new Set(['sdp']);
bench('(b) decode the offer reply, sdp only (as bytes)', () => {
  sink += Object.keys(decodeDict(replies.offer, body(replies.offer), replies.offer.length, sdpOnly, sdpBytes)).length;
});
bench('(c) decode the delete reply whole', () => {
  sink += Object.keys(decode(replies.delete, body(replies.delete), replies.delete.length)).length;
});
for (const [name, keep] of [
  ['(d) decode the delete reply, the keys of the log line', stats],
  ['(e) decode the delete reply, its outcome only', outcome],
] as const) {
  bench(name, () => {
    sink += Object.keys(decodeDict(replies.delete, body(replies.delete), replies.delete.length, keep, sdpBytes)).length;
  });
}
if (sink === 0) console.log('unreachable');
