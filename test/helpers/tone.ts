// The known tone of the WebRTC media tests, as each side needs it: a WAV file for Chromium's fake microphone
// (--use-file-for-fake-audio-capture), a pcap of G.711 RTP packets for SIPp's play_pcap_audio, and the check that
// received G.711 carries it (Goertzel share of the energy at the tone's frequency).
import { decodeAlaw, decodeUlaw, encodeUlaw } from '../../src/media/g711.ts';
import { makeWav, tone, toneShare } from '../media/audio-fixtures.ts';

/** The tone: 1 kHz sits well inside G.711's band and Opus's, and far from the harmonics of anything else a call carries. */
export const TONE_HZ = 1000;

/** A 48 kHz 16-bit mono WAV of the tone at half amplitude (Chromium loops it). */
export function toneWav(seconds = 10): Buffer {
  return makeWav(tone(48_000, seconds, TONE_HZ, 0.5), 48_000, 'pcm16');
}

/**
 * A pcap (Ethernet/IPv4/UDP) of `seconds` of the tone as PCMU RTP: 160-byte frames every 20 ms, one SSRC, sequence
 * and timestamp counting up. SIPp's play_pcap_audio replays the UDP payloads at the recorded pace to the remote media.
 */
export function tonePcap(seconds = 10): Buffer {
  const pcm = tone(8000, seconds, TONE_HZ, 0.5)[0]!;
  const codes = encodeUlaw(Int16Array.from(pcm, (v) => Math.round(v * 32767)));
  const frames = Math.floor(codes.length / 160);
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts = [header];
  for (let i = 0; i < frames; i++) {
    const rtp = Buffer.alloc(12 + 160);
    rtp[0] = 0x80;
    rtp[1] = 0; // PCMU
    rtp.writeUInt16BE(i & 0xffff, 2);
    rtp.writeUInt32BE(i * 160, 4);
    rtp.writeUInt32BE(0x5eed70e5, 8);
    Buffer.from(codes.buffer, codes.byteOffset + i * 160, 160).copy(rtp, 12);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(40000, 0);
    udp.writeUInt16BE(40002, 2);
    udp.writeUInt16BE(8 + rtp.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + rtp.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from([127, 0, 0, 1]).copy(ip, 12);
    Buffer.from([127, 0, 0, 1]).copy(ip, 16);
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    const frame = Buffer.concat([eth, ip, udp, rtp]);
    const rec = Buffer.alloc(16);
    const us = i * 20_000;
    rec.writeUInt32LE(Math.floor(us / 1e6), 0);
    rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  }
  return Buffer.concat(parts);
}

/** The 8 kHz audio G.711 RTP packets carry (PCMU, payload type 0, or PCMA, 8), in arrival order. */
export function decodeG711(packets: { pt: number; payload: Buffer }[]): Int16Array {
  const parts = packets.filter((p) => p.pt === 0 || p.pt === 8).map((p) => (p.pt === 0 ? decodeUlaw(p.payload) : decodeAlaw(p.payload)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The share of the audio's energy at the tone's frequency and, to compare, half an octave off it (0..~1 each). */
export function toneShares(pcm: Int16Array): { atTone: number; offTone: number } {
  return { atTone: toneShare(pcm, 8000, TONE_HZ), offTone: toneShare(pcm, 8000, TONE_HZ * Math.SQRT2) };
}
