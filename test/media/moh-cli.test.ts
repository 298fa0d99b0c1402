// `sipedge moh upload` and `sipedge moh status` through the CLI entry point (in process, real embedded store):
// exit codes, the refusal message with its code, usage errors, and the status listing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { makeWav, tone } from './audio-fixtures.ts';

let dir: string;
let config: string;

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--config', config, ...argv], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sipedge-moh-cli-'));
  config = join(dir, 'sipedge.json');
  writeFileSync(config, JSON.stringify({ dataDir: dir, media: { holdMaxBytes: 100_000 } }));
  writeFileSync(join(dir, 'hold.wav'), makeWav(tone(16000, 1, 440, 0.3), 16000, 'pcm16'));
  writeFileSync(join(dir, 'song.wma'), Buffer.concat([Buffer.from('3026b2758e66cf11a6d900aa0062ce6c', 'hex'), Buffer.alloc(3000)]));
  writeFileSync(join(dir, 'big.wav'), Buffer.alloc(5_000_000));
  expect((await run('tenant', 'add', 'acme', '--domain', 'acme.example.com')).code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sipedge moh', () => {
  it('says the default music plays while a tenant has uploaded nothing', async () => {
    expect(await run('moh', 'status', '--tenant', 'acme')).toEqual({ code: 0, out: 'acme: no uploads yet, the default music plays', err: '' });
  });

  it('activates a WAV, refuses a WMA and an oversized file with their reasons (exit 1), and lists all three', async () => {
    const ok = await run('moh', 'upload', join(dir, 'hold.wav'), '--tenant', 'acme', '--class', 'hold');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^hold\.wav: active hold music of acme \(version \S+, WAV PCM 16-bit 16000 Hz mono, 1\.0 s; 0\.03 MB; activated in \d+ ms\)$/);
    const wma = await run('moh', 'upload', join(dir, 'song.wma'), '--tenant', 'acme', '--class', 'hold');
    expect(wma).toEqual({ code: 1, out: '', err: 'sipedge: song.wma: Windows Media (WMA/WMV) is not supported; upload a WAV or MP3 file (SIPEDGE_ERR_UPLOAD_REFUSED)' });
    const big = await run('moh', 'upload', join(dir, 'big.wav'), '--tenant', 'acme', '--class', 'hold');
    expect(big).toEqual({ code: 1, out: '', err: 'sipedge: big.wav is 5.0 MB; hold music may be at most 0.1 MB (media.holdMaxBytes) (SIPEDGE_ERR_UPLOAD_TOO_LARGE)' });
    const status = await run('moh', 'status');
    const lines = status.out.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/\thold\.wav\tactive WAV PCM 16-bit 16000 Hz mono 1\.0 s$/);
    expect(lines[1]).toMatch(/^acme\thold\t\S+\t\d{4}-\d\d-\d\dT[\d:.]+Z\tbig\.wav\tfailed: big\.wav is 5\.0 MB/);
    expect(lines[2]).toMatch(/\tsong\.wma\tfailed: song\.wma: Windows Media/);
    const json = JSON.parse((await run('moh', 'status', '--tenant', 'acme', '--json')).out) as { status: string }[];
    expect(json.map((v) => v.status)).toEqual(['active', 'failed', 'failed']);
  });

  it('always lists the playing version, however many refusals came after it, then the 5 most recent (--all: every one)', async () => {
    expect((await run('tenant', 'add', 'busy', '--domain', 'busy.example.com')).code).toBe(0);
    expect((await run('moh', 'upload', join(dir, 'hold.wav'), '--tenant', 'busy', '--class', 'queue')).code).toBe(0);
    for (let i = 0; i < 7; i++) expect((await run('moh', 'upload', join(dir, 'song.wma'), '--tenant', 'busy', '--class', 'queue')).code).toBe(1);
    const shown = (await run('moh', 'status', '--tenant', 'busy')).out.split('\n');
    expect(shown.map((l) => l.split('\t')[5]!.split(' ')[0])).toEqual(['active', 'failed:', 'failed:', 'failed:', 'failed:', 'failed:']);
    expect(shown[0]).toContain('\thold.wav\t');
    const all = (await run('moh', 'status', '--tenant', 'busy', '--all')).out.split('\n');
    expect(all).toHaveLength(8);
    expect(all[0]).toContain('\tactive ');
  });

  it('answers usage errors with exit 2: a missing --class, a class other than hold or queue, an unknown tenant (exit 1)', async () => {
    expect((await run('moh', 'upload', join(dir, 'hold.wav'), '--tenant', 'acme')).code).toBe(2);
    const bad = await run('moh', 'upload', join(dir, 'hold.wav'), '--tenant', 'acme', '--class', 'lobby');
    expect(bad).toEqual({ code: 2, out: '', err: 'sipedge: class "lobby" is not hold or queue (SIPEDGE_ERR_CLI_USAGE)' });
    const unknown = await run('moh', 'upload', join(dir, 'hold.wav'), '--tenant', 'nobody', '--class', 'hold');
    expect(unknown).toEqual({ code: 1, out: '', err: 'sipedge: tenant "nobody" does not exist (SIPEDGE_ERR_TENANT_UNKNOWN)' });
    expect((await run('moh', 'frobnicate')).err).toBe('sipedge: unknown moh command "frobnicate"; see "sipedge --help"');
  });
});
