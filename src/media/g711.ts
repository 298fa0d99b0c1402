// G.711 µ-law (PCMU) and A-law (PCMA): 64 K-entry encode tables built once from the Sun g711.c algorithm, and the
// 256-entry decode tables. Which codec a call uses is sdp.ts's decision; framing and RTP are rtp.ts's.

const SEG_U = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const SEG_A = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function segment(v: number, table: readonly number[]): number {
  for (let i = 0; i < 8; i++) if (v <= table[i]!) return i;
  return 8;
}

/** One 16-bit linear sample to µ-law (ITU-T G.711, Sun reference implementation; 14-bit magnitude, bias 0x84). */
function linearToUlaw(pcm16: number): number {
  let pcm = pcm16 >> 2;
  let mask: number;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7f;
  } else mask = 0xff;
  if (pcm > 8159) pcm = 8159;
  pcm += 0x84 >> 2;
  const s = segment(pcm, SEG_U);
  if (s >= 8) return 0x7f ^ mask;
  return ((s << 4) | ((pcm >> (s + 1)) & 0xf)) ^ mask;
}

/** One 16-bit linear sample to A-law (ITU-T G.711, Sun reference implementation; 13-bit magnitude, even bits inverted). */
function linearToAlaw(pcm16: number): number {
  let pcm = pcm16 >> 3;
  let mask: number;
  if (pcm >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  const s = segment(pcm, SEG_A);
  if (s >= 8) return 0x7f ^ mask;
  return ((s << 4) | (s < 2 ? (pcm >> 1) & 0xf : (pcm >> s) & 0xf)) ^ mask;
}

/** µ-law code to 16-bit linear (exact inverse table of G.711). */
function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** A-law code to 16-bit linear (exact inverse table of G.711). */
function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

const ULAW = new Uint8Array(65536);
const ALAW = new Uint8Array(65536);
for (let i = -32768; i < 32768; i++) {
  ULAW[i & 0xffff] = linearToUlaw(i);
  ALAW[i & 0xffff] = linearToAlaw(i);
}
/** Decode tables (index = code). */
export const ULAW_DECODE = Int16Array.from({ length: 256 }, (_, c) => ulawToLinear(c));
export const ALAW_DECODE = Int16Array.from({ length: 256 }, (_, c) => alawToLinear(c));

/** Encodes 16-bit samples to µ-law bytes with the table (one lookup per sample). */
export function encodeUlaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = ULAW[pcm[i]! & 0xffff]!;
  return out;
}

/** Encodes 16-bit samples to A-law bytes with the table. */
export function encodeAlaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = ALAW[pcm[i]! & 0xffff]!;
  return out;
}

/** Decodes µ-law bytes to 16-bit samples. */
export function decodeUlaw(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = ULAW_DECODE[codes[i]!]!;
  return out;
}

/** Decodes A-law bytes to 16-bit samples. */
export function decodeAlaw(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = ALAW_DECODE[codes[i]!]!;
  return out;
}
