// The upload pipeline's parts on fixtures: G.711 against sox's references, WAV of every kind, the committed MP3s,
// the resampler's pass band and alias rejection, loudness with a peak ceiling, and the artifact's framing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeArtifact, encodeArtifact } from '../../src/media/artifact.ts';
import { ALAW_DECODE, decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw, ULAW_DECODE } from '../../src/media/g711.ts';
import { gatedRms, normalise } from '../../src/media/loudness.ts';
import { resample } from '../../src/media/resample.ts';
import { transcode } from '../../src/media/transcode.ts';
import { decodeWav } from '../../src/media/wav.ts';
import { makeWav, rms, tone, toneAmplitude, toneShare, type WavKind } from './audio-fixtures.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/audio/${name}`, import.meta.url));

describe('G.711', () => {
  it('decodes every µ-law and A-law code exactly as sox does', () => {
    const u = fixture('g711-sox-ulaw-decoded.s16le');
    const a = fixture('g711-sox-alaw-decoded.s16le');
    for (let c = 0; c < 256; c++) {
      expect(ULAW_DECODE[c], `µ-law ${c}`).toBe(u.readInt16LE(c * 2));
      expect(ALAW_DECODE[c], `A-law ${c}`).toBe(a.readInt16LE(c * 2));
    }
  });

  it('encodes like sox except at decision boundaries, and then only by one adjacent level', () => {
    const ramp = Int16Array.from({ length: 16384 }, (_, i) => -32768 + i * 4);
    for (const [law, ref, enc, dec] of [
      ['µ-law', fixture('g711-sox-ramp4.ulaw'), encodeUlaw, ULAW_DECODE],
      ['A-law', fixture('g711-sox-ramp4.alaw'), encodeAlaw, ALAW_DECODE],
    ] as const) {
      const ours = enc(ramp);
      let differ = 0;
      for (let i = 0; i < ramp.length; i++) {
        if (ours[i] === ref[i]) continue;
        differ++;
        // Adjacent level: the two decoded values are neighbours in the sorted table.
        const x = dec[ours[i]!]!;
        const y = dec[ref[i]!]!;
        const between = [...dec].filter((v) => v > Math.min(x, y) && v < Math.max(x, y)).length;
        expect(between, `${law} input ${ramp[i]}`).toBe(0);
      }
      expect(differ / ramp.length, law).toBeLessThan(0.02);
    }
  });

  it('round-trips a signal with the quantisation error G.711 allows (under 3 % of full scale near the top)', () => {
    const x = Int16Array.from({ length: 8000 }, (_, i) => Math.round(20000 * Math.sin(i / 7)));
    for (const back of [decodeUlaw(encodeUlaw(x)), decodeAlaw(encodeAlaw(x))]) {
      for (let i = 0; i < x.length; i++) expect(Math.abs(back[i]! - x[i]!)).toBeLessThan(1100);
    }
  });
});

describe('WAV reader', () => {
  const kinds: [WavKind, number][] = [
    ['pcm8', 1 / 100], ['pcm16', 1e-4], ['pcm24', 1e-6], ['pcm32', 1e-8], ['float32', 1e-7], ['float64', 1e-12], ['ulaw', 0.02], ['alaw', 0.02], ['pcm24-extensible', 1e-6],
  ];
  for (const [kind, tolerance] of kinds) {
    it(`reads ${kind} stereo at 11025 Hz sample for sample`, () => {
      const src = tone(11025, 0.2, 440, 0.5, 2);
      const d = decodeWav(makeWav(src, 11025, kind));
      expect(d.sampleRate).toBe(11025);
      expect(d.channels).toHaveLength(2);
      for (let c = 0; c < 2; c++) {
        expect(d.channels[c]!.length).toBe(src[c]!.length);
        let worst = 0;
        for (let i = 0; i < src[c]!.length; i++) worst = Math.max(worst, Math.abs(d.channels[c]![i]! - src[c]![i]!));
        expect(worst).toBeLessThan(tolerance);
      }
    });
  }

  it('describes what it read', () => {
    expect(decodeWav(makeWav(tone(48000, 0.1, 440), 48000, 'pcm24-extensible')).description).toBe('WAV PCM 24-bit 48000 Hz mono');
    expect(decodeWav(makeWav(tone(8000, 0.1, 440), 8000, 'ulaw')).description).toBe('WAV µ-law 8000 Hz mono');
  });
});

