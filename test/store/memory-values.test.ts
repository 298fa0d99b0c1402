// The embedded store answers the SIP request path's calls with values, not promises (the REGISTER path makes no promise
// on it), with the same answers and effects the contract suite checks; and in the CLI role unlock travels to the
// running edge (a promise) instead of acting in the CLI process.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { openMemoryStores, type MemoryStores } from '../../src/store/memory/index.ts';
import type { MaybePromise } from '../../src/store/maybe-promise.ts';
import type { Stores } from '../../src/store/types.ts';
import { binding, extension, tenant } from './contract.ts';

const dirs: string[] = [];
const open: Stores[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function stores(role: 'edge' | 'cli', dir?: string): Promise<{ s: MemoryStores; dir: string }> {
  const d = dir ?? fs.mkdtempSync(join(tmpdir(), 'sipedge-values-'));
  if (dir === undefined) dirs.push(d);
  const s = await openMemoryStores(d, { role, clock: new FakeClock(Date.UTC(2026, 0, 1)) });
  open.push(s);
  return { s, dir: d };
}

/** The answer of a store call that must not be a promise. */
function value<T>(v: MaybePromise<T>): T {
  expect(v).not.toBeInstanceOf(Promise);
  return v as T;
}

describe('memory store answers as values', () => {
  it('accounts: tenant by code and by domain (any case), extension; undefined for unknown ones', async () => {
    const { s } = await stores('edge');
    await s.accounts.addTenant(tenant('acme', 'Acme.Example.com'));
    await s.accounts.putExtensions([extension('acme', '1001')]);
    expect(value(s.accounts.getTenant('acme'))?.domain).toBe('Acme.Example.com');
    expect(value(s.accounts.findTenantByDomain('acme.EXAMPLE.com'))?.code).toBe('acme');
    expect(value(s.accounts.findTenantByDomain('other.example.com'))).toBeUndefined();
    expect(value(s.accounts.getExtension('acme', '1001'))?.ext).toBe('1001');
    expect(value(s.accounts.getExtension('acme', '1002'))).toBeUndefined();
  });

  it('bindings: get and replace keep compare-and-set', async () => {
    const { s } = await stores('edge');
    const now = Date.UTC(2026, 0, 1);
    const first = value(s.bindings.get('1001@acme', now));
    expect(first).toEqual({ bindings: [], version: 0 });
    expect(value(s.bindings.replace('1001@acme', [binding('sip:a@127.0.0.1', now, 60_000)], first.version, now))).toBe(true);
    // A second writer with the stale version loses.
    expect(value(s.bindings.replace('1001@acme', [], first.version, now))).toBe(false);
    expect(value(s.bindings.get('1001@acme', now)).bindings.map((b) => b.contact)).toEqual(['sip:a@127.0.0.1']);
    expect(value(s.bindings.get('1001@acme', now + 61_000)).bindings).toEqual([]);
  });

  it('lockouts and nonce counts: locks, unlock, trust, bans and replays', async () => {
    const { s } = await stores('edge');
    const l = s.lockouts;
    const now = 1_000_000;
    const policy = { maxFailures: 2, windowMs: 60_000, lockMs: 30_000 };
    expect(value(l.recordFailure('ext:acme:1001', now, policy))).toEqual({ failures: 1, lockedUntil: 0 });
    expect(value(l.recordFailure('ext:acme:1001', now, policy))).toEqual({ failures: 2, lockedUntil: now + 30_000 });
    expect(value(l.lockedUntil('ext:acme:1001', now))).toBe(now + 30_000);
    expect(value(l.lockedUntil('ext:acme:1001', now + 30_000))).toBe(0);
    value(l.unlock('ext:acme:1001'));
    expect(value(l.lockedUntil('ext:acme:1001', now))).toBe(0);

    expect(value(l.isTrusted('ext:acme:1001', '127.0.0.1', now))).toBe(false);
    value(l.trust('ext:acme:1001', '127.0.0.1', now, 10_000));
    expect(value(l.isTrusted('ext:acme:1001', '127.0.0.1', now + 9_999))).toBe(true);
    expect(value(l.isTrusted('ext:acme:1001', '127.0.0.1', now + 10_000))).toBe(false);

    value(l.recordSourceFailure('127.0.0.9', 'ext:acme:1', now, { maxExtensions: 1, windowMs: 60_000, banMs: 5_000 }));
    expect(value(l.bannedUntil('127.0.0.9', now))).toBe(now + 5_000);
    expect(value(l.bannedUntil('127.0.0.8', now))).toBe(0);

    const n = s.nonces;
    expect(value(n.checkAndSet('nonce-1', 1, now, 60_000))).toBe(true);
    expect(value(n.checkAndSet('nonce-1', 1, now, 60_000))).toBe(false);
    expect(value(n.checkAndSet('nonce-1', 2, now, 60_000))).toBe(true);
  });

  it('sends a CLI process unlock to the running edge through the journal (a promise) instead of acting in the CLI', async () => {
    const edge = await stores('edge');
    const policy = { maxFailures: 1, windowMs: 60_000, lockMs: 900_000 };
    const now = Date.UTC(2026, 0, 1);
    value(edge.s.lockouts.recordFailure('ext:acme:1001', now, policy));
    const cli = await stores('cli', edge.dir);
    const sent = cli.s.lockouts.unlock('ext:acme:1001');
    expect(sent).toBeInstanceOf(Promise);
    await sent;
    edge.s.catchUp();
    expect(value(edge.s.lockouts.lockedUntil('ext:acme:1001', now))).toBe(0);
  });
});
