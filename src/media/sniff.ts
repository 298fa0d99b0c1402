// Tells the audio format from the first bytes (never from the file name): WAV and MP3 are accepted, and the formats
// people try instead (WMA/WMV, Ogg, FLAC, AIFF, MP4/M4A, text) are named in the refusal. Decoding is wav.ts/mp3.ts's.
import { UploadRefused } from './decoded-audio.ts';

export type SniffedFormat = 'wav' | 'mp3';

/** Bitrates (kbit/s) of MPEG-1 and MPEG-2/2.5 layer III by index; 0 = free format (refused). */
const BITRATE_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATE_V2_L3 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/** The frame length in bytes of an MPEG audio layer III header at `p`, or 0 when it is not one. */
export function mp3FrameLength(b: Uint8Array, p: number): number {
  if (p + 4 > b.length || b[p] !== 0xff || (b[p + 1]! & 0xe0) !== 0xe0) return 0;
  const version = (b[p + 1]! >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5, 1 reserved
  const layer = (b[p + 1]! >> 1) & 3; // 1 = layer III
  const brIndex = b[p + 2]! >> 4;
  const srIndex = (b[p + 2]! >> 2) & 3;
  const padding = (b[p + 2]! >> 1) & 1;
  if (version === 1 || layer !== 1 || brIndex === 0 || brIndex === 15 || srIndex === 3) return 0;
  const kbps = (version === 3 ? BITRATE_V1_L3 : BITRATE_V2_L3)[brIndex]!;
  const rate = RATES[version]![srIndex]!;
  const coeff = version === 3 ? 144 : 72;
  return Math.floor((coeff * kbps * 1000) / rate) + padding;
}

function isMpegLayer12(b: Uint8Array, p: number): boolean {
  if (p + 4 > b.length || b[p] !== 0xff || (b[p + 1]! & 0xe0) !== 0xe0) return false;
  const layer = (b[p + 1]! >> 1) & 3;
  return layer === 2 || layer === 3;
}

const ascii = (b: Uint8Array, at: number, s: string): boolean => {
  if (at + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** The ASF header object GUID that starts every WMA and WMV file. */
const ASF_GUID = [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11];

const refuse = (what: string) =>
  new UploadRefused('unsupported-format', `${what} is not supported; upload a WAV or MP3 file`);

/** Returns the format of an upload, or throws UploadRefused naming what the bytes are instead. */
export function sniffFormat(b: Uint8Array): SniffedFormat {
  if (b.length === 0) throw new UploadRefused('empty', 'the file is empty');
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WAVE')) return 'wav';
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'AVI ')) throw refuse('AVI video');
  if (ascii(b, 0, 'RIFF') || ascii(b, 0, 'RIFX') || ascii(b, 0, 'RF64')) {
    if (ascii(b, 0, 'RIFF') && b.length < 12) throw new UploadRefused('corrupt', 'WAV file is damaged: it ends inside its RIFF header');
    throw refuse('This RIFF file (not RIFF/WAVE, or big-endian/RF64)');
  }
  if (ASF_GUID.every((v, i) => b[i] === v)) throw refuse('Windows Media (WMA/WMV)');
  if (ascii(b, 0, 'OggS')) throw refuse('Ogg (Vorbis/Opus)');
  if (ascii(b, 0, 'fLaC')) throw refuse('FLAC');
  if (ascii(b, 0, 'FORM') && (ascii(b, 8, 'AIFF') || ascii(b, 8, 'AIFC'))) throw refuse('AIFF');
  if (ascii(b, 4, 'ftyp')) throw refuse('MP4/M4A/AAC');
  if (ascii(b, 0, '#!AMR')) throw refuse('AMR');
  let p = 0;
  if (ascii(b, 0, 'ID3')) {
    if (b.length < 10) throw new UploadRefused('corrupt', 'MP3 file is damaged: it ends inside its ID3 tag');
    // ID3v2 size: four 7-bit bytes (synchsafe), plus a 10-byte footer when flag 0x10 is set.
    const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
    p = 10 + size + (b[5]! & 0x10 ? 10 : 0);
    // Some taggers pad with zeros after the tag.
    while (p < b.length && b[p] === 0) p++;
    if (p >= b.length) throw new UploadRefused('empty', 'the MP3 file holds an ID3 tag but no audio');
  }
  const len = mp3FrameLength(b, p);
  if (len > 0) {
    // Two consecutive frame headers (or one frame that fills the file) make a sync by chance in other data unlikely.
    if (p + len >= b.length || mp3FrameLength(b, p + len) > 0) return 'mp3';
    throw new UploadRefused('corrupt', 'MP3 file is damaged: its first frame is not followed by another frame');
  }
  if (isMpegLayer12(b, p)) throw refuse('MPEG audio layer I/II (MP1/MP2)');
  if (p > 0) throw new UploadRefused('corrupt', 'MP3 file is damaged: no MPEG audio frame follows its ID3 tag');
  if (looksLikeText(b)) throw refuse('A text file (renamed?)');
  throw refuse('This file type (not recognised as audio)');
}

function looksLikeText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 512);
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 9 || c === 10 || c === 13 || (c >= 0x20 && c < 0x7f) || c >= 0x80) printable++;
    else if (c === 0) return false;
  }
  return printable / n > 0.95;
}
