// Hold-music conversions in a bounded pool (media.conversions, media.conversionQueue): six uploads at once against an
// edge with one slot and four queue places convert one at a time, the sixth gets 503 + Retry-After, and
// `sipedge moh upload` waits through a 503 and succeeds. Conversions are real (transcodeInWorker); each one only starts
// when the test lets it through a gate, so what the pool does is seen at fixed points on /metrics, not raced.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { transcodeInWorker } from '../../src/media/transcode-worker.ts';
import { startEdge, eventually, type TestEdge } from '../helpers/edge.ts';
import { makeWav, tone } from './audio-fixtures.ts';

const TOKEN = 'pool-token-7d1e';

/** Lets conversions through one by one: open() lets the oldest waiting one (or the next to come) run. */
class Gate {
  private credits = 0;
  private readonly waiting: (() => void)[] = [];
  pass(): Promise<void> {
    if (this.credits > 0) {
      this.credits--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  open(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.credits++;
  }
}

let edge: TestEdge | undefined;
let dir: string | undefined;
afterEach(async () => {
  await edge?.stop();
  edge = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function gatedEdge(queue: number): Promise<{ edge: TestEdge; gate: Gate }> {
  const gate = new Gate();
  edge = await startEdge({
    overrides: { media: { apiToken: TOKEN, conversions: 1, conversionQueue: queue } },
    transcoder: async (bytes, opts) => {
      await gate.pass();
      return transcodeInWorker(bytes, opts);
    },
  });
  await edge.app.stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
  return { edge, gate };
}

function upload(e: TestEdge, name: string): Promise<Response> {
  const f = new FormData();
  f.append('tenant', 'acme');
  f.append('class', 'hold');
  f.append('file', new Blob([new Uint8Array(makeWav(tone(16000, 1, 440, 0.3), 16000, 'pcm16'))]), name);
  return fetch(`http://127.0.0.1:${e.httpPort}/api/moh`, { method: 'POST', body: f, headers: { authorization: `Bearer ${TOKEN}` } });
}

async function conversions(e: TestEdge): Promise<{ running: number; queued: number }> {
  return {
    running: await e.metric('sipedge_moh_conversions', { state: 'running' }),
    queued: await e.metric('sipedge_moh_conversions', { state: 'queued' }),
  };
}

describe('hold-music conversion pool', () => {
  it('converts six parallel uploads one at a time with four waiting, and turns the sixth away with 503 + Retry-After', async () => {
    const { edge: e, gate } = await gatedEdge(4);
    expect(await conversions(e)).toEqual({ running: 0, queued: 0 });
    const sent = [1, 2, 3, 4, 5, 6].map((i) => upload(e, `hold-${i}.wav`).then((res) => ({ i, res })));
    // While the gate is shut nothing can finish but the one upload the pool has no place for.
    const first = await Promise.race(sent);
    expect(first.res.status).toBe(503);
    const retryAfter = Number(first.res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    const busy = (await first.res.json()) as Record<string, unknown>;
    expect(busy).toMatchObject({ error: 'SIPEDGE_ERR_UPLOAD_BUSY', reason: 'busy' });
    expect(busy.message).toBe(`1 conversion(s) are running and 4 upload(s) wait (media.conversions, media.conversionQueue); try again in ${retryAfter} s`);
    expect(await conversions(e)).toEqual({ running: 1, queued: 4 });
    const rest = sent.filter((_, k) => k !== first.i - 1);
    const done = new Set<number>();
    for (const p of rest) void p.then(({ i }) => done.add(i));
    // One at a time: each opening lets one conversion run; the next starts only after it and the gauge never shows two.
    for (let k = 1; k <= 5; k++) {
      gate.open();
      expect(await eventually(() => done.size === k, 30_000)).toBe(true);
      expect(await conversions(e)).toEqual(k < 5 ? { running: 1, queued: 4 - k } : { running: 0, queued: 0 });
    }
    const answers = await Promise.all(rest);
    expect(answers.map(({ res }) => res.status)).toEqual([201, 201, 201, 201, 201]);
    expect(await e.metric('sipedge_moh_activations_total', { result: 'busy' })).toBe(1);
    expect(await e.metric('sipedge_moh_activations_total', { result: 'activated' })).toBe(5);
    // The refused upload left no version behind; the five converted ones are one active and four retired.
    const list = await fetch(`http://127.0.0.1:${e.httpPort}/api/moh?tenant=acme`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const versions = ((await list.json()) as { versions: { sourceName: string; status: string }[] }).versions;
    expect(versions.map((v) => v.status).sort()).toEqual(['active', 'retired', 'retired', 'retired', 'retired']);
    expect(versions.map((v) => v.sourceName)).not.toContain(`hold-${first.i}.wav`);
  });

  it('sipedge moh upload waits through a busy edge (503) as Retry-After asks, then succeeds', async () => {
    const { edge: e, gate } = await gatedEdge(0);
    const blocker = upload(e, 'first.wav');
    expect(await eventually(async () => (await conversions(e)).running === 1, 30_000)).toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'sipedge-moh-pool-'));
    const config = join(dir, 'sipedge.json');
    writeFileSync(config, JSON.stringify({ dataDir: dir, http: { listen: `127.0.0.1:${e.httpPort}` }, media: { apiToken: TOKEN } }));
    writeFileSync(join(dir, 'queue.wav'), makeWav(tone(16000, 1, 330, 0.3), 16000, 'pcm16'));
    const out: string[] = [];
    const err: string[] = [];
    let sawWait: () => void = () => {};
    const waiting = new Promise<void>((resolve) => (sawWait = resolve));
    const cli = main(['--config', config, 'moh', 'upload', join(dir, 'queue.wav'), '--tenant', 'acme', '--class', 'queue'], {
      out: (s) => out.push(s),
      err: (s) => {
        err.push(s);
        if (s.includes('waiting')) sawWait();
      },
    });
    await waiting;
    expect(err[0]).toMatch(/^moh upload: the edge is busy \(1 conversion\(s\) are running and 0 upload\(s\) wait .*\); waiting \d+ s before trying again$/);
    gate.open(); // first.wav converts; the CLI's next try finds the slot free
    gate.open(); // and its own conversion may run
    expect(await cli).toBe(0);
    expect((await blocker).status).toBe(201);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^queue\.wav: active queue music of acme \(version \S+, WAV PCM 16-bit 16000 Hz mono, 1\.0 s; 0\.03 MB; activated in \d+ ms\)$/);
    const list = await fetch(`http://127.0.0.1:${e.httpPort}/api/moh?tenant=acme`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const versions = ((await list.json()) as { versions: { sourceName: string; status: string; class: string }[] }).versions;
    expect(versions.filter((v) => v.class === 'queue').map((v) => [v.sourceName, v.status])).toEqual([['queue.wav', 'active']]);
  });

  it('sipedge moh upload through the edge reports the edge refusing a file over the limit (413) by its message', async () => {
    const { edge: e } = await gatedEdge(4);
    dir = mkdtempSync(join(tmpdir(), 'sipedge-moh-pool-'));
    const config = join(dir, 'sipedge.json');
    writeFileSync(config, JSON.stringify({ dataDir: dir, http: { listen: `127.0.0.1:${e.httpPort}` }, media: { apiToken: TOKEN } }));
    writeFileSync(join(dir, 'big.wav'), Buffer.alloc(2_000_000));
    const err: string[] = [];
    const code = await main(['--config', config, 'moh', 'upload', join(dir, 'big.wav'), '--tenant', 'acme', '--class', 'hold'], { out: () => {}, err: (s) => err.push(s) });
    expect({ code, err }).toEqual({ code: 1, err: ['sipedge: big.wav is over 1.50 MB; hold music may be at most 1.5 MB (media.holdMaxBytes) (SIPEDGE_ERR_UPLOAD_TOO_LARGE)'] });
    // The edge recorded the refusal (the CLI converted nothing itself).
    expect(await e.metric('sipedge_moh_activations_total', { result: 'too-large' })).toBe(1);
  });
});
