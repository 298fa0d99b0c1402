// Sample-rate conversion to 8 kHz: polyphase windowed-sinc (Blackman) low-pass at 0.93 of the output Nyquist, so
// nothing above 4 kHz aliases into the band (docs/libraries.md has the measurements). Runs once per upload.

/** Output rate of every hold-music artifact (G.711). */
export const TARGET_RATE = 8000;
/** Pass band edge as a fraction of the lower Nyquist frequency. */
const CUTOFF = 0.93;
/** Zero crossings of the sinc on each side: the filter length; more = steeper transition band. */
const ZERO_CROSSINGS = 24;
/** Phases kept in the coefficient table; rates with a larger interpolation factor use the nearest phase. */
const MAX_PHASES = 1024;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function blackman(x: number): number {
  // x in [-1, 1]
  const t = (x + 1) / 2;
  return 0.42 - 0.5 * Math.cos(2 * Math.PI * t) + 0.08 * Math.cos(4 * Math.PI * t);
}

/** Resamples mono `input` from `fromRate` to `toRate` (default 8000 Hz). */
export function resample(input: Float32Array, fromRate: number, toRate = TARGET_RATE): Float32Array {
  if (fromRate === toRate) return input.slice();
  const g = gcd(fromRate, toRate);
  const L = toRate / g; // up factor
  const M = fromRate / g; // down factor
  const outLen = Math.floor((input.length * L) / M);
  // Cutoff in cycles per input sample.
  const fc = (CUTOFF * Math.min(fromRate, toRate)) / 2 / fromRate;
  const half = Math.ceil(ZERO_CROSSINGS / (2 * fc)); // taps each side, in input samples
  const taps = 2 * half;
  const phases = Math.min(L, MAX_PHASES);
  const table = new Float32Array(phases * taps);
  for (let p = 0; p < phases; p++) {
    const frac = p / phases;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const t = k - half + 1 - frac; // tap time relative to the output instant, input samples
      const w = Math.abs(t) >= half ? 0 : blackman(t / half);
      const x = 2 * fc * t;
      const v = w * (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
      table[p * taps + k] = v;
      sum += v;
    }
    // Unity gain at DC for every phase.
    for (let k = 0; k < taps; k++) table[p * taps + k]! /= sum;
  }
  const out = new Float32Array(outLen);
  const n = input.length;
  for (let i = 0; i < outLen; i++) {
    const num = i * M;
    let base = Math.floor(num / L);
    let p = phases === L ? num - base * L : Math.round(((num - base * L) / L) * phases);
    if (p === phases) {
      p = 0;
      base++;
    }
    const start = base - half + 1;
    const off = p * taps;
    let acc = 0;
    if (start >= 0 && start + taps <= n) {
      for (let k = 0; k < taps; k++) acc += table[off + k]! * input[start + k]!;
    } else {
      for (let k = 0; k < taps; k++) {
        const j = start + k;
        if (j >= 0 && j < n) acc += table[off + k]! * input[j]!;
      }
    }
    out[i] = acc;
  }
  return out;
}
