#!/usr/bin/env node
// Builds the optional native part of sipedge: build/native/rtp_send.node (src/media/native/rtp_send.c, the batched
// RTP send of the hold-music scheduler). Plain `cc` against Node's own headers, no node-gyp (which would download
// headers from the network). Without a C compiler or the headers sipedge still runs, sending RTP through dgram;
// this script then says so and exits 0, unless --require is given (the test suite builds with it, so the native
// path is always the one tested). Usage: node scripts/build-native.mjs [--require] [--force]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/media/native/rtp_send.c');
const outDir = join(root, 'build/native');
const out = join(outDir, 'rtp_send.node');
const required = process.argv.includes('--require');
const force = process.argv.includes('--force');

function fail(message) {
  if (required) {
    console.error(`build-native: ${message}`);
    process.exit(1);
  }
  console.error(`build-native: ${message}; hold music will send RTP through dgram (slower, same packets)`);
  process.exit(0);
}

if (!force && existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs) process.exit(0);

const candidates = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'),
  join(dirname(process.execPath), '../include/node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const include = candidates.find((d) => existsSync(join(d, 'node_api.h')));
if (include === undefined) fail(`Node's C headers (node_api.h) not found in ${candidates.join(', ')}`);

const compiler = ['cc', 'gcc', 'clang'].find((c) => {
  try {
    execFileSync(c, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (compiler === undefined) fail('no C compiler (cc, gcc or clang) found');

mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
try {
  execFileSync(compiler, ['-O2', '-shared', '-fPIC', '-Wall', '-Werror', `-I${include}`, '-o', tmp, source], { stdio: 'inherit' });
} catch {
  fail(`${compiler} failed on ${source}`);
}
renameSync(tmp, out);
console.error(`build-native: built ${out}`);
