// Builds the edge (src/, without the portal) to JavaScript in dist/ with tsc (tsconfig.build.json), and copies the
// files the code reads beside itself (src/media/assets/). bin/sipedge.js runs dist/; tests and load tests run src/
// through tsx. Run by `npm ci`/`npm install` (the prepare script, after the portal), by scripts/install-deps.sh and by
// the test setup when dist/ is missing or older than src/. `--if-stale` builds only then. Exits non-zero with tsc's
// messages on a type error.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const out = join(root, 'dist');
const stamp = join(out, '.built');
/** Folders of src/ that tsc does not build: the portal (esbuild, scripts/build-portal.mjs) and the C sources. */
const NOT_BUILT = new Set(['portal', 'native']);

/** Newest modification time of the built inputs under `dir` (ms). */
function newest(dir) {
  let t = 0;
  for (const f of readdirSync(dir)) {
    if (NOT_BUILT.has(f)) continue;
    const p = join(dir, f);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** True when dist/ is missing or older than src/ (or this script, tsconfig.json, tsconfig.build.json). */
export function isStale() {
  if (!existsSync(stamp)) return true;
  const inputs = [newest(src), ...['scripts/build-dist.mjs', 'tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(join(root, f)).mtimeMs)];
  return Math.max(...inputs) > statSync(stamp).mtimeMs;
}

/** Removes built files whose source is gone (a renamed or deleted module must not linger in dist/). */
function removeOrphans(dir) {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) {
      if (existsSync(join(src, relative(out, p)))) removeOrphans(p);
      else rmSync(p, { recursive: true });
      continue;
    }
    const m = /^(.*)\.js(\.map)?$/.exec(f);
    if (m && !existsSync(join(src, relative(out, dir), `${m[1]}.ts`))) rmSync(p);
  }
}

export function buildDist() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${r.status ?? r.signal})`);
  removeOrphans(out);
  cpSync(join(src, 'media/assets'), join(out, 'media/assets'), { recursive: true });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes('--if-stale') || isStale()) {
    try {
      buildDist();
    } catch (e) {
      console.error(`sipedge: ${e.message}`);
      process.exit(1);
    }
    console.error('edge built into dist/');
  }
}
