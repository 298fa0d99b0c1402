// The store contract against the embedded store, plus the journal's own stories: kill -9, two writing
// processes, CLI-to-edge commands, torn tails, compaction, stale locks. Child processes run journal-child.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { SipedgeError } from '../../src/errors.ts';
import { openMemoryStores, type MemoryStores, type MemoryStoreTuning } from '../../src/store/memory/index.ts';
import { encodeRecords, scanLines } from '../../src/store/memory/journal-record.ts';
import { openStores } from '../../src/store/open.ts';
import type { StoreOptions } from '../../src/store/types.ts';
import { binding, extension, storeContract, tenant } from './contract.ts';

const CHILD = fileURLToPath(new URL('./journal-child.ts', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempStoreDir(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'sipedge-store-'));
  dirs.push(dir);
  return join(dir, 'store');
}

storeContract('memory', (clock) => openMemoryStores(tempStoreDir(), { role: 'edge', clock }));

/** A running journal-child.ts with its stdout as lines. */
interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first line (seen so far or later) matching `test`; rejects if the child exits first. */
  waitFor(test: (line: string) => boolean): Promise<string>;
  exited: Promise<number | null>;
}

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  const waiters: { test: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  void exited.then(() => {
    // Let readline deliver the last lines before failing the remaining waiters.
    setImmediate(() => {
      for (const w of waiters.splice(0)) w.reject(new Error(`child ${args[0]} exited before the line; stderr: ${stderr}`));
    });
  });
  return {
    proc,
    lines,
    exited,
    waitFor(test) {
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => waiters.push({ test, resolve, reject }));
    },
  };
}

/** Polls `check` until it returns true or `ms` pass; returns whether it did. Asserts outcomes, not timing. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function journalFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith('journal-') && n.endsWith('.jsonl')).map((n) => join(dir, n));
}

/** Every line of every journal file decodes (no damage left behind). */
function expectCleanJournal(dir: string): void {
  for (const f of journalFiles(dir)) {
    const buf = fs.readFileSync(f);
    const scan = scanLines(buf);
    expect(scan.hitInvalid, f).toBe(false);
    expect(scan.consumed, f).toBe(buf.length);
  }
}

const edge = (clock = new FakeClock()): StoreOptions => ({ role: 'edge', clock });
const cli = (clock = new FakeClock()): StoreOptions => ({ role: 'cli', clock });

