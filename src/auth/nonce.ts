// Nonce issue and check: base64url(issuedAt | random | HMAC(secret, issuedAt|random)[:16]), so any node verifies without a lookup.
// Replay (nonce-count) is the NonceCountStore's job via the authenticator; the secret's origin is the app's (resolveNonceSecret).
import * as crypto from 'node:crypto';
import { createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { MetaStore } from '../store/types.ts';

/** Result of checking a nonce: ours and fresh, ours but too old (answer stale=true), or not ours at all. */
export type NonceCheck = 'ok' | 'stale' | 'invalid';

const TIME_BYTES = 8;
const RANDOM_BYTES = 8;
const MAC_BYTES = 16;
const SIGNED_BYTES = TIME_BYTES + RANDOM_BYTES;
const NONCE_BYTES = SIGNED_BYTES + MAC_BYTES;
/** base64url of 32 bytes, unpadded. */
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 4) / 3);
/** How many nonces' worth of random bytes one randomFillSync call provides. */
const POOL_NONCES = 512;
/** SHA-256 block size; HMAC pads the key to it (RFC 2104). */
const BLOCK_BYTES = 64;

/** Default allowance for a nonce "issued in the future" by a node whose clock runs ahead; ms. */
export const DEFAULT_MAX_DRIFT_MS = 5_000;

/** Name under which a generated nonce secret is kept in the MetaStore. */
export const NONCE_SECRET_META_KEY = 'auth.nonceSecret';

/**
 * Mints and checks nonces with one secret. Every node given the same secret accepts every other node's nonces.
 * Stateless: replay protection needs the nonce-count check on top (RFC 7616 §3.3 nc).
 */
export class NonceIssuer {
  /** HMAC key XOR ipad, followed by room for the signed bytes (RFC 2104 inner hash input). */
  private readonly inner = Buffer.alloc(BLOCK_BYTES + SIGNED_BYTES);
  /** HMAC key XOR opad, followed by room for the inner digest. */
  private readonly outer = Buffer.alloc(BLOCK_BYTES + 32);
  private readonly secret: Buffer;
  private readonly ttlMs: number;
  private readonly maxDriftMs: number;
  // randomBytes(16) per call held minting at 189 k/s (DEPENDENCIES.md §1); one fill per POOL_NONCES nonces.
  private readonly pool = Buffer.allocUnsafe(RANDOM_BYTES * POOL_NONCES);
  private poolOffset = this.pool.length;

  /**
   * @param secret HMAC key; must be non-empty (the app supplies a generated one when config leaves it empty).
   * @param ttlSeconds nonce lifetime in seconds (config auth.nonceTtlSeconds, default 300).
   * @param maxDriftMs how far in the future an issuedAt may be; ms, default 5000. Like Kamailio's
   *   nonce_auth_max_drift: nodes' clocks differ by a little, and a phone may bring node A's nonce to node B.
   */
  constructor(secret: string, ttlSeconds: number, maxDriftMs = DEFAULT_MAX_DRIFT_MS) {
    if (secret.length === 0) throw new RangeError('NonceIssuer needs a non-empty secret');
    this.secret = Buffer.from(secret, 'utf8');
    const key = Buffer.alloc(BLOCK_BYTES);
    (this.secret.length > BLOCK_BYTES ? crypto.createHash('sha256').update(this.secret).digest() : this.secret).copy(key);
    for (let i = 0; i < BLOCK_BYTES; i++) {
      this.inner[i] = key[i] ^ 0x36;
      this.outer[i] = key[i] ^ 0x5c;
    }
    this.ttlMs = ttlSeconds * 1000;
    this.maxDriftMs = maxDriftMs;
  }

  /** A fresh nonce (43 base64url characters) stamped with `now` (ms epoch). */
  mintNonce(now: number): string {
    const buf = Buffer.allocUnsafe(NONCE_BYTES);
    writeTime(buf, now);
    if (this.poolOffset + RANDOM_BYTES > this.pool.length) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    this.pool.copy(buf, TIME_BYTES, this.poolOffset, this.poolOffset + RANDOM_BYTES);
    this.poolOffset += RANDOM_BYTES;
    this.mac(buf).copy(buf, SIGNED_BYTES, 0, MAC_BYTES);
    return buf.toString('base64url');
  }

  /**
   * 'ok' when the MAC is ours and the nonce was issued within the ttl (and at most maxDriftMs ahead of `now`);
   * 'stale' when the MAC is ours but the nonce is older than the ttl; 'invalid' for anything else.
   */
  checkNonce(nonce: string, now: number): NonceCheck {
    if (nonce.length !== NONCE_CHARS) return 'invalid';
    const buf = Buffer.from(nonce, 'base64url');
    // Node's decoder skips characters outside the alphabet, so a wrong length means junk. Re-encoding would
    // also catch non-canonical final characters; that is unnecessary because the response hashes the nonce text.
    if (buf.length !== NONCE_BYTES) return 'invalid';
    const expected = this.mac(buf);
    if (!timingSafeEqual(expected.subarray(0, MAC_BYTES), buf.subarray(SIGNED_BYTES))) return 'invalid';
    const issuedAt = readTime(buf);
    if (issuedAt > now + this.maxDriftMs) return 'invalid';
    return now - issuedAt > this.ttlMs ? 'stale' : 'ok';
  }

  /**
   * HMAC-SHA256(secret, buf[0..16)). With the key pads precomputed, HMAC is two one-shot crypto.hash calls; an Hmac
   * object per call cost 60 % of mintNonce's time (load-tests/micro/digest.bench.ts). Equal to createHmac (tested).
   */
  private mac(buf: Buffer): Buffer {
    if (oneShot === undefined) return createHmac('sha256', this.secret).update(buf.subarray(0, SIGNED_BYTES)).digest();
    buf.copy(this.inner, BLOCK_BYTES, 0, SIGNED_BYTES);
    oneShot('sha256', this.inner, 'buffer').copy(this.outer, BLOCK_BYTES);
    return oneShot('sha256', this.outer, 'buffer');
  }
}

// crypto.hash is Node >= 20.12; engines says >= 20.19, the fallback only keeps older runtimes correct.
const oneShot: typeof crypto.hash | undefined = typeof crypto.hash === 'function' ? crypto.hash : undefined;

function writeTime(buf: Buffer, ms: number): void {
  buf.writeUInt32BE(Math.floor(ms / 0x1_0000_0000), 0);
  buf.writeUInt32BE(ms >>> 0, 4);
}

function readTime(buf: Buffer): number {
  return buf.readUInt32BE(0) * 0x1_0000_0000 + buf.readUInt32BE(4);
}

/**
 * The nonce secret to use: `configured` when non-empty, else one generated here (32 random bytes, base64url) and kept
 * in the MetaStore under NONCE_SECRET_META_KEY, so all nodes and restarts agree (getOrSet is atomic across processes).
 */
export async function resolveNonceSecret(configured: string, meta: MetaStore): Promise<string> {
  if (configured !== '') return configured;
  return await meta.getOrSet(NONCE_SECRET_META_KEY, randomBytes(32).toString('base64url'));
}
