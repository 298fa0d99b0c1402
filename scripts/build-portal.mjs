// Builds the portal (src/portal/, a Preact app) into build/portal/: index.html, assets/app.js (esbuild bundle with
// Preact and SIP.js, no CDN), assets/app.css, assets/theme.js. Run by `npm ci`/`npm install` (the prepare script),
// by scripts/install-deps.sh when the bundle is missing or older than its sources, and by the browser tests.
// `--if-stale` builds only then. Exits non-zero with esbuild's message on a broken source.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src/portal');
const out = join(root, 'build/portal');
const stamp = join(out, 'assets/app.js');

/** Newest modification time under `dir` (ms). */
function newest(dir) {
  let t = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** True when build/portal is missing or older than src/portal (or this script, or the lockfile). */
export function isStale() {
  if (!existsSync(stamp) || !existsSync(join(out, 'index.html'))) return true;
  const built = statSync(stamp).mtimeMs;
  const inputs = [newest(src), statSync(fileURLToPath(import.meta.url)).mtimeMs];
  if (existsSync(join(root, 'package-lock.json'))) inputs.push(statSync(join(root, 'package-lock.json')).mtimeMs);
  return Math.max(...inputs) > built;
}

export async function buildPortal() {
  mkdirSync(join(out, 'assets'), { recursive: true });
  await build({
    entryPoints: { app: join(src, 'main.tsx'), theme: join(src, 'theme-boot.ts') },
    outdir: join(out, 'assets'),
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(src, 'tsconfig.json'),
    logLevel: 'warning',
    legalComments: 'linked',
  });
  copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
  copyFileSync(join(src, 'styles.css'), join(out, 'assets/app.css'));
  copyFileSync(join(src, 'icon.svg'), join(out, 'assets/icon.svg'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes('--if-stale') || isStale()) {
    await buildPortal();
    console.error('portal built into build/portal/');
  }
}