// Some stories run child processes (node + tsx, ~1.3 s of CPU each before any work, then 10,000-extension batches):
// on two cores shared with another test run they outlast the suite's 30 s default without anything being wrong, so
// they get 120 s as a safety net. A wrong outcome still fails at once.
describe('memory store journal', { timeout: 120_000 }, () => {
  const open: MemoryStores[] = [];
  const children: Child[] = [];
  async function openStore(dir: string, opts: StoreOptions, tuning?: MemoryStoreTuning): Promise<MemoryStores> {
    const s = await openMemoryStores(dir, opts, tuning);
    open.push(s);
    return s;
  }
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    for (const s of open.splice(0)) await s.close();
  });

  it('keeps accounts, credentials and meta across a restart', async () => {
    const dir = tempStoreDir();
    const first = await openStore(dir, edge());
    await first.accounts.addTenant(tenant('acme'));
    await first.accounts.putExtensions([extension('acme', '1001')]);
    await first.meta.getOrSet('nonceSecret', 's3cr3t');
    await first.close();
    const again = await openStores({ store: 'memory', dataDir: join(dir, '..'), redis: { url: 'redis://unused', keyPrefix: '' } }, edge());
    open.push(again as MemoryStores);
    expect(await again.accounts.getExtension('acme', '1001')).toEqual(extension('acme', '1001'));
    expect(await again.accounts.findTenantByDomain('ACME.example.com')).toEqual(tenant('acme'));
    expect(await again.meta.getOrSet('nonceSecret', 'other')).toBe('s3cr3t');
  });

  it('keeps gateway logins, TOTP steps, unused tokens and removals across a restart and through compaction', async () => {
    const dir = tempStoreDir();
    const clock = new FakeClock();
    const tuning = { compactAtBytes: 4_096 };
    const first = await openStore(dir, edge(clock), tuning);
    await first.accounts.addTenant(tenant('acme'));
    await first.accounts.addTenant(tenant('gone'));
    await first.accounts.putExtensions([extension('acme', '1001'), extension('acme', '1002')]);
    const login = { tenant: 'acme', ext: '1001', passwordHash: '$argon2id$x', role: 'operator' as const, totpSecret: 'v1.sealed', totpActive: true, sessionEpoch: 3, updatedAt: 5 };
    await first.logins.put(login);
    await first.logins.useTotpStep('acme', '1001', 777);
    await first.tokens.put('reset:kept', 'v1', clock.now() + 3_600_000);
    await first.tokens.put('reset:used', 'v2', clock.now() + 3_600_000);
    await first.tokens.put('reset:short', 'v3', clock.now() + 1_000);
    expect(await first.tokens.take('reset:used', clock.now())).toBe('v2');
    await first.accounts.removeExtension('acme', '1002');
    await first.accounts.removeTenant('gone');
    // Enough writes to force compactions (snapshots must carry the gateway state).
    const gen = first.journalGeneration();
    clock.advance(2_000);
    for (let i = 0; i < 40; i++) await first.logins.put({ ...login, ext: '1001', updatedAt: 100 + i });
    expect(first.journalGeneration()).toBeGreaterThan(gen);
    await first.close();

    const again = await openStore(dir, edge(clock));
    expect(await again.logins.get('acme', '1001')).toEqual({ ...login, updatedAt: 139 });
    expect(await again.logins.useTotpStep('acme', '1001', 777)).toBe(false);
    expect(await again.logins.lastTotpStep('acme', '1001')).toBe(777);
    expect(await again.tokens.take('reset:used', clock.now())).toBeUndefined();
    expect(await again.tokens.take('reset:short', clock.now())).toBeUndefined();
    expect(await again.tokens.take('reset:kept', clock.now())).toBe('v1');
    expect(await again.accounts.getExtension('acme', '1002')).toBeUndefined();
    expect(await again.accounts.getTenant('gone')).toBeUndefined();
    expectCleanJournal(dir);
  });

  it('leaves no trace of a taken token in the journal files (it may hold a sealed password)', async () => {
    const dir = tempStoreDir();
    const clock = new FakeClock();
    const s = await openStore(dir, edge(clock));
    await s.tokens.put('prov:abc', 'sealed-password-xyz', clock.now() + 900_000);
    const onDisk = (): string => journalFiles(dir).map((f) => fs.readFileSync(f, 'utf8')).join('');
    expect(onDisk()).toContain('sealed-password-xyz');
    expect(await s.tokens.take('prov:abc', clock.now())).toBe('sealed-password-xyz');
    expect(onDisk()).not.toContain('sealed-password-xyz');
    expect(await s.tokens.take('prov:abc', clock.now())).toBeUndefined();
  });

  it('has every 10,000-extension batch a killed (-9) importer reported done, and no half batch', async () => {
    const dir = tempStoreDir();
    const size = 10_000;
    // Kill right after "done", then at growing delays so the kill lands inside later batches' writes.
    for (const [run, delayMs] of [[0, 0], [1, 15], [2, 40], [3, 90]] as const) {
      const child = startChild(['import', dir, '1000', String(size), `r${run}`]);
      children.push(child);
      await child.waitFor((l) => l === `done ${run === 0 ? 0 : 1}`);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      child.proc.kill('SIGKILL');
      await child.exited;
      const reported = child.lines.filter((l) => l.startsWith('done ')).map((l) => Number(l.slice(5)));
      const lastDone = Math.max(...reported);

      const stores = await openStore(dir, edge());
      const counts = new Map<string, number>();
      for (const e of await stores.accounts.listExtensions('acme')) {
        if (e.ext.startsWith('after-')) continue;
        const batch = e.ext.slice(0, e.ext.indexOf('-'));
        counts.set(batch, (counts.get(batch) ?? 0) + 1);
      }
      for (let b = 0; b <= lastDone; b++) expect(counts.get(`r${run}.${b}`), `run ${run} batch ${b}`).toBe(size);
      for (const [batch, n] of counts) expect(n, `batch ${batch} is whole`).toBe(size);
      // The store is writable again (a torn tail is cut off, a dead writer's lock is broken).
      await stores.accounts.putExtensions([extension('acme', `after-${run}`)]);
      await stores.close();
    }
    const last = await openStore(dir, edge());
    expect((await last.accounts.listExtensions('acme')).filter((e) => e.ext.startsWith('after-'))).toHaveLength(4);
    expectCleanJournal(dir);
  });

  it('loses nothing and corrupts nothing when two processes write at the same time', async () => {
    const dir = tempStoreDir();
    const parent = await openStore(dir, cli());
    await parent.accounts.addTenant(tenant('shared'));
    const a = startChild(['concurrent', dir, 'p', '200']);
    const b = startChild(['concurrent', dir, 'q', '200']);
    children.push(a, b);
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    const results = [a, b].map((c) => JSON.parse(c.lines.at(-1) ?? '{}') as { won: boolean });
    expect(results.filter((r) => r.won)).toHaveLength(1);

    const stores = await openStore(dir, edge());
    const exts = (await stores.accounts.listExtensions('shared')).map((e) => e.ext);
    expect(exts).toHaveLength(400);
    for (const tag of ['p', 'q']) {
      for (let i = 0; i < 200; i++) expect(exts).toContain(`${tag}-${i}`);
      for (const i of [0, 50, 100, 150]) expect(await stores.accounts.getTenant(`${tag}-t${i}`)).toBeDefined();
    }
    expect(await stores.accounts.getTenant('contested')).toBeDefined();
    expectCleanJournal(dir);
  });

  it("lets a CLI process's unlock, removeAll and new extension reach the running edge", async () => {
    const dir = tempStoreDir();
    const clock = new FakeClock();
    const stores = await openStore(dir, edge(clock));
    await stores.accounts.addTenant(tenant('acme'));
    const policy = { maxFailures: 2, windowMs: 60_000, lockMs: 900_000 };
    await stores.lockouts.recordFailure('1001@acme', clock.now(), policy);
    await stores.lockouts.recordFailure('1001@acme', clock.now(), policy);
    for (const k of ['a', 'b']) await stores.lockouts.recordSourceFailure('203.0.113.66', k, clock.now(), { maxExtensions: 2, windowMs: 60_000, banMs: 60_000 });
    await stores.bindings.replace('1001@acme', [binding('sip:1001@192.0.2.10', clock.now(), 3_600_000)], 0, clock.now());
    expect(await stores.lockouts.lockedUntil('1001@acme', clock.now())).toBeGreaterThan(0);
    expect(await stores.lockouts.bannedUntil('203.0.113.66', clock.now())).toBeGreaterThan(0);
    const unbanned: string[] = [];
    stores.lockouts.onUnban((source) => unbanned.push(source));

    const child = startChild(['cli-commands', dir, '1001@acme', '1001@acme']);
    children.push(child);
    await child.waitFor((l) => l === 'done');
    // The edge's own tailer (fs.watch plus a 250 ms poll) must bring these in; the test never calls catchUp.
    const arrived = await eventually(async () => {
      const now = clock.now();
      return (
        (await stores.lockouts.lockedUntil('1001@acme', now)) === 0 &&
        (await stores.lockouts.bannedUntil('203.0.113.66', now)) === 0 &&
        (await stores.bindings.get('1001@acme', now)).bindings.length === 0 &&
        (await stores.accounts.getExtension('acme', '2001')) !== undefined
      );
    }, 2_000);
    expect(arrived).toBe(true);
    expect(unbanned).toEqual(['203.0.113.66']); // the edge's flood guard is told
    expect(stores.tailError()).toBeUndefined();
  });

  it('does not act on old CLI commands when the edge starts, and the CLI role acts on nothing locally', async () => {
    const dir = tempStoreDir();
    const clock = new FakeClock();
    const tool = await openStore(dir, cli(clock));
    await tool.bindings.removeAll('1001@acme');
    await tool.lockouts.unlock('1001@acme');
    const stores = await openStore(dir, edge(clock));
    await stores.bindings.replace('1001@acme', [binding('sip:1001@192.0.2.10', clock.now(), 60_000)], 0, clock.now());
    stores.catchUp();
    expect((await stores.bindings.get('1001@acme', clock.now())).bindings).toHaveLength(1);
  });

  it('ignores a torn last line at open and keeps appending after it', async () => {
    const dir = tempStoreDir();
    const first = await openStore(dir, edge());
    await first.accounts.addTenant(tenant('acme'));
    await first.accounts.putExtensions([extension('acme', '1001')]);
    await first.close();
    const [file] = journalFiles(dir);
    const batch = Array.from({ length: 50 }, (_, i) => extension('acme', String(5000 + i)));
    const whole = encodeRecords([{ t: 'extensions', extensions: batch }]);
    fs.appendFileSync(file!, whole.subarray(0, whole.length - 30)); // what kill -9 mid-write leaves

    const second = await openStore(dir, edge());
    expect(await second.accounts.getExtension('acme', '1001')).toBeDefined();
    expect(await second.accounts.getExtension('acme', '5000')).toBeUndefined();
    await second.accounts.putExtensions([extension('acme', '1003')]); // shorter than the torn bytes it replaces
    await second.close();

    const third = await openStore(dir, edge());
    expect((await third.accounts.listExtensions('acme')).map((e) => e.ext)).toEqual(['1001', '1003']);
    expectCleanJournal(dir);
  });

  it('ignores a last line whose checksum does not match', async () => {
    const dir = tempStoreDir();
    const first = await openStore(dir, edge());
    await first.accounts.addTenant(tenant('acme'));
    await first.close();
    const [file] = journalFiles(dir);
    const line = encodeRecords([{ t: 'extensions', extensions: [extension('acme', '1002')] }]);
    line[20] = line[20] === 0x61 ? 0x62 : 0x61; // one flipped byte, newline intact
    fs.appendFileSync(file!, line);
    const second = await openStore(dir, edge());
    expect(await second.accounts.getExtension('acme', '1002')).toBeUndefined();
    await second.accounts.putExtensions([extension('acme', '1003')]);
    expect(await second.accounts.getExtension('acme', '1003')).toBeDefined();
    expectCleanJournal(dir);
  });

  it('refuses to open with SIPEDGE_ERR_STORE_CORRUPT when a damaged line sits before good ones', async () => {
    const dir = tempStoreDir();
    const first = await openStore(dir, edge());
    await first.accounts.addTenant(tenant('acme'));
    await first.accounts.putExtensions([extension('acme', '1001')]);
    await first.accounts.putExtensions([extension('acme', '1002')]);
    await first.close();
    const [file] = journalFiles(dir);
    const buf = fs.readFileSync(file!);
    const lineStarts = [0, ...[...buf.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1)];
    const target = lineStarts[2]! + 20; // inside the first extensions line
    buf[target] = buf[target] === 0x61 ? 0x62 : 0x61;
    fs.writeFileSync(file!, buf);
    const err = await openMemoryStores(dir, edge()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SipedgeError);
    expect((err as SipedgeError).code).toBe('SIPEDGE_ERR_STORE_CORRUPT');
  });

  it('compacts into a new generation that keeps everything, and a tailing edge follows it', async () => {
    const dir = tempStoreDir();
    const tuning = { compactAtBytes: 4_096 };
    const writer = await openStore(dir, cli(), tuning);
    const tailer = await openStore(dir, edge(), tuning);
    const sleeper = await openStore(dir, cli(), tuning);
    await writer.accounts.addTenant(tenant('acme'));
    await writer.meta.getOrSet('nonceSecret', 'kept');
    for (let i = 0; i < 60; i++) await writer.accounts.putExtensions([extension('acme', String(1000 + i))]);
    expect(writer.journalGeneration()).toBeGreaterThan(3);
    expect(journalFiles(dir)).toHaveLength(1);

    expect(await eventually(async () => (await tailer.accounts.listExtensions('acme')).length === 60, 2_000)).toBe(true);
    // Written after the compactions: the tailer must still be following the live file.
    await writer.accounts.putExtensions([extension('acme', '2000')]);
    expect(await eventually(async () => (await tailer.accounts.getExtension('acme', '2000')) !== undefined, 2_000)).toBe(true);
    expect(tailer.journalGeneration()).toBe(writer.journalGeneration());

    // A reader that slept through several compactions (its file long deleted) catches up on its next read.
    expect(await sleeper.accounts.listExtensions('acme')).toHaveLength(61);

    const fresh = await openStore(dir, edge(), tuning);
    expect(await fresh.accounts.listExtensions('acme')).toHaveLength(61);
    expect(await fresh.meta.getOrSet('nonceSecret', 'other')).toBe('kept');
    expect(await fresh.accounts.getTenant('acme')).toEqual(tenant('acme'));
    expectCleanJournal(dir);
  });

  it('breaks a lock left by a dead process (or an earlier one with our pid) and refuses, after waiting, a live one', async () => {
    const dir = tempStoreDir();
    const stores = await openStore(dir, cli(), { lockWaitMs: 300 });
    const lockFile = join(dir, 'lock');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(lockFile, `${dead.stdout}\n`);
    await stores.accounts.addTenant(tenant('acme'));
    expect(fs.existsSync(lockFile)).toBe(false);
    // Our own pid, while we hold nothing: left by an earlier process that had this pid (a container restart).
    fs.writeFileSync(lockFile, `${process.pid}\n`);
    await stores.accounts.addTenant(tenant('initech'));
    expect(fs.existsSync(lockFile)).toBe(false);

    fs.writeFileSync(lockFile, `${process.ppid}\n`);
    const err = await stores.accounts.addTenant(tenant('globex')).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SipedgeError);
    expect((err as SipedgeError).code).toBe('SIPEDGE_ERR_STORE_LOCKED');
    expect(await stores.accounts.getTenant('globex')).toBeUndefined();
    fs.unlinkSync(lockFile);
    await stores.accounts.addTenant(tenant('globex'));
    expect(await stores.accounts.getTenant('globex')).toBeDefined();
  });

  it('writes nothing to the journal when a tenant is refused', async () => {
    const dir = tempStoreDir();
    const stores = await openStore(dir, edge());
    await stores.accounts.addTenant(tenant('acme'));
    const [file] = journalFiles(dir);
    const before = fs.statSync(file!).size;
    await expect(stores.accounts.addTenant(tenant('acme'))).rejects.toBeInstanceOf(SipedgeError);
    await expect(stores.accounts.putExtensions([extension('ghost', '1')])).rejects.toBeInstanceOf(SipedgeError);
    expect(fs.statSync(file!).size).toBe(before);
  });
});
