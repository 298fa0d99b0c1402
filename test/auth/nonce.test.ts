// Nonces: minted and checked by the same secret, stale after the ttl, tolerant of a little clock drift, tamper-proof.
// All time comes from a FakeClock; nothing sleeps.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/clock.ts';
import { openStores } from '../../src/store/open.ts';
import { NONCE_SECRET_META_KEY, NonceIssuer, resolveNonceSecret, sourceBinding } from '../../src/auth/nonce.ts';

const secret = 'test-secret-0123456789abcdef';
/** The phone's socket the nonces are issued to. */
const phone = sourceBinding({ transport: 'udp', address: '192.0.2.10', port: 5062 });

describe('nonce', () => {
  it('accepts its own fresh nonce', () => {
    const clock = new FakeClock();
    const issuer = new NonceIssuer(secret, 300);
    const nonce = issuer.mintNonce(clock.now(), phone);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issuer.checkNonce(nonce, clock.now(), phone)).toBe('ok');
  });

  it('mints a different nonce every time, even in the same millisecond', () => {
    const issuer = new NonceIssuer(secret, 300);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(issuer.mintNonce(1_700_000_000_000, phone));
    expect(seen.size).toBe(5000);
  });

  it('lets another node with the same secret verify the nonce', () => {
    const clock = new FakeClock();
    const nonce = new NonceIssuer(secret, 300).mintNonce(clock.now(), phone);
    expect(new NonceIssuer(secret, 300).checkNonce(nonce, clock.now(), phone)).toBe('ok');
    expect(new NonceIssuer('another-secret-xxxxxxxxxx', 300).checkNonce(nonce, clock.now(), phone)).toBe('invalid');
  });

  it('turns stale after nonceTtlSeconds, not before', () => {
    const clock = new FakeClock();
    const issuer = new NonceIssuer(secret, 300);
    const nonce = issuer.mintNonce(clock.now(), phone);
    clock.advance(300_000);
    expect(issuer.checkNonce(nonce, clock.now(), phone)).toBe('ok');
    clock.advance(1);
    expect(issuer.checkNonce(nonce, clock.now(), phone)).toBe('stale');
  });

  it('accepts a nonce issued up to 5 s in the future by a node whose clock runs ahead', () => {
    const clock = new FakeClock();
    const ahead = new NonceIssuer(secret, 300);
    const issuer = new NonceIssuer(secret, 300);
    expect(issuer.checkNonce(ahead.mintNonce(clock.now() + 5_000, phone), clock.now(), phone)).toBe('ok');
    expect(issuer.checkNonce(ahead.mintNonce(clock.now() + 5_001, phone), clock.now(), phone)).toBe('invalid');
  });

  it('refuses its own nonce from any source other than the one it was issued to', () => {
    const clock = new FakeClock();
    const issuer = new NonceIssuer(secret, 300);
    const nonce = issuer.mintNonce(clock.now(), phone);
    expect(issuer.checkNonce(nonce, clock.now(), phone)).toBe('ok');
    for (const other of [
      { transport: 'udp', address: '192.0.2.10', port: 5063 }, // the same address, another port (NAT or a forger)
      { transport: 'udp', address: '192.0.2.11', port: 5062 },
      { transport: 'tcp', address: '192.0.2.10', port: 5062 },
    ]) {
      expect(issuer.checkNonce(nonce, clock.now(), sourceBinding(other)), JSON.stringify(other)).toBe('invalid');
    }
  });

  it('refuses a nonce with any character changed', () => {
    const clock = new FakeClock();
    const issuer = new NonceIssuer(secret, 300);
    const nonce = issuer.mintNonce(clock.now(), phone);
    for (let i = 0; i < nonce.length - 1; i++) {
      const swapped = nonce[i] === 'A' ? 'B' : 'A';
      const tampered = nonce.slice(0, i) + swapped + nonce.slice(i + 1);
      expect(issuer.checkNonce(tampered, clock.now(), phone), `position ${i}`).toBe('invalid');
    }
  });

  it('refuses a forged timestamp that would make an old nonce look fresh', () => {
    const clock = new FakeClock();
    const issuer = new NonceIssuer(secret, 300);
    const old = Buffer.from(issuer.mintNonce(clock.now(), phone), 'base64url');
    clock.advance(3_600_000);
    old.writeUInt32BE(Math.floor(clock.now() / 2 ** 32), 0);
    old.writeUInt32BE(clock.now() >>> 0, 4);
    expect(issuer.checkNonce(old.toString('base64url'), clock.now(), phone)).toBe('invalid');
  });

  it('refuses junk of every shape', () => {
    const issuer = new NonceIssuer(secret, 300);
    const now = Date.now();
    for (const junk of ['', 'abc', 'dcd98b7102dd2f0e8b11d0f600bfb0c093', '!'.repeat(43), 'A'.repeat(43), 'A'.repeat(44)]) {
      expect(issuer.checkNonce(junk, now, phone), junk).toBe('invalid');
    }
  });

  it('refuses to run without a secret', () => {
    expect(() => new NonceIssuer('', 300)).toThrow(RangeError);
  });
});

describe('nonce secret', () => {
  it('uses the configured secret, else generates one that survives a restart of the store', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sipedge-nonce-'));
    const open = () => openStores({ store: 'memory', dataDir, redis: { url: '', keyPrefix: '' } }, { role: 'edge', clock: new FakeClock() });
    try {
      let stores = await open();
      expect(await resolveNonceSecret('configured', stores.meta)).toBe('configured');
      const first = await resolveNonceSecret('', stores.meta);
      expect(first.length).toBeGreaterThanOrEqual(43);
      expect(await resolveNonceSecret('', stores.meta)).toBe(first);
      await stores.close();
      stores = await open();
      expect(await stores.meta.getOrSet(NONCE_SECRET_META_KEY, 'other')).toBe(first);
      await stores.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('nonce format', () => {
  it('is base64url(issuedAt ms | 8 random bytes) followed by 21 characters of the keyed SHA-256 MAC of the source and it', () => {
    for (const key of [secret, 'k', 'a-secret-longer-than-one-sha256-block-'.repeat(3)]) {
      const now = 1_767_225_600_123;
      const nonce = new NonceIssuer(key, 300).mintNonce(now, phone);
      expect(nonce).toHaveLength(43);
      const raw = Buffer.from(nonce.slice(0, 22), 'base64url');
      expect(raw).toHaveLength(16);
      expect(raw.readUInt32BE(0) * 2 ** 32 + raw.readUInt32BE(4)).toBe(now);
      const mac = createHash('sha256').update(`sipedge-nonce-v3\n${key}\n${phone}\n${nonce.slice(0, 22)}`).digest('base64url').slice(0, 21);
      expect(nonce.slice(22)).toBe(mac);
    }
  });
});
