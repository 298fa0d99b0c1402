// The embedded store's synchronous twins (the REGISTER fast path): same answers and effects as the async methods,
// and no unlockSync in the CLI role, where unlock must travel to the running edge.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';
import type { Stores } from '../../src/store/types.ts';
import { binding, extension, tenant } from './contract.ts';

const dirs: string[] = [];
const open: Stores[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function stores(role: 'edge' | 'cli', dir?: string): Promise<{ s: Stores; dir: string }> {
  const d = dir ?? fs.mkdtempSync(join(tmpdir(), 'sipedge-sync-'));
  if (dir === undefined) dirs.push(d);
  const s = await openMemoryStores(d, { role, clock: new FakeClock(Date.UTC(2026, 0, 1)) });
  open.push(s);
  return { s, dir: d };
}

describe('memory store synchronous twins', () => {
  it('accounts: the same tenant and extension as the async reads', async () => {
    const { s } = await stores('edge');
    await s.accounts.addTenant(tenant('acme', 'Acme.Example.com'));
    await s.accounts.putExtensions([extension('acme', '1001')]);
    expect(s.accounts.getTenantSync!('acme')).toEqual(await s.accounts.getTenant('acme'));
    expect(s.accounts.findTenantByDomainSync!('acme.EXAMPLE.com')).toEqual(await s.accounts.findTenantByDomain('acme.example.com'));
    expect(s.accounts.findTenantByDomainSync!('other.example.com')).toBeUndefined();
    expect(s.accounts.getExtensionSync!('acme', '1001')).toEqual(await s.accounts.getExtension('acme', '1001'));
    expect(s.accounts.getExtensionSync!('acme', '1002')).toBeUndefined();
  });

  it('bindings: getSync/replaceSync keep compare-and-set', async () => {
    const { s } = await stores('edge');
    const now = Date.UTC(2026, 0, 1);
    const first = s.bindings.getSync!('1001@acme', now);
    expect(first).toEqual({ bindings: [], version: 0 });
    expect(s.bindings.replaceSync!('1001@acme', [binding('sip:a@127.0.0.1', now, 60_000)], first.version, now)).toBe(true);
    // A second writer with the stale version loses, through either method.
    expect(s.bindings.replaceSync!('1001@acme', [], first.version, now)).toBe(false);
    expect(await s.bindings.replace('1001@acme', [], first.version, now)).toBe(false);
    const cur = s.bindings.getSync!('1001@acme', now);
    expect(cur).toEqual(await s.bindings.get('1001@acme', now));
    expect(cur.bindings.map((b) => b.contact)).toEqual(['sip:a@127.0.0.1']);
    expect(s.bindings.getSync!('1001@acme', now + 61_000).bindings).toEqual([]);
  });

  it('lockouts and nonce counts: the same state as the async methods', async () => {
    const { s } = await stores('edge');
    const l = s.lockouts;
    const now = 1_000_000;
    const policy = { maxFailures: 2, windowMs: 60_000, lockMs: 30_000 };
    await l.recordFailure('ext:acme:1001', now, policy);
    await l.recordFailure('ext:acme:1001', now, policy);
    expect(l.lockedUntilSync!('ext:acme:1001', now)).toBe(now + 30_000);
    expect(l.lockedUntilSync!('ext:acme:1001', now + 30_000)).toBe(0);
    l.unlockSync!('ext:acme:1001');
    expect(await l.lockedUntil('ext:acme:1001', now)).toBe(0);

    expect(l.isTrustedSync!('ext:acme:1001', '127.0.0.1', now)).toBe(false);
    l.trustSync!('ext:acme:1001', '127.0.0.1', now, 10_000);
    expect(l.isTrustedSync!('ext:acme:1001', '127.0.0.1', now + 9_999)).toBe(true);
    expect(await l.isTrusted('ext:acme:1001', '127.0.0.1', now + 10_000)).toBe(false);

    await l.recordSourceFailure('127.0.0.9', 'ext:acme:1', now, { maxExtensions: 1, windowMs: 60_000, banMs: 5_000 });
    expect(l.bannedUntilSync!('127.0.0.9', now)).toBe(now + 5_000);
    expect(l.bannedUntilSync!('127.0.0.8', now)).toBe(0);

    const n = s.nonces;
    expect(n.checkAndSetSync!('nonce-1', 1, now, 60_000)).toBe(true);
    expect(await n.checkAndSet('nonce-1', 1, now, 60_000)).toBe(false);
    expect(n.checkAndSetSync!('nonce-1', 1, now, 60_000)).toBe(false);
    expect(n.checkAndSetSync!('nonce-1', 2, now, 60_000)).toBe(true);
  });

  it('has no unlockSync in the CLI role (unlock goes to the edge through the journal)', async () => {
    const edge = await stores('edge');
    expect(typeof edge.s.lockouts.unlockSync).toBe('function');
    const cli = await stores('cli', edge.dir);
    expect(cli.s.lockouts.unlockSync).toBeUndefined();
  });
});
