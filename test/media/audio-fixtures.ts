// Test fixtures made in the test: WAV files of every kind (PCM 8/16/24/32, float 32/64, µ-law, A-law, extensible),
// tone generators and a tone detector (Goertzel) to check that decoded audio is what was sent.
import { encodeAlaw, encodeUlaw } from '../../src/media/g711.ts';

export type WavKind = 'pcm8' | 'pcm16' | 'pcm24' | 'pcm32' | 'float32' | 'float64' | 'ulaw' | 'alaw' | 'pcm24-extensible';

/** A sine of `hz` at amplitude `amp` (0..1), `seconds` long, per channel (channel c gets hz * (1 + c/2)). */
export function tone(rate: number, seconds: number, hz: number, amp = 0.5, channels = 1): Float32Array[] {
  const n = Math.round(rate * seconds);
  return Array.from({ length: channels }, (_, c) => Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * hz * (1 + c / 2) * i) / rate)));
}

/** Encodes planar float channels as a WAV file of `kind`. */
export function makeWav(channels: Float32Array[], rate: number, kind: WavKind): Buffer {
  const nch = channels.length;
  const n = channels[0]!.length;
  const spec = {
    pcm8: { fmt: 1, bits: 8 },
    pcm16: { fmt: 1, bits: 16 },
    pcm24: { fmt: 1, bits: 24 },
    pcm32: { fmt: 1, bits: 32 },
    float32: { fmt: 3, bits: 32 },
    float64: { fmt: 3, bits: 64 },
    ulaw: { fmt: 7, bits: 8 },
    alaw: { fmt: 6, bits: 8 },
    'pcm24-extensible': { fmt: 0xfffe, bits: 24 },
  }[kind];
  const bytes = spec.bits / 8;
  const data = Buffer.alloc(n * nch * bytes);
  const clamp = (v: number) => Math.max(-1, Math.min(1, v));
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < nch; c++) {
      const v = clamp(channels[c]![i]!);
      const p = (i * nch + c) * bytes;
      switch (kind) {
        case 'pcm8': data[p] = Math.round(v * 127) + 128; break;
        case 'pcm16': data.writeInt16LE(Math.round(v * 32767), p); break;
        case 'pcm24': case 'pcm24-extensible': data.writeIntLE(Math.round(v * 8388607), p, 3); break;
        case 'pcm32': data.writeInt32LE(Math.round(v * 2147483647), p); break;
        case 'float32': data.writeFloatLE(v, p); break;
        case 'float64': data.writeDoubleLE(v, p); break;
        case 'ulaw': data[p] = encodeUlaw(Int16Array.of(Math.round(v * 32767)))[0]!; break;
        case 'alaw': data[p] = encodeAlaw(Int16Array.of(Math.round(v * 32767)))[0]!; break;
      }
    }
  }
  const ext = spec.fmt === 0xfffe;
  const fmt = Buffer.alloc(ext ? 40 : 16);
  fmt.writeUInt16LE(spec.fmt, 0);
  fmt.writeUInt16LE(nch, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE(rate * nch * bytes, 8);
  fmt.writeUInt16LE(nch * bytes, 12);
  fmt.writeUInt16LE(spec.bits, 14);
  if (ext) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(spec.bits, 18);
    fmt.writeUInt32LE(nch === 1 ? 4 : 3, 20);
    // KSDATAFORMAT_SUBTYPE_PCM: 00000001-0000-0010-8000-00aa00389b71
    Buffer.from('0100000000001000800000aa00389b71', 'hex').copy(fmt, 24);
  }
  // A LIST chunk before fmt and an odd-sized chunk check the chunk walk and word alignment.
  const list = Buffer.concat([Buffer.from('LIST', 'latin1'), u32(5), Buffer.from('INFOx\0', 'latin1')]);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), list, Buffer.from('fmt ', 'latin1'), u32(fmt.length), fmt, Buffer.from('data', 'latin1'), u32(data.length), data]);
  return Buffer.concat([Buffer.from('RIFF', 'latin1'), u32(body.length), body]);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}

/** Share of the signal's energy at `hz` (Goertzel over the whole block, Hann window); 0..~1. */
export function toneShare(x: ArrayLike<number>, rate: number, hz: number): number {
  const n = x.length;
  const k = (2 * Math.PI * hz) / rate;
  const c = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const v = x[i]! * w;
    energy += v * v;
    const s0 = v + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  // A windowed sine of amplitude A gives power ~ (A n / 4)^2 and energy ~ 3 A^2 n / 16.
  return energy === 0 ? 0 : power / (energy * n * (1 / 3));
}

/** Amplitude of the `hz` component (Goertzel, Hann window). */
export function toneAmplitude(x: ArrayLike<number>, rate: number, hz: number): number {
  const n = x.length;
  const k = (2 * Math.PI * hz) / rate;
  const c = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const s0 = x[i]! * w + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2)) * 4) / n;
}

export function rms(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, x.length));
}
