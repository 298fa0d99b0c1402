// The encoded hold-music artifact: PCMU and PCMA of the same 8 kHz signal, whole 20 ms frames, in one checksummed
// file/value ("SIPEMOH1", sample count, µ-law bytes, A-law bytes, crc32). Produced by transcode.ts, stored by store/.
import { crc32 } from 'node:zlib';

const MAGIC = Buffer.from('SIPEMOH1', 'latin1');
/** Samples per 20 ms frame at 8 kHz, and bytes per G.711 frame. */
export const FRAME_SAMPLES = 160;

/** One decoded artifact: both encodings share the sample count (a multiple of FRAME_SAMPLES). */
export interface Artifact {
  pcmu: Buffer;
  pcma: Buffer;
  /** Number of 20 ms frames. */
  frames: number;
}

/** Serialises an artifact; pcmu and pcma must have the same length, a multiple of 160. */
export function encodeArtifact(pcmu: Uint8Array, pcma: Uint8Array): Buffer {
  if (pcmu.length !== pcma.length || pcmu.length % FRAME_SAMPLES !== 0) throw new Error('artifact: encodings differ in length or are not whole frames');
  const head = Buffer.alloc(12);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(pcmu.length, 8);
  const body = Buffer.concat([head, pcmu, pcma]);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(crc32(body) >>> 0, 0);
  return Buffer.concat([body, tail]);
}

/** Parses an artifact; undefined when it is damaged (wrong magic, length or checksum). Views share `buf`. */
export function decodeArtifact(buf: Buffer): Artifact | undefined {
  if (buf.length < 16 || !buf.subarray(0, 8).equals(MAGIC)) return undefined;
  const n = buf.readUInt32LE(8);
  if (n === 0 || n % FRAME_SAMPLES !== 0 || buf.length !== 12 + 2 * n + 4) return undefined;
  if ((crc32(buf.subarray(0, buf.length - 4)) >>> 0) !== buf.readUInt32LE(buf.length - 4)) return undefined;
  return { pcmu: buf.subarray(12, 12 + n), pcma: buf.subarray(12 + n, 12 + 2 * n), frames: n / FRAME_SAMPLES };
}
