#!/usr/bin/env node
// sipedge command: loads the TypeScript CLI through tsx's ESM loader (no build step).
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
