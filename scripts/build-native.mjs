#!/usr/bin/env node
// Builds the optional native parts of sipedge into build/native/: rtp_send.node (src/media/native/rtp_send.c, the
// batched RTP send of the hold-music scheduler) and sip_udp.node (src/transport/native/sip_udp.c, batched SIP over
// UDP for the listening socket). Plain `cc` against Node's own headers, no node-gyp (which would download headers
// from the network). Without a C compiler or the headers sipedge still runs, on dgram for both; this script then
// says so and exits 0, unless --require is given (the test suite builds with it, so the native paths are the ones
// tested). Usage: node scripts/build-native.mjs [--require] [--force]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build/native');
const targets = [
  { source: 'src/media/native/rtp_send.c', out: 'rtp_send.node', without: 'hold music will send RTP through dgram' },
  { source: 'src/transport/native/sip_udp.c', out: 'sip_udp.node', without: 'SIP over UDP will use dgram' },
].map((t) => ({ ...t, source: join(root, t.source), out: join(outDir, t.out) }));
const required = process.argv.includes('--require');
const force = process.argv.includes('--force');

function fail(message) {
  if (required) {
    console.error(`build-native: ${message}`);
    process.exit(1);
  }
  console.error(`build-native: ${message}; ${targets.map((t) => t.without).join(', ')} (slower, same packets)`);
  process.exit(0);
}

// Built against the headers of the Node that runs this script (README "Runtime"): a different Node rebuilds them all.
const builtFor = join(outDir, 'node-version');
const otherNode = !existsSync(builtFor) || readFileSync(builtFor, 'utf8').trim() !== process.version;
const stale = targets.filter((t) => force || otherNode || !existsSync(t.out) || statSync(t.out).mtimeMs < statSync(t.source).mtimeMs);
if (stale.length === 0) process.exit(0);

// This Node's own headers first (scripts/node24.sh sets npm_config_nodedir to them), the machine's last.
const candidates = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'),
  join(dirname(process.execPath), '../include/node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const include = candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
if (include === undefined) fail(`Node's C headers (node_api.h, uv.h) not found in ${candidates.join(', ')}`);

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
for (const { source, out } of stale) {
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(compiler, ['-O2', '-shared', '-fPIC', '-Wall', '-Werror', `-I${include}`, '-o', tmp, source], { stdio: 'inherit' });
  } catch {
    fail(`${compiler} failed on ${source}`);
  }
  renameSync(tmp, out);
  console.error(`build-native: built ${out} for Node ${process.version}`);
}
writeFileSync(builtFor, `${process.version}\n`);
