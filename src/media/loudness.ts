// Loudness normalisation for hold music: gated RMS brought to a target level, then a peak limiter so no sample
// passes the ceiling. Runs on the 8 kHz mono signal once per upload; encoding is g711.ts's.

export interface LoudnessOptions {
  /** Target RMS level of the non-silent parts; dBFS, default -18. */
  targetDbfs?: number;
  /** Sample ceiling; dBFS, default -1. */
  peakDbfs?: number;
  /** Largest gain applied to a quiet file; dB, default 24. */
  maxGainDb?: number;
}

const db = (v: number) => Math.pow(10, v / 20);

/** Gated RMS: 50 ms blocks quieter than -60 dBFS (silence between pieces) do not count. */
export function gatedRms(x: Float32Array, rate: number): number {
  const block = Math.max(1, Math.round(rate * 0.05));
  const gate = db(-60) ** 2;
  let sum = 0;
  let count = 0;
  for (let s = 0; s < x.length; s += block) {
    const e = Math.min(x.length, s + block);
    let b = 0;
    for (let i = s; i < e; i++) b += x[i]! * x[i]!;
    if (b / (e - s) > gate) {
      sum += b;
      count += e - s;
    }
  }
  return count === 0 ? 0 : Math.sqrt(sum / count);
}

/** Normalises in place and returns the gain applied (linear); 0 RMS (silence) is left alone and returns 1. */
export function normalise(x: Float32Array, rate: number, o: LoudnessOptions = {}): number {
  const rms = gatedRms(x, rate);
  if (rms === 0) return 1;
  const gain = Math.min(db(o.targetDbfs ?? -18) / rms, db(o.maxGainDb ?? 24));
  const ceiling = db(o.peakDbfs ?? -1);
  // Limiter: instant attack (the envelope includes the current sample, so |y| <= ceiling), ~100 ms release.
  const release = Math.exp(-1 / (0.1 * rate));
  let env = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! * gain;
    const a = Math.abs(v);
    env = a > env ? a : env * release + a * (1 - release);
    x[i] = env > ceiling ? (v * ceiling) / env : v;
  }
  return gain;
}
