// The decoded form every reader returns (planar float channels at the source rate) and the refusal type of the
// upload pipeline. Readers are wav.ts and mp3.ts; what is done with the samples is transcode.ts's.

/** Planar float samples in [-1, 1] at the source rate. */
export interface DecodedAudio {
  sampleRate: number;
  channels: Float32Array[];
  /** Human-readable source description for status output, e.g. "WAV PCM 16-bit 44100 Hz stereo". */
  description: string;
}

/** Why an upload was refused (closed set: metric label `result` and API `reason` code). */
export type RefusalReason =
  | 'too-large'
  | 'unsupported-format'
  | 'corrupt'
  | 'empty'
  | 'too-long'
  | 'bad-request';

/** An upload the pipeline refuses; `message` is shown to the user as it is (no stack, no secret). */
export class UploadRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'UploadRefused';
  }
}
