// Activated hold music survives kill -9 (a real child process killed mid-upload loop), and a running edge picks up
// an activation made by the `sipedge moh upload` CLI process (its journal tailer, not a catch-up call).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { decodeArtifact } from '../../src/media/artifact.ts';
import { decodeUlaw } from '../../src/media/g711.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';
import { startEdge } from '../helpers/edge.ts';
import { SipPeer } from '../helpers/sip-peer.ts';
import { makeWav, tone, toneShare } from './audio-fixtures.ts';
import { MohCall, offer, RtpReceiver } from './moh-caller.ts';
import { writeFileSync } from 'node:fs';

const CHILD = fileURLToPath(new URL('./moh-child.ts', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/sipedge.js', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('hold-music durability', () => {
  it('keeps the last activated music, bytes intact, when the uploading process is killed -9 mid-loop', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sipedge-moh-kill-'));
    dirs.push(root);
    const dir = join(root, 'store');
    const setup = await openMemoryStores(dir, { role: 'cli', clock: systemClock });
    await setup.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
    await setup.close();

    const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const activated: { id: string; hz: number }[] = [];
    const enough = new Promise<void>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^activated (\S+) (\d+)$/.exec(line);
        if (m) activated.push({ id: m[1]!, hz: Number(m[2]) });
        if (activated.length === 4) resolve();
      });
      proc.on('exit', () => reject(new Error('child exited early')));
    });
    await enough;
    // Somewhere inside the next upload (artifact write, pending record or activation).
    await sleep(20 + Math.floor(Math.random() * 60));
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));

    const stores = await openMemoryStores(dir, { role: 'edge', clock: systemClock });
    try {
      const active = (await stores.media.active('acme', 'hold'))!;
      const last = activated.at(-1)!;
      // Every reported activation is durable: the active one is the last reported or a later one.
      expect(active.id >= last.id).toBe(true);
      const artifact = decodeArtifact((await stores.media.getArtifact(active.id))!);
      expect(artifact).toBeDefined();
      const hz = Number(/tone-(\d+)\.wav/.exec(active.sourceName)![1]);
      expect(toneShare(decodeUlaw(artifact!.pcmu).subarray(400, 7600), 8000, hz)).toBeGreaterThan(0.9);
      // Each reported version is still listed, and exactly one version is active.
      const listed = await stores.media.list('acme', 20);
      for (const a of activated) expect(listed.some((v) => v.id === a.id)).toBe(true);
      expect(listed.filter((v) => v.status === 'active')).toHaveLength(1);
    } finally {
      await stores.close();
    }
  }, 30_000);

  it('plays music uploaded by the `sipedge moh upload` CLI on a running edge, which follows the journal on its own', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sipedge-moh-cli-'));
    dirs.push(root);
    const base = 35000 + Math.floor(Math.random() * 200) * 100;
    const edge = await startEdge({ dataDir: root, overrides: { upstreams: [{ uri: 'sip:127.0.0.2:5060', priority: 1, weight: 1, transport: 'udp' }], media: { rtpPortMin: base, rtpPortMax: base + 99 } } });
    const pbx = await SipPeer.open({ transport: 'udp', port: edge.udpPort, localAddress: '127.0.0.2' });
    const rtp = await RtpReceiver.open();
    try {
      // The edge's journal tailer (and its cache's poll of the activation counter) bring the CLI's version in.
      const loaded = edge.waitForLog((l) => l.includes('"moh.cache.loaded"') && l.includes('"tenant":"acme"'), 20_000);
      await edge.app.stores.accounts.addTenant({ code: 'acme', domain: 'acme.example.com', createdAt: Date.now() });
      const file = join(root, 'hold.wav');
      writeFileSync(file, makeWav(tone(48000, 2, 900, 0.4), 48000, 'pcm24'));
      const cli = spawnSync(process.execPath, [BIN, 'moh', 'upload', file, '--tenant', 'acme', '--class', 'hold'], {
        env: { ...process.env, SIPEDGE_DATA_DIR: root },
        encoding: 'utf8',
      });
      expect(cli.stderr).toBe('');
      expect(cli.stdout).toMatch(/^hold\.wav: active hold music of acme \(version \S+, WAV PCM 24-bit 48000 Hz mono, 2\.0 s/);
      expect(cli.status).toBe(0);
      await loaded;
      const call = new MohCall(pbx, 'sip:moh@acme.example.com');
      expect((await call.invite(offer('127.0.0.2', rtp.port, '0'))).status).toBe(200);
      call.ack();
      await rtp.received(25);
      await call.bye();
      const pcm = decodeUlaw(Buffer.concat(rtp.packets.map((p) => p.payload)));
      expect(toneShare(pcm, 8000, 900)).toBeGreaterThan(0.9);
    } finally {
      await rtp.close();
      await pbx.close();
      await edge.stop();
    }
  }, 30_000);
});
