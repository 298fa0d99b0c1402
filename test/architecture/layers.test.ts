// The layer rule of DESIGN.md as a test: every import in src/ follows an allowed edge; siblings never import each other.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

/** layer -> layers it may import (besides itself). clock.ts is importable by all; app.ts imports everything. */
const ALLOWED: Record<string, string[]> = {
  sip: [],
  config: [],
  observability: [],
  store: ['observability', 'config'],
  transport: ['sip', 'observability', 'config'],
  transaction: ['sip', 'transport', 'observability', 'config'],
  auth: ['sip', 'store', 'observability', 'config'],
  registrar: ['sip', 'transport', 'transaction', 'auth', 'store', 'observability', 'config'],
  proxy: ['sip', 'transport', 'transaction', 'auth', 'store', 'observability', 'config'],
  media: ['sip', 'transport', 'transaction', 'store', 'observability', 'config'],
  gateway: ['auth', 'media', 'store', 'observability', 'config'],
  cli: ['app', 'auth', 'media', 'store', 'observability', 'config'],
  portal: [],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(file: string): string {
  const rel = relative('src', file);
  return rel.includes('/') ? rel.split('/')[0]! : rel.replace(/\.ts$/, '');
}

describe('architecture', () => {
  it('keeps every import in src/ on an allowed layer edge', () => {
    const violations: string[] = [];
    for (const file of files('src')) {
      const from = layerOf(file);
      if (from === 'app' || from === 'clock') continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
        const target = layerOf(relative(process.cwd(), resolve(dirname(file), m[1]!)));
        if (target === from || target === 'clock') continue;
        if (!(ALLOWED[from] ?? []).includes(target)) violations.push(`${file} imports ${m[1]} (${from} -> ${target})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('has a rule for every layer folder in src/', () => {
    const layers = readdirSync('src').filter((f) => statSync(join('src', f)).isDirectory());
    for (const l of layers) expect(Object.keys(ALLOWED), l).toContain(l);
  });
});
