// Every input the hold-music upload refuses, each with its reason, and the previously active music still active
// afterwards (with a failed version recorded). Runs the real MediaLibrary on the embedded store.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { MediaLibrary, UploadError } from '../../src/media/library.ts';
import { mp3FrameLength } from '../../src/media/sniff.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openMemoryStores, type MemoryStores } from '../../src/store/memory/index.ts';
import { makeWav, tone } from './audio-fixtures.ts';

const mp3 = readFileSync(new URL('../fixtures/audio/tone-stereo-cbr.mp3', import.meta.url));
const goodWav = makeWav(tone(22050, 2, 440, 0.4, 2), 22050, 'pcm16');

/** A WAV whose RIFF size is right but whose data chunk claims more bytes than follow. */
function lyingWav(): Buffer {
  const b = Buffer.from(goodWav);
  const at = b.indexOf('data', 12, 'latin1');
  b.writeUInt32LE(b.readUInt32LE(at + 4) + 50_000, at + 4);
  return b;
}

/** An MP3 with 2 KB of junk in the middle of its frames. */
function junkInMp3(): Buffer {
  const cut = 417 * 20;
  return Buffer.concat([mp3.subarray(0, cut), Buffer.alloc(2048, 0x5a), mp3.subarray(cut)]);
}

const ASF = Buffer.from('3026b2758e66cf11a6d900aa0062ce6c', 'hex');

const CASES: { name: string; file: string; bytes: () => Buffer; reason: string; message: RegExp }[] = [
  { name: 'a WMA file', file: 'song.wma', bytes: () => Buffer.concat([ASF, Buffer.alloc(4000, 1)]), reason: 'unsupported-format', message: /Windows Media \(WMA\/WMV\) is not supported; upload a WAV or MP3 file/ },
  { name: 'a WMV renamed to .mp3', file: 'clip.mp3', bytes: () => Buffer.concat([ASF, Buffer.alloc(9000, 7)]), reason: 'unsupported-format', message: /Windows Media \(WMA\/WMV\)/ },
  { name: 'an Ogg Vorbis file', file: 'song.ogg', bytes: () => Buffer.concat([Buffer.from('OggS\0\x02', 'latin1'), Buffer.alloc(3000, 3)]), reason: 'unsupported-format', message: /Ogg \(Vorbis\/Opus\) is not supported/ },
  { name: 'a text file renamed to .mp3', file: 'notes.mp3', bytes: () => Buffer.from('Dear customer,\nplease find the music attached.\n'.repeat(20)), reason: 'unsupported-format', message: /A text file \(renamed\?\) is not supported/ },
  { name: 'an empty file', file: 'empty.wav', bytes: () => Buffer.alloc(0), reason: 'empty', message: /the file is empty/ },
  { name: 'a truncated WAV (upload cut off)', file: 'cut.wav', bytes: () => goodWav.subarray(0, 30_000), reason: 'corrupt', message: /WAV file is damaged: the header says \d+ bytes but the file has 30000/ },
  { name: 'a WAV whose data chunk lies about its length', file: 'lies.wav', bytes: lyingWav, reason: 'corrupt', message: /chunk "data" says \d+ bytes but only \d+ follow/ },
  { name: 'a WAV with an unsupported codec (ADPCM)', file: 'adpcm.wav', bytes: () => { const b = Buffer.from(goodWav); b.writeUInt16LE(2, b.indexOf('fmt ', 12, 'latin1') + 8); return b; }, reason: 'unsupported-format', message: /WAV codec 0x2 is not supported/ },
  { name: 'a truncated MP3', file: 'cut.mp3', bytes: () => mp3.subarray(0, 10_000), reason: 'corrupt', message: /MP3 file is truncated: its last frame needs 41[78] bytes/ },
  { name: 'an MP3 with junk between frames', file: 'junk.mp3', bytes: junkInMp3, reason: 'corrupt', message: /MP3 file is damaged: no MPEG frame at byte \d+ \(after 20 good frames\)/ },
  { name: 'an MP3 that decodes to nothing (only its Info frame)', file: 'info.mp3', bytes: () => mp3.subarray(0, mp3FrameLength(mp3, 0)), reason: 'empty', message: /the MP3 file decodes to no audio/ },
  { name: 'an MP3 holding only an ID3 tag', file: 'tag.mp3', bytes: () => Buffer.concat([Buffer.from('ID3\x03\0\0\0\0\0\x10', 'latin1'), Buffer.alloc(16, 0x41)]), reason: 'empty', message: /holds an ID3 tag but no audio/ },
  { name: 'MPEG layer II audio', file: 'song.mp2', bytes: () => Buffer.concat([Buffer.from([0xff, 0xfd, 0x90, 0x00]), Buffer.alloc(2000)]), reason: 'unsupported-format', message: /MPEG audio layer I\/II/ },
  { name: 'silence', file: 'silence.wav', bytes: () => makeWav([new Float32Array(16000)], 8000, 'pcm16'), reason: 'empty', message: /the audio is silent/ },
  { name: 'audio longer than the limit', file: 'long.wav', bytes: () => makeWav(tone(8000, 12, 300, 0.3), 8000, 'ulaw'), reason: 'too-long', message: /the audio lasts 12 s; the limit is 10 s \(media.maxDurationSeconds\)/ },
  { name: 'an MP3 longer than the limit', file: 'long.mp3', bytes: () => Buffer.concat(Array.from({ length: 6 }, () => mp3)), reason: 'too-long', message: /longer than 10 s, the limit \(media.maxDurationSeconds\)/ },
  { name: 'a file over the hold limit', file: 'big.wav', bytes: () => Buffer.concat([goodWav, Buffer.alloc(200_001 - goodWav.length)]), reason: 'too-large', message: /big.wav is 0.20 MB; hold music may be at most 0.2 MB \(media.holdMaxBytes\)/ },
];

