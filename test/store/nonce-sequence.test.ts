// The embedded store's nonce-count table by sequence number (what the edge uses for every nonce it minted): replays
// refused, growing nc accepted, and a nonce whose slot a much later one took is refused (the client re-asks, stale).
// With real nonces from NonceIssuer, so the sequence the authenticator reads is the one minted.
import { describe, expect, it } from 'vitest';
import { NonceIssuer, nonceSequence } from '../../src/auth/nonce.ts';
import { MemoryNonceCountStore } from '../../src/store/memory/nonce-counts.ts';

const SLOTS = 1 << 22;
const now = 1_700_000_000_000;
const TTL = 300_000;

describe('memory nonce counts by sequence number', () => {
  it('accepts a growing nc per nonce and refuses a repeated or lower one, each nonce on its own', () => {
    const issuer = new NonceIssuer('secret', 300);
    const store = new MemoryNonceCountStore();
    const a = issuer.mintNonce(now, 'udp 192.0.2.10 5060');
    const b = issuer.mintNonce(now, 'udp 192.0.2.10 5060');
    expect(nonceSequence(b) - nonceSequence(a)).toBe(1);
    const check = (n: string, nc: number) => store.checkAndSet(n, nc, now, TTL, nonceSequence(n));
    expect(check(a, 1)).toBe(true);
    expect(check(a, 1)).toBe(false);
    expect(check(b, 1)).toBe(true);
    expect(check(a, 2)).toBe(true);
    expect(check(a, 7)).toBe(true);
    expect(check(a, 3)).toBe(false);
    expect(check(b, 1)).toBe(false);
    expect(check(b, 2)).toBe(true);
  });

  it('refuses a nonce whose slot a nonce minted SLOTS later has taken, and keeps the later one', () => {
    const store = new MemoryNonceCountStore();
    const early = 12345;
    const late = early + SLOTS;
    expect(store.checkAndSet('early', 1, now, TTL, early)).toBe(true);
    expect(store.checkAndSet('late', 1, now, TTL, late)).toBe(true);
    expect(store.checkAndSet('early', 2, now, TTL, early)).toBe(false);
    expect(store.checkAndSet('late', 2, now, TTL, late)).toBe(true);
    expect(store.checkAndSet('late', 2, now, TTL, late)).toBe(false);
  });

  it('orders sequences across the 32-bit wrap: the one after 2^31-1 is later', () => {
    const store = new MemoryNonceCountStore();
    const before = 0x7fffffff - SLOTS + 1;
    const after = -0x80000000; // SLOTS sequences after `before`, past the wrap: same slot, later
    expect(before & (SLOTS - 1)).toBe(after & (SLOTS - 1));
    expect(store.checkAndSet('b', 1, now, TTL, before)).toBe(true);
    expect(store.checkAndSet('a', 1, now, TTL, after)).toBe(true);
    expect(store.checkAndSet('b', 2, now, TTL, before)).toBe(false);
  });

  it('reads the sequence of a nonce as minted, and NaN from text that is not base64url', () => {
    const issuer = new NonceIssuer('secret', 300);
    const n = issuer.mintNonce(now, 'udp 192.0.2.10 5060');
    expect(nonceSequence(n)).toBe(Buffer.from(n.slice(0, 22), 'base64url').readInt32BE(8));
    expect(nonceSequence('0123456789!!!!!!!!!!!!')).toBeNaN();
    // Without a usable sequence the store falls back to the nonce's text.
    const store = new MemoryNonceCountStore();
    expect(store.checkAndSet('text', 1, now, TTL, Number.NaN)).toBe(true);
    expect(store.checkAndSet('text', 1, now, TTL, Number.NaN)).toBe(false);
  });
});
