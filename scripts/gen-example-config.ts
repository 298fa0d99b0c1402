// Writes config/sipedge.example.json: every config key with its default (from the zod schema).
// Run after changing src/config/schema.ts: npx tsx scripts/gen-example-config.ts
import { writeFileSync } from 'node:fs';
import { loadConfig } from '../src/config/load.ts';

writeFileSync(new URL('../config/sipedge.example.json', import.meta.url), `${JSON.stringify(loadConfig({ env: {} }), null, 2)}\n`);
