// Activation time of a 3 MB MP3 (the queue-music limit): sniff, decode, downmix, resample, normalise, encode, store
// durably as pending, activate, on a temp embedded store. The MP3 (186 s stereo 44.1 kHz, 128 kbit/s, made with
// sox and lame) is generated here. Prints wall and CPU ms per activation, best and median of 5.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { MediaLibrary } from '../../src/media/library.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';
import { cpuMicros } from '../lib/cpu-bench.ts';

const dir = mkdtempSync(join(tmpdir(), 'sipedge-moh-act-'));
try {
  const wav = join(dir, 'src.wav');
  const mp3 = join(dir, 'queue.mp3');
  execFileSync('sox', ['-D', '-n', '-r', '44100', '-b', '16', '-c', '2', wav, 'synth', '186', 'pluck', 'C3', 'pluck', 'E4', 'tremolo', '3', 'gain', '-8']);
  execFileSync('lame', ['--quiet', '-b', '128', '--cbr', wav, mp3]);
  const bytes = readFileSync(mp3);
  const stores = await openMemoryStores(join(dir, 'store'), { role: 'edge', clock: systemClock });
  await stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
  const lib = new MediaLibrary({ config: loadConfig({ env: {} }).media, media: stores.media, accounts: stores.accounts, clock: systemClock, logger: createLogger('silent') });
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c0 = cpuMicros();
    const t0 = performance.now();
    await lib.upload({ tenant: 'acme', cls: 'queue', sourceName: 'queue.mp3', bytes });
    wall.push(performance.now() - t0);
    cpu.push((cpuMicros() - c0) / 1000);
  }
  await stores.close();
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[2]!;
  console.log(
    `${'activate a 3 MB MP3 (186 s stereo 44.1 kHz 128k) as queue music'.padEnd(62)} ` +
      `wall best ${Math.round(Math.min(...wall))} ms, median ${Math.round(med(wall))} ms; CPU median ${Math.round(med(cpu))} ms (${(bytes.length / 1e6).toFixed(2)} MB)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
