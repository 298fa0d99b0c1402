#!/usr/bin/env -S node --max-semi-space-size=64
// sipedge command: runs the CLI built to JavaScript in dist/ (`npm run build`, run by `npm ci`'s prepare script and by
// scripts/install-deps.sh). No TypeScript is compiled at run time: `--help` starts in a fraction of what tsx took.
// --max-semi-space-size=64 (also in scripts/start.sh, npm start, the Dockerfile, load-tests/lib/edge-process.ts): a
// young generation of 64 MB instead of Node 20's 16 MB. Every REGISTER allocates ~16 KB that dies young; with 16 MB
// the edge scavenged every ~60 ms at 14,000 REGISTER/s and spent ~15 % more CPU per REGISTER (A/B with
// load-tests/cpu-per-register.ts, 2-core VM). V8 reads the flag when the heap is created, so it must be on the
// command line (v8.setFlagsFromString below is too late for it).
import v8 from 'node:v8';
// Before anything allocates: V8's memory reducer, once allocation slows down (the hold-music path allocates almost
// nothing per packet), runs a series of garbage collections 8 s later and then every ~0.5 s, each stalling the event
// loop for 10-40 ms under load (2,000 hold-music streams on one core: p99.9 inter-packet gap 35-40 ms with it, 26 ms
// without). Set later than this, the flag no longer stops the series. The heap still shrinks through ordinary GCs.
v8.setFlagsFromString('--no-memory-reducer');
// Imported dynamically so that it loads after the flag (static imports would be evaluated first).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/cli/main.js')) throw e;
  process.stderr.write('sipedge: dist/ is not built; run "npm run build" (or bash scripts/install-deps.sh)\n');
  process.exit(1);
}
const { main } = cli;
process.exitCode = await main(process.argv.slice(2));
