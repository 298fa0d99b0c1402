// The auth-side pieces of the gateway on their own: password presets (the seeds' rules), generated login passwords,
// AES-256-GCM sealing bound to its owner, token ids, and the key kept in the MetaStore when config has none.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { decodeKey } from '../../src/config/schema.ts';
import { generateLoginPassword } from '../../src/auth/login-password.ts';
import { newToken, safeEqual, tokenId } from '../../src/auth/login-token.ts';
import { checkPassword } from '../../src/auth/password-policy.ts';
import { resolveGatewayKey, SecretBox } from '../../src/auth/secret-box.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';

const rules = (pw: string, preset: 'basic' | 'strict'): string[] => checkPassword(pw, preset).map((v) => v.rule);

describe('login password policy', () => {
  it('basic: at least 8 characters, anything else goes (the customer-portal seed)', () => {
    expect(rules('1234567', 'basic')).toEqual(['min-length']);
    expect(rules('12345678', 'basic')).toEqual([]);
    expect(rules('ä ö ü é à', 'basic')).toEqual([]);
  });

  it('strict: 10+, upper, lower, digit, one special from the sipcall list, no spaces or umlauts', () => {
    expect(rules('Abcdefgh1+', 'strict')).toEqual([]);
    expect(rules('Abcdefgh1~', 'strict')).toEqual(['special']);
    expect(rules('abcdefgh1+', 'strict')).toEqual(['uppercase']);
    expect(rules('ABCDEFGH1+', 'strict')).toEqual(['lowercase']);
    expect(rules('Abcdefghi+', 'strict')).toEqual(['digit']);
    expect(rules('Abcdef gh1+', 'strict')).toEqual(['no-spaces']);
    expect(rules('ÄBcdefgh1+x', 'strict')).toEqual(['ascii-only']);
    expect(rules('Äbcdefgh1+x', 'strict')).toEqual(['uppercase', 'ascii-only']); // an umlaut is not the uppercase letter asked for
    expect(rules('Ab1+', 'strict')).toEqual(['min-length']);
    for (const c of '+-*!@/(){}[]|;#%=?^$&_.,') expect(rules(`Abcdefgh1${c}`, 'strict'), c).toEqual([]);
    expect(rules('A'.repeat(300) + 'a1+', 'strict')).toEqual(['max-length']);
  });

  it('generates login passwords that pass the strict preset', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const pw = generateLoginPassword();
      expect(rules(pw, 'strict'), pw).toEqual([]);
      seen.add(pw);
    }
    expect(seen.size).toBe(300);
  });
});

describe('secret box', () => {
  const key = Buffer.alloc(32, 7);

  it('opens what it sealed only with the same key and owner', () => {
    const box = new SecretBox(key);
    const sealed = box.seal('JBSWY3DPEHPK3PXPJBSWY3DP', 'totp:acme/1001');
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('JBSWY3DP');
    expect(box.open(sealed, 'totp:acme/1001')).toBe('JBSWY3DPEHPK3PXPJBSWY3DP');
    expect(box.open(sealed, 'totp:acme/1002')).toBeUndefined();
    expect(new SecretBox(Buffer.alloc(32, 8)).open(sealed, 'totp:acme/1001')).toBeUndefined();
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    raw[raw.length - 1]! ^= 1;
    expect(box.open(`v1.${raw.toString('base64url')}`, 'totp:acme/1001')).toBeUndefined();
    expect(box.open('v1.', 'x')).toBeUndefined();
    expect(box.open('garbage', 'x')).toBeUndefined();
    expect(box.seal('same', 'a')).not.toBe(box.seal('same', 'a'));
  });

  it('takes a configured key as hex or base64, and otherwise generates one once and keeps it in the store', async () => {
    expect(decodeKey('00'.repeat(32))?.length).toBe(32);
    expect(decodeKey(Buffer.alloc(32, 1).toString('base64'))?.length).toBe(32);
    expect(decodeKey('too-short')).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-key-'));
    try {
      const stores = await openMemoryStores(join(dir, 'store'), { role: 'edge', clock: new FakeClock() });
      const a = await resolveGatewayKey(undefined, stores.meta);
      const b = await resolveGatewayKey(undefined, stores.meta);
      expect(a.length).toBe(32);
      expect(a.equals(b)).toBe(true);
      expect((await resolveGatewayKey(key, stores.meta)).equals(key)).toBe(true);
      await stores.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tokens', () => {
  it('are 256-bit random, stored by SHA-256, compared in constant time', () => {
    const t = newToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenId(t)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenId(t)).not.toBe(t);
    expect(tokenId(t)).toBe(tokenId(t));
    expect(safeEqual(t, t)).toBe(true);
    expect(safeEqual(t, newToken())).toBe(false);
    expect(safeEqual(t, t.slice(1))).toBe(false);
  });
});
