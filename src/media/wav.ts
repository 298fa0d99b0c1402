// RIFF/WAVE reader: walks the chunks, takes fmt 1 (PCM 8/16/24/32-bit), 3 (float 32/64), 6 (A-law), 7 (µ-law) and
// 0xFFFE (WAVE_FORMAT_EXTENSIBLE, subformat from the GUID). Format sniffing is sniff.ts's; resampling transcode.ts's.
import { DecodedAudio, UploadRefused } from './decoded-audio.ts';
import { ALAW_DECODE, ULAW_DECODE } from './g711.ts';

const FMT_PCM = 1;
const FMT_FLOAT = 3;
const FMT_ALAW = 6;
const FMT_ULAW = 7;
const FMT_EXTENSIBLE = 0xfffe;

const FORMAT_NAMES: Record<number, string> = { [FMT_PCM]: 'PCM', [FMT_FLOAT]: 'float', [FMT_ALAW]: 'A-law', [FMT_ULAW]: 'µ-law' };

interface WavFormat {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  blockAlign: number;
}

const corrupt = (msg: string) => new UploadRefused('corrupt', `WAV file is damaged: ${msg}`);

/**
 * Decodes a WAV file. Refuses (UploadRefused) a header that lies: a RIFF size or data chunk longer than the file,
 * a fmt chunk that contradicts itself (block align, bits), a missing fmt or data chunk, an unsupported codec.
 */
export function decodeWav(buf: Buffer): DecodedAudio {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw corrupt('no RIFF/WAVE header');
  }
  const riffSize = buf.readUInt32LE(4);
  if (riffSize + 8 > buf.length) {
    throw corrupt(`the header says ${riffSize + 8} bytes but the file has ${buf.length} (truncated upload?)`);
  }
  const end = riffSize + 8;
  let fmt: WavFormat | undefined;
  let data: Buffer | undefined;
  let pos = 12;
  while (pos + 8 <= end) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (body + size > end) {
      throw corrupt(`chunk "${id}" says ${size} bytes but only ${end - body} follow (truncated or lying header)`);
    }
    if (id === 'fmt ') fmt = readFmt(buf.subarray(body, body + size));
    else if (id === 'data' && data === undefined) data = buf.subarray(body, body + size);
    // Chunks are word-aligned: an odd size is followed by one pad byte (RIFF spec).
    pos = body + size + (size & 1);
  }
  if (fmt === undefined) throw corrupt('no "fmt " chunk');
  if (data === undefined) throw corrupt('no "data" chunk');
  return { sampleRate: fmt.sampleRate, channels: readSamples(fmt, data), description: describe(fmt) };
}

function readFmt(b: Buffer): WavFormat {
  if (b.length < 16) throw corrupt(`"fmt " chunk has ${b.length} bytes, at least 16 needed`);
  let format = b.readUInt16LE(0);
  const channels = b.readUInt16LE(2);
  const sampleRate = b.readUInt32LE(4);
  const blockAlign = b.readUInt16LE(12);
  const bitsPerSample = b.readUInt16LE(14);
  if (format === FMT_EXTENSIBLE) {
    if (b.length < 40) throw corrupt('WAVE_FORMAT_EXTENSIBLE "fmt " chunk is shorter than 40 bytes');
    // The subformat GUID's first two bytes are the classic format tag (KSDATAFORMAT_SUBTYPE_PCM = 1, _IEEE_FLOAT = 3).
    format = b.readUInt16LE(24);
  }
  if (FORMAT_NAMES[format] === undefined) {
    throw new UploadRefused('unsupported-format', `WAV codec 0x${format.toString(16)} is not supported; use PCM, float, µ-law or A-law WAV, or MP3`);
  }
  if (channels < 1 || channels > 8) throw corrupt(`${channels} channels`);
  if (sampleRate < 4000 || sampleRate > 384000) throw corrupt(`sample rate ${sampleRate} Hz is outside 4000..384000`);
  const valid =
    format === FMT_PCM ? [8, 16, 24, 32] : format === FMT_FLOAT ? [32, 64] : [8];
  if (!valid.includes(bitsPerSample)) throw corrupt(`${FORMAT_NAMES[format]} with ${bitsPerSample} bits per sample`);
  if (blockAlign !== channels * (bitsPerSample / 8)) {
    throw corrupt(`block align ${blockAlign} does not match ${channels} channel(s) of ${bitsPerSample} bits`);
  }
  return { format, channels, sampleRate, bitsPerSample, blockAlign };
}

function readSamples(f: WavFormat, data: Buffer): Float32Array[] {
  const frames = Math.floor(data.length / f.blockAlign);
  const out = Array.from({ length: f.channels }, () => new Float32Array(frames));
  const bytes = f.bitsPerSample / 8;
  for (let c = 0; c < f.channels; c++) {
    const ch = out[c]!;
    let p = c * bytes;
    for (let i = 0; i < frames; i++, p += f.blockAlign) ch[i] = sampleAt(f, data, p);
  }
  return out;
}

function sampleAt(f: WavFormat, d: Buffer, p: number): number {
  switch (f.format) {
    case FMT_PCM:
      switch (f.bitsPerSample) {
        case 8:
          return (d[p]! - 128) / 128; // 8-bit WAV is unsigned
        case 16:
          return d.readInt16LE(p) / 32768;
        case 24:
          return d.readIntLE(p, 3) / 8388608;
        default:
          return d.readInt32LE(p) / 2147483648;
      }
    case FMT_FLOAT: {
      const v = f.bitsPerSample === 32 ? d.readFloatLE(p) : d.readDoubleLE(p);
      return Number.isFinite(v) ? v : 0;
    }
    case FMT_ALAW:
      return ALAW_DECODE[d[p]!]! / 32768;
    default:
      return ULAW_DECODE[d[p]!]! / 32768;
  }
}

function describe(f: WavFormat): string {
  const kind = f.format === FMT_PCM || f.format === FMT_FLOAT ? `${FORMAT_NAMES[f.format]} ${f.bitsPerSample}-bit` : FORMAT_NAMES[f.format];
  return `WAV ${kind} ${f.sampleRate} Hz ${f.channels === 1 ? 'mono' : f.channels === 2 ? 'stereo' : `${f.channels} channels`}`;
}
