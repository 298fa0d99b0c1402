// Peak memory of one hold-music conversion as the edge runs it (transcodeInWorker: a worker thread in the edge's
// process): for each input a fresh process reads the file, notes its RSS, resets the kernel's high-water mark
// (/proc/self/clear_refs) and converts once; the peak (VmHWM) minus the RSS before is what one conversion adds.
// Inputs (60 s and 10 min; WAV 44.1 kHz stereo 16-bit, MP3 128 kbit/s from it, and for 10 min also MP3 32 kbit/s,
// 2.4 MB: under the default media.queueMaxBytes) are made here with sox and lame.
// npx tsx load-tests/micro/moh-conversion-memory.ts        (README "Hold music": the figures next to media.conversions)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** kB from /proc/self/status. */
function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]);
}

if (process.argv[2] === '--child') {
  const { transcodeInWorker } = await import('../../src/media/transcode-worker.ts');
  const bytes = readFileSync(process.argv[3]!);
  globalThis.gc?.();
  const before = status('VmRSS');
  writeFileSync('/proc/self/clear_refs', '5'); // VmHWM := VmRSS
  const out = await transcodeInWorker(bytes, { maxSeconds: 900, targetDbfs: -18, peakDbfs: -1 });
  const peak = status('VmHWM');
  process.stdout.write(JSON.stringify({ beforeMb: before / 1024, peakMb: peak / 1024, artifactMb: out.artifact.length / 1e6, description: out.description }));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'sipedge-moh-mem-'));
try {
  const rows: string[] = [];
  for (const seconds of [60, 600]) {
    const wav = join(dir, `${seconds}.wav`);
    const mp3 = join(dir, `${seconds}.mp3`);
    const small = join(dir, `${seconds}-32k.mp3`);
    execFileSync('sox', ['-D', '-n', '-r', '44100', '-b', '16', '-c', '2', wav, 'synth', String(seconds), 'pluck', 'C3', 'pluck', 'E4', 'tremolo', '3', 'gain', '-8']);
    execFileSync('lame', ['--quiet', '-b', '128', '--cbr', wav, mp3]);
    if (seconds === 600) execFileSync('lame', ['--quiet', '-b', '32', '--cbr', '--resample', '44.1', wav, small]);
    for (const file of seconds === 600 ? [wav, mp3, small] : [wav, mp3]) {
      const r = JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', file], { encoding: 'utf8' }),
      ) as { beforeMb: number; peakMb: number; artifactMb: number; description: string };
      const label = `${seconds === 60 ? '60 s' : '10 min'} ${file.endsWith('.wav') ? 'WAV' : file === small ? 'MP3 32k' : 'MP3 128k'}`;
      rows.push(
        `${label.padEnd(15)} ${(statSync(file).size / 1e6).toFixed(1).padStart(6)} MB in  ${r.description.padEnd(28)} RSS before ${r.beforeMb.toFixed(0).padStart(4)} MB  peak ${r.peakMb.toFixed(0).padStart(4)} MB  added by the conversion ${(r.peakMb - r.beforeMb).toFixed(0).padStart(4)} MB`,
      );
      console.log(rows.at(-1));
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
