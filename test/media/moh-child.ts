// A second process for the hold-music durability tests (run with `node --import tsx`): uploads tones through the
// media library on the embedded store in the CLI role, printing "activated <id> <hz>" after each activation.
import { writeSync } from 'node:fs';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { MediaLibrary } from '../../src/media/library.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';
import { makeWav, tone } from './audio-fixtures.ts';

function say(line: string): void {
  writeSync(1, line + '\n');
}

const [dir, countText] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: moh-child <storeDir> [count]');
const stores = await openMemoryStores(dir, { role: 'cli', clock: systemClock });
const lib = new MediaLibrary({ config: loadConfig({ env: {} }).media, media: stores.media, accounts: stores.accounts, clock: systemClock, logger: createLogger('silent') });
const count = Number(countText ?? 1000);
say('ready');
for (let i = 0; i < count; i++) {
  const hz = 300 + (i % 40) * 50;
  const v = await lib.upload({ tenant: 'acme', cls: 'hold', sourceName: `tone-${hz}.wav`, bytes: makeWav(tone(16000, 1, hz, 0.4), 16000, 'pcm16') });
  say(`activated ${v.id} ${hz}`);
}
await stores.close();
