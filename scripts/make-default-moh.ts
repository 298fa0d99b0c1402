// Dev script: synthesises sipedge's license-free default hold music (an original arpeggio over I-vi-IV-V in C,
// 16 s, loops seamlessly) and writes it as an 8 kHz µ-law WAV to src/media/assets/default-moh.wav.
// Run: npx tsx scripts/make-default-moh.ts. The output is committed; the edge runs it through the upload pipeline.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeUlaw } from '../src/media/g711.ts';

const RATE = 8000;
const BPM = 90;
const beat = 60 / BPM; // s
const BARS = [
  [60, 64, 67, 72], // C
  [57, 60, 64, 69], // Am
  [53, 57, 60, 65], // F
  [55, 59, 62, 67], // G
];
const hz = (midi: number) => 440 * 2 ** ((midi - 69) / 12);
const seconds = BARS.length * 4 * beat * 2; // each chord for two bars of 4 beats: 8 bars ~ 21.3 s
const n = Math.round(seconds * RATE);
const out = new Float32Array(n);

function note(start: number, dur: number, f: number, amp: number, decay: number): void {
  const s0 = Math.round(start * RATE);
  const len = Math.round(dur * RATE);
  for (let i = 0; i < len; i++) {
    const t = i / RATE;
    const env = Math.min(1, t / 0.01) * Math.exp(-t * decay) * Math.min(1, (len - i) / (0.02 * RATE));
    const v = Math.sin(2 * Math.PI * f * t) + 0.25 * Math.sin(4 * Math.PI * f * t) + 0.08 * Math.sin(6 * Math.PI * f * t);
    // Wrap around the end so the loop point is seamless.
    out[(s0 + i) % n]! += amp * env * v;
  }
}

const pattern = [0, 1, 2, 3, 2, 1, 2, 3];
let t = 0;
for (let rep = 0; rep < 2; rep++) {
  for (const chord of BARS) {
    // Pad: root an octave down and the fifth, held for the bar pair.
    note(t, 8 * beat, hz(chord[0]! - 12), 0.12, 0.25);
    note(t, 8 * beat, hz(chord[2]! - 12), 0.08, 0.25);
    for (let i = 0; i < 16; i++) note(t + (i * beat) / 2, beat * 1.5, hz(chord[pattern[i % 8]!]!), 0.22, 3);
    t += 8 * beat;
  }
}
let peak = 0;
for (const v of out) peak = Math.max(peak, Math.abs(v));
const pcm = Int16Array.from(out, (v) => Math.round((v / peak) * 0.7 * 32767));
const codes = encodeUlaw(pcm);
const head = Buffer.alloc(44);
head.write('RIFF', 0, 'latin1');
head.writeUInt32LE(36 + codes.length, 4);
head.write('WAVEfmt ', 8, 'latin1');
head.writeUInt32LE(16, 16);
head.writeUInt16LE(7, 20); // WAVE_FORMAT_MULAW
head.writeUInt16LE(1, 22);
head.writeUInt32LE(RATE, 24);
head.writeUInt32LE(RATE, 28);
head.writeUInt16LE(1, 32);
head.writeUInt16LE(8, 34);
head.write('data', 36, 'latin1');
head.writeUInt32LE(codes.length, 40);
const file = fileURLToPath(new URL('../src/media/assets/default-moh.wav', import.meta.url));
writeFileSync(file, Buffer.concat([head, codes]));
console.log(`${file}: ${seconds.toFixed(1)} s, ${44 + codes.length} bytes`);