let dir: string;
let stores: MemoryStores;
let lib: MediaLibrary;
const metrics = new Metrics();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sipedge-moh-'));
  stores = await openMemoryStores(join(dir, 'store'), { role: 'edge', clock: systemClock });
  await stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
  const config = loadConfig({ env: {}, overrides: [{ media: { holdMaxBytes: 200_000, maxDurationSeconds: 10 } }] });
  lib = new MediaLibrary({ config: config.media, media: stores.media, accounts: stores.accounts, clock: systemClock, logger: createLogger('silent'), metrics });
});
afterAll(async () => {
  await stores.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hold-music upload refusals', () => {
  it('activates a good WAV first (the music every refusal below must leave playing)', async () => {
    const v = await lib.upload({ tenant: 'acme', cls: 'hold', sourceName: 'good.wav', bytes: goodWav });
    expect(v.status).toBe('active');
  });

  for (const c of CASES) {
    it(`refuses ${c.name} with a clear reason and keeps the previous music active`, async () => {
      const before = (await stores.media.active('acme', 'hold'))!;
      let err: unknown;
      try {
        await lib.upload({ tenant: 'acme', cls: 'hold', sourceName: c.file, bytes: c.bytes() });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UploadError);
      const u = err as UploadError;
      expect(u.reason).toBe(c.reason);
      expect(u.message).toMatch(c.message);
      expect(u.code).toBe(c.reason === 'too-large' ? 'SIPEDGE_ERR_UPLOAD_TOO_LARGE' : 'SIPEDGE_ERR_UPLOAD_REFUSED');
      expect((await stores.media.active('acme', 'hold'))!.id).toBe(before.id);
      const [latest] = await lib.status('acme', 1);
      expect(latest).toMatchObject({ status: 'failed', reasonCode: c.reason, sourceName: c.file });
      expect(latest!.reason).toMatch(c.message);
    });
  }

  it('counts each refusal by reason and the one activation', async () => {
    const text = await metrics.registry.metrics();
    const count = (result: string) => Number(new RegExp(`sipedge_moh_activations_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(count('activated')).toBe(1);
    for (const reason of new Set(CASES.map((c) => c.reason))) {
      expect(count(reason), reason).toBe(CASES.filter((c) => c.reason === reason).length);
    }
  });
});
