// VoIP passwords and credential sets: strong unambiguous passwords, HA1s per algorithm and identity, rotation with grace.
// Whether a rotated password actually authenticates (and when it turns stale) is in authenticator.test.ts.
import { describe, expect, it } from 'vitest';
import {
  generateVoipPassword,
  makeCredentialSet,
  MIN_PASSWORD_LENGTH,
  PASSWORD_ALPHABET,
  rotateCredentials,
} from '../../src/auth/credentials.ts';
import { ha1 } from '../../src/auth/digest.ts';
import type { Extension, Tenant } from '../../src/store/types.ts';

const acme: Tenant = { code: 'acme', domain: 'acme.example.com', createdAt: 0 };

describe('VoIP password generator', () => {
  it('makes passwords of the requested length from the unambiguous alphabet only', () => {
    for (const length of [20, 24, 64, 128]) {
      const pw = generateVoipPassword(length);
      expect(pw).toHaveLength(length);
      for (const c of pw) expect(PASSWORD_ALPHABET).toContain(c);
    }
    expect(PASSWORD_ALPHABET).not.toMatch(/[0O1lIo]/);
  });

  it('never repeats a password', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(generateVoipPassword(20));
    expect(seen.size).toBe(10_000);
  });

  it('uses every symbol about equally often (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const draws = 56 * 10_000;
    for (let i = 0; i < draws / 112; i++) for (const c of generateVoipPassword(112)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(PASSWORD_ALPHABET.length);
    // Expected 10 000 each, sd about 100. A plain `byte % 56` would give the first 32 symbols 5/256 of the draws
    // (~10 940) and the other 24 symbols 4/256 (~8 750): both outside the 6-sd band.
    for (const n of counts.values()) expect(Math.abs(n - 10_000)).toBeLessThan(600);
  });

  it(`refuses lengths below ${MIN_PASSWORD_LENGTH}`, () => {
    expect(() => generateVoipPassword(19)).toThrow(RangeError);
    expect(() => generateVoipPassword(20.5)).toThrow(RangeError);
  });
});

describe('credential set', () => {
  it('holds MD5 and SHA-256 HA1s for ext@tenant-domain', () => {
    const set = makeCredentialSet('1001', acme, 'pw', '');
    expect(set.md5).toBe(ha1('MD5', '1001', 'acme.example.com', 'pw'));
    expect(set.sha256).toBe(ha1('SHA-256', '1001', 'acme.example.com', 'pw'));
    expect(set.md5).toHaveLength(32);
    expect(set.sha256).toHaveLength(64);
    expect(set.sharedMd5).toBeUndefined();
    expect(set.sharedSha256).toBeUndefined();
  });

  it('adds ext-tenant@shared-domain HA1s when a shared domain is configured', () => {
    const set = makeCredentialSet('1001', acme, 'pw', 'sip.example.net');
    expect(set.sharedMd5).toBe(ha1('MD5', '1001-acme', 'sip.example.net', 'pw'));
    expect(set.sharedSha256).toBe(ha1('SHA-256', '1001-acme', 'sip.example.net', 'pw'));
  });

  it('never contains the password itself', () => {
    const pw = generateVoipPassword(24);
    expect(JSON.stringify(makeCredentialSet('1001', acme, pw, 'sip.example.net'))).not.toContain(pw);
  });
});

describe('rotation', () => {
  const t0 = Date.UTC(2026, 0, 1);
  const ext: Extension = {
    tenant: 'acme',
    ext: '1001',
    cred: makeCredentialSet('1001', acme, 'old-password-xxxxxxxx', ''),
    credUpdatedAt: t0,
    createdAt: t0,
    updatedAt: t0,
  };

  it('moves the current credential to prevCred with a grace deadline', () => {
    const rotated = rotateCredentials(ext, 'new-password-yyyyyyyy', 600_000, t0 + 1000, acme, '');
    expect(rotated.cred).toEqual(makeCredentialSet('1001', acme, 'new-password-yyyyyyyy', ''));
    expect(rotated.prevCred).toEqual(ext.cred);
    expect(rotated.graceUntil).toBe(t0 + 1000 + 600_000);
    expect(rotated.credUpdatedAt).toBe(t0 + 1000);
    expect(rotated.updatedAt).toBe(t0 + 1000);
    expect(rotated.createdAt).toBe(t0);
  });

  it('keeps prevCred without grace when graceMs is 0, so the old password is recognised as stale', () => {
    const rotated = rotateCredentials(ext, 'new-password-yyyyyyyy', 0, t0 + 1000, acme, '');
    expect(rotated.prevCred).toEqual(ext.cred);
    expect(rotated.graceUntil).toBe(0);
  });

  it('keeps only the latest previous password after two rotations', () => {
    const once = rotateCredentials(ext, 'second-password-zzzzzz', 600_000, t0 + 1000, acme, '');
    const twice = rotateCredentials(once, 'third-password-wwwwwww', 600_000, t0 + 2000, acme, '');
    expect(twice.prevCred).toEqual(once.cred);
  });

  it('does not change the extension it was given', () => {
    const before = JSON.stringify(ext);
    rotateCredentials(ext, 'new-password-yyyyyyyy', 600_000, t0, acme, '');
    expect(JSON.stringify(ext)).toBe(before);
  });
});
