// The data directory is private: 0700 directories and 0600 files after start, after CLI writes and after an upload;
// a data dir left readable by others (an older version, a copied backup) is fixed at start with a warning.
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEdge, type TestEdge } from '../helpers/edge.ts';
import { makeWav, tone } from '../media/audio-fixtures.ts';

/** Every path below `dir` (itself included) with its permission bits. */
function modes(dir: string): Map<string, { mode: number; isDir: boolean }> {
  const out = new Map<string, { mode: number; isDir: boolean }>();
  const visit = (p: string) => {
    const st = lstatSync(p);
    out.set(p, { mode: st.mode & 0o777, isDir: st.isDirectory() });
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  visit(dir);
  return out;
}

function loosen(dir: string): void {
  for (const [p, m] of modes(dir)) chmodSync(p, m.isDir ? 0o755 : 0o644);
}

function expectPrivate(dir: string): void {
  const all = modes(dir);
  const open = [...all].filter(([, m]) => m.mode !== (m.isDir ? 0o700 : 0o600)).map(([p, m]) => `${p} ${m.mode.toString(8)}`);
  expect(open).toEqual([]);
}

describe('private data files', () => {
  let dataDir = '';
  let edge: TestEdge | undefined;
  afterEach(async () => {
    await edge?.stop();
    edge = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the journal, keys, artifacts and TLS files 0600 in 0700 directories after CLI writes and an upload', async () => {
    dataDir = join(mkdtempSync(join(tmpdir(), 'sipedge-modes-')), 'data');
    edge = await startEdge({ dataDir });
    await edge.cli(async (p) => {
      await p.addTenant('acme', 'acme.example.com');
      await p.addExtension({ ext: '1001', tenant: 'acme' });
    });
    await edge.app.media.upload({ tenant: 'acme', cls: 'hold', sourceName: 'hold.wav', bytes: makeWav(tone(8000, 1, 440, 0.3), 8000, 'pcm16') });
    const files = [...modes(dataDir).keys()].map((p) => p.slice(dataDir.length));
    expect(files.some((f) => f.includes('media'))).toBe(true);
    expect(files.some((f) => f.includes('self-signed-key.pem'))).toBe(true);
    expectPrivate(dataDir);
  });

  it('fixes a data dir left readable by other users at start, and says so once', async () => {
    dataDir = join(mkdtempSync(join(tmpdir(), 'sipedge-modes-')), 'data');
    edge = await startEdge({ dataDir });
    await edge.cli((p) => p.addTenant('acme', 'acme.example.com'));
    await edge.stop();
    loosen(dataDir);
    const loosened = modes(dataDir).size;
    edge = await startEdge({ dataDir });
    const warned = edge.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'data.modes.fixed');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 40, count: loosened });
    expectPrivate(dataDir);
  });
});