describe('resampler', () => {
  for (const rate of [44100, 48000, 22050, 11025, 16000, 32000, 96000, 44056, 8000, 6000]) {
    it(`keeps a 1 kHz tone and its level from ${rate} Hz`, () => {
      const out = resample(tone(rate, 1, 1000)[0]!, rate);
      expect(out.length).toBe(8000);
      expect(toneAmplitude(out.subarray(400, 7600), 8000, 1000)).toBeCloseTo(0.5, 2);
    });
  }

  it('passes 3.4 kHz and removes a 5 kHz tone instead of folding it to 3 kHz (no aliasing)', () => {
    const pass = resample(tone(44100, 1, 3400)[0]!, 44100);
    expect(toneAmplitude(pass.subarray(400, 7600), 8000, 3400)).toBeGreaterThan(0.45);
    const alias = resample(tone(44100, 1, 5000)[0]!, 44100);
    // -60 dB relative to the 0.5 input.
    expect(toneAmplitude(alias.subarray(400, 7600), 8000, 3000)).toBeLessThan(0.0005);
    expect(rms(alias.subarray(400, 7600))).toBeLessThan(0.0005);
  });
});

describe('loudness', () => {
  it('brings quiet and loud audio to the target level without passing the peak ceiling', () => {
    for (const amp of [0.02, 0.9]) {
      const x = tone(8000, 2, 440, amp)[0]!;
      normalise(x, 8000, { targetDbfs: -18, peakDbfs: -1 });
      expect(20 * Math.log10(gatedRms(x, 8000))).toBeCloseTo(-18, 0);
    }
    // A loud spike in quiet music is limited, not clipped.
    const y = tone(8000, 2, 440, 0.05)[0]!;
    y[4000] = 1;
    normalise(y, 8000, { targetDbfs: -18, peakDbfs: -1 });
    expect(Math.max(...y.map(Math.abs))).toBeLessThanOrEqual(10 ** (-1 / 20) + 1e-6);
  });
});

describe('transcode', () => {
  it('turns a 44.1 kHz stereo 16-bit WAV into whole 20 ms PCMU and PCMA frames of the same sound', async () => {
    const t = await transcode(makeWav(tone(44100, 1.5, 600, 0.3, 2), 44100, 'pcm16'), { maxSeconds: 60 });
    const a = decodeArtifact(t.artifact)!;
    expect(a.frames).toBe(75);
    expect(t.durationMs).toBe(1500);
    expect(t.description).toBe('WAV PCM 16-bit 44100 Hz stereo');
    for (const pcm of [decodeUlaw(a.pcmu), decodeAlaw(a.pcma)]) {
      expect(toneShare(pcm.subarray(800, 11200), 8000, 600) + toneShare(pcm.subarray(800, 11200), 8000, 900)).toBeGreaterThan(0.95);
      expect(20 * Math.log10(rms(pcm.subarray(800, 11200)) / 32768)).toBeCloseTo(-18, 0);
    }
  });

  it('decodes the committed CBR stereo and VBR mono MP3s (made by scripts/make-moh-fixtures.sh with lame)', async () => {
    const cbr = await transcode(fixture('tone-stereo-cbr.mp3'), { maxSeconds: 60 });
    expect(cbr.description).toBe('MP3 44100 Hz stereo');
    expect(cbr.durationMs).toBe(2000);
    const p = decodeUlaw(decodeArtifact(cbr.artifact)!.pcmu).subarray(800, 15200);
    expect(toneShare(p, 8000, 440) + toneShare(p, 8000, 660)).toBeGreaterThan(0.95);
    const vbr = await transcode(fixture('tone-mono-vbr.mp3'), { maxSeconds: 60 });
    expect(vbr.description).toBe('MP3 22050 Hz mono');
    expect(toneShare(decodeUlaw(decodeArtifact(vbr.artifact)!.pcmu).subarray(800, 15200), 8000, 1000)).toBeGreaterThan(0.95);
  });

  it('refuses a damaged artifact', () => {
    const good = encodeArtifact(new Uint8Array(320), new Uint8Array(320));
    expect(decodeArtifact(good)?.frames).toBe(2);
    const bad = Buffer.from(good);
    bad[100] ^= 1;
    expect(decodeArtifact(bad)).toBeUndefined();
    expect(decodeArtifact(good.subarray(0, good.length - 1))).toBeUndefined();
  });
});
