// The upload pipeline from bytes to artifact: sniff -> decode (wav.ts / mp3.ts) -> mono -> 8 kHz (resample.ts) ->
// loudness (loudness.ts) -> whole 20 ms frames with short fades -> PCMU + PCMA (g711.ts). Storing is library.ts's.
import { encodeArtifact, FRAME_SAMPLES } from './artifact.ts';
import { UploadRefused } from './decoded-audio.ts';
import { encodeAlaw, encodeUlaw } from './g711.ts';
import { normalise, type LoudnessOptions } from './loudness.ts';
import { decodeMp3, fmtDuration } from './mp3.ts';
import { resample, TARGET_RATE } from './resample.ts';
import { sniffFormat } from './sniff.ts';
import { decodeWav } from './wav.ts';

export interface TranscodeOptions extends LoudnessOptions {
  /** Longest accepted audio; seconds. */
  maxSeconds: number;
  /** Config key that changes maxSeconds, named in the refusal. */
  maxSecondsKey?: string;
}

export interface Transcoded {
  artifact: Buffer;
  format: 'wav' | 'mp3';
  /** e.g. "MP3 44100 Hz stereo". */
  description: string;
  durationMs: number;
}

/** Shortest accepted audio; seconds. */
const MIN_SECONDS = 0.5;
/** Fade at both ends so the loop point does not click; ms. */
const FADE_MS = 10;

/** Runs the whole pipeline; throws UploadRefused with a user-facing message for anything it will not play. */
export async function transcode(bytes: Buffer, o: TranscodeOptions): Promise<Transcoded> {
  const format = sniffFormat(bytes);
  const key = o.maxSecondsKey ?? 'media.maxDurationSeconds';
  let mono: Float32Array;
  let rate: number;
  let description: string;
  if (format === 'wav') {
    const d = decodeWav(bytes);
    const n = d.channels[0]!.length;
    if (n / d.sampleRate > o.maxSeconds) {
      throw new UploadRefused('too-long', `the audio lasts ${fmtDuration(Math.round(n / d.sampleRate))}; the limit is ${fmtDuration(o.maxSeconds)} (${key})`);
    }
    mono = downmix(d.channels);
    rate = d.sampleRate;
    description = d.description;
  } else {
    const d = await decodeMp3(bytes, o.maxSeconds, key);
    mono = d.mono;
    rate = d.sampleRate;
    description = d.description;
  }
  if (mono.length / rate < MIN_SECONDS) {
    throw new UploadRefused('empty', `the audio lasts ${(mono.length / rate).toFixed(2)} s; at least ${MIN_SECONDS} s is needed`);
  }
  const low = resample(mono, rate, TARGET_RATE);
  normalise(low, TARGET_RATE, o);
  const pcm = toFrames(low);
  if (isSilent(pcm)) throw new UploadRefused('empty', 'the audio is silent');
  return {
    artifact: encodeArtifact(encodeUlaw(pcm), encodeAlaw(pcm)),
    format,
    description,
    durationMs: Math.round((pcm.length / TARGET_RATE) * 1000),
  };
}

/** Average of the channels. */
function downmix(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0]!;
  const n = channels[0]!.length;
  const out = new Float32Array(n);
  const k = 1 / channels.length;
  for (const ch of channels) for (let i = 0; i < n; i++) out[i]! += ch[i]! * k;
  return out;
}

/** 16-bit samples padded with silence to whole 20 ms frames, with FADE_MS fades in and out. */
function toFrames(x: Float32Array): Int16Array {
  const n = Math.ceil(x.length / FRAME_SAMPLES) * FRAME_SAMPLES;
  const out = new Int16Array(n);
  const fade = Math.min(Math.round((TARGET_RATE * FADE_MS) / 1000), Math.floor(x.length / 2));
  for (let i = 0; i < x.length; i++) {
    let v = x[i]!;
    if (i < fade) v *= i / fade;
    else if (i >= x.length - fade) v *= (x.length - 1 - i) / fade;
    const s = Math.round(v * 32767);
    out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
  }
  return out;
}

function isSilent(pcm: Int16Array): boolean {
  for (let i = 0; i < pcm.length; i++) if (pcm[i]! > 32 || pcm[i]! < -32) return false;
  return true;
}
