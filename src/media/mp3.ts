// MP3 (MPEG-1/2/2.5 layer III, CBR and VBR) to mono float: checks the frame chain itself (truncation, junk), then
// decodes with mpg123-decoder (WASM) chunk by chunk, downmixing as it goes and stopping at the length limit.
import { MPEGDecoder } from 'mpg123-decoder';
import { UploadRefused } from './decoded-audio.ts';
import { mp3FrameLength } from './sniff.ts';

const CHUNK = 64 * 1024;

/** Mono samples at the source rate, plus what the status shows. */
export interface DecodedMono {
  sampleRate: number;
  mono: Float32Array;
  description: string;
}

/**
 * Walks the MPEG frame chain from the first frame: every frame must start where the previous ended, and the last
 * must end inside the file. Tags at the end (ID3v1 "TAG", APE, Lyrics3) stop the walk. Returns the frame count.
 */
function checkFrameChain(b: Uint8Array): number {
  let p = 0;
  if (b[0] === 0x49 && b[1] === 0x44 && b[2] === 0x33 && b.length >= 10) {
    const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
    p = 10 + size + (b[5]! & 0x10 ? 10 : 0);
    while (p < b.length && b[p] === 0) p++;
  }
  let frames = 0;
  while (p < b.length) {
    const len = mp3FrameLength(b, p);
    if (len === 0) {
      if (isTrailer(b, p)) break;
      throw new UploadRefused('corrupt', `MP3 file is damaged: no MPEG frame at byte ${p} (after ${frames} good frames)`);
    }
    if (p + len > b.length) {
      throw new UploadRefused('corrupt', `MP3 file is truncated: its last frame needs ${len} bytes but ${b.length - p} remain`);
    }
    frames++;
    p += len;
  }
  return frames;
}

function isTrailer(b: Uint8Array, p: number): boolean {
  const s = Buffer.from(b.buffer, b.byteOffset + p, Math.min(11, b.length - p)).toString('latin1');
  return s.startsWith('TAG') || s.startsWith('APETAGEX') || s.startsWith('LYRICSBEGIN') || /^\0+$/.test(s);
}

let shared: Promise<MPEGDecoder> | undefined;

/**
 * Decodes to mono. `maxSeconds` bounds the work and memory: decoding stops and UploadRefused('too-long') is thrown as
 * soon as the audio passes it. mpg123 never throws on junk: it returns errors (and prints one stderr line per bad
 * frame, muted here), so errors and an empty result are refusals.
 */
export async function decodeMp3(b: Uint8Array, maxSeconds: number, maxKeyHint: string): Promise<DecodedMono> {
  checkFrameChain(b);
  // One decoder per process, reset between files (WASM compile ~20 ms once). Decoding is synchronous, so uploads
  // running "concurrently" on the event loop never interleave inside it.
  shared ??= (async () => {
    const d = new MPEGDecoder();
    await d.ready;
    return d;
  })();
  const decoder = await shared;
  await decoder.reset();
  const parts: Float32Array[] = [];
  let total = 0;
  let sampleRate = 0;
  let channelsSeen = 1;
  let errors = 0;
  const mute = console.error;
  console.error = () => {};
  try {
    for (let off = 0; off < b.length; off += CHUNK) {
      const r = decoder.decode(b.subarray(off, Math.min(b.length, off + CHUNK)));
      errors += r.errors.length;
      if (r.samplesDecoded === 0) continue;
      sampleRate = r.sampleRate;
      const [l, rgt] = r.channelData;
      const mono = new Float32Array(r.samplesDecoded);
      if (rgt !== undefined && rgt.length >= r.samplesDecoded && !sameChannel(l!, rgt, r.samplesDecoded)) {
        channelsSeen = 2;
        for (let i = 0; i < mono.length; i++) mono[i] = (l![i]! + rgt[i]!) * 0.5;
      } else mono.set(l!.subarray(0, r.samplesDecoded));
      parts.push(mono);
      total += mono.length;
      if (sampleRate > 0 && total / sampleRate > maxSeconds) {
        throw new UploadRefused('too-long', `the audio is longer than ${fmtDuration(maxSeconds)}, the limit (${maxKeyHint})`);
      }
    }
  } finally {
    console.error = mute;
  }
  if (errors > 0) throw new UploadRefused('corrupt', `MP3 file is damaged: the decoder reported ${errors} bad frame(s)`);
  if (total === 0 || sampleRate === 0) throw new UploadRefused('empty', 'the MP3 file decodes to no audio');
  const mono = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    mono.set(p, at);
    at += p.length;
  }
  return { sampleRate, mono, description: `MP3 ${sampleRate} Hz ${channelsSeen === 2 ? 'stereo' : 'mono'}` };
}

/** mpg123 returns a mono stream as two identical channels. */
function sameChannel(a: Float32Array, b: Float32Array, n: number): boolean {
  for (let i = 0; i < n; i += 7) if (a[i] !== b[i]) return false;
  return true;
}

/** "15 min", "90 s". */
export function fmtDuration(seconds: number): string {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}
