// Nonce issue and check: base64url(issuedAt | sequence | random) + a keyed SHA-256 MAC of that text and of the source it
// was issued to (transport, address, port), so any node verifies without a lookup and no other source can use it.
// Replay (nonce-count) is the NonceCountStore's job via the authenticator; the secret's origin is the app's (resolveNonceSecret).
import * as crypto from 'node:crypto';
import { randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { MetaStore } from '../store/types.ts';

/** Result of checking a nonce: ours and fresh, ours but too old (answer stale=true), or not ours at all. */
export type NonceCheck = 'ok' | 'stale' | 'invalid';

const TIME_BYTES = 8;
/** Bytes 8-11: the process's nonce sequence number (nonceSequence), big-endian. */
const SEQUENCE_BYTES = 4;
const RANDOM_BYTES = 4;
const SIGNED_BYTES = TIME_BYTES + SEQUENCE_BYTES + RANDOM_BYTES;
/** base64url of the 16 signed bytes, unpadded. */
const PAYLOAD_CHARS = 22;
/** MAC characters kept (126 bits). */
const MAC_CHARS = 21;
const NONCE_CHARS = PAYLOAD_CHARS + MAC_CHARS;
/** How many nonces' worth of random bytes one randomFillSync call provides. */
const POOL_NONCES = 512;

/** Default allowance for a nonce "issued in the future" by a node whose clock runs ahead; ms. */
const DEFAULT_MAX_DRIFT_MS = 5_000;

/**
 * The last sequence number minted in this process, shared by every NonceIssuer in it so that no two of its nonces
 * share one (until 2^32 later); it starts at a random value, so a restarted process does not repeat the old one's.
 */
let lastSequence = randomBytes(4).readInt32BE(0);

/** Name under which a generated nonce secret is kept in the MetaStore. */
export const NONCE_SECRET_META_KEY = 'auth.nonceSecret';

/**
 * Mints and checks nonces with one secret. Every node given the same secret accepts every other node's nonces.
 * Stateless: replay protection needs the nonce-count check on top (RFC 7616 §3.3 nc).
 */
export class NonceIssuer {
  /** Domain-separated key prefix of the MAC: SHA-256(prefix || payload text). */
  private readonly macPrefix: string;
  private readonly ttlMs: number;
  private readonly maxDriftMs: number;
  // randomBytes(16) per call held minting at 189 k/s (docs/libraries.md, Node crypto); one fill per POOL_NONCES nonces.
  private readonly pool = Buffer.allocUnsafe(RANDOM_BYTES * POOL_NONCES);
  private poolOffset = this.pool.length;
  private readonly payload = Buffer.allocUnsafe(SIGNED_BYTES);

  /**
   * @param secret MAC key; must be non-empty (the app supplies a generated one when config leaves it empty).
   * @param ttlSeconds nonce lifetime in seconds (config auth.nonceTtlSeconds, default 300).
   * @param maxDriftMs how far in the future an issuedAt may be; ms, default 5000. Like Kamailio's
   *   nonce_auth_max_drift: nodes' clocks differ by a little, and a phone may bring node A's nonce to node B.
   */
  constructor(secret: string, ttlSeconds: number, maxDriftMs = DEFAULT_MAX_DRIFT_MS) {
    if (secret.length === 0) throw new RangeError('NonceIssuer needs a non-empty secret');
    this.macPrefix = `sipedge-nonce-v3\n${secret}\n`;
    this.ttlMs = ttlSeconds * 1000;
    this.maxDriftMs = maxDriftMs;
  }

  /**
   * A fresh nonce (43 base64url characters: 22 of payload, 21 of MAC) stamped with `now` (ms epoch) and this process's
   * next sequence number (nonceSequence reads it back), bound to `source` (sourceBinding): checkNonce with any other
   * source says 'invalid'.
   */
  mintNonce(now: number, source: string): string {
    const buf = this.payload;
    writeTime(buf, now);
    if (this.poolOffset + RANDOM_BYTES > this.pool.length) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    lastSequence = (lastSequence + 1) | 0;
    buf.writeInt32BE(lastSequence, TIME_BYTES);
    this.pool.copy(buf, TIME_BYTES + SEQUENCE_BYTES, this.poolOffset, this.poolOffset + RANDOM_BYTES);
    this.poolOffset += RANDOM_BYTES;
    const text = buf.toString('base64url');
    return text + this.mac(source, text);
  }

  /**
   * 'ok' when the MAC is ours and the nonce was issued within the ttl (and at most maxDriftMs ahead of `now`);
   * 'stale' when the MAC is ours but the nonce is older than the ttl; 'invalid' for anything else, including a nonce
   * of ours that was issued to another source.
   */
  checkNonce(nonce: string, now: number, source: string): NonceCheck {
    if (nonce.length !== NONCE_CHARS) return 'invalid';
    const text = nonce.slice(0, PAYLOAD_CHARS);
    const expected = Buffer.from(this.mac(source, text), 'latin1');
    if (!timingSafeEqual(expected, Buffer.from(nonce.slice(PAYLOAD_CHARS), 'latin1'))) return 'invalid';
    const buf = Buffer.from(text, 'base64url');
    if (buf.length !== SIGNED_BYTES) return 'invalid';
    const issuedAt = readTime(buf);
    if (issuedAt > now + this.maxDriftMs) return 'invalid';
    return now - issuedAt > this.ttlMs ? 'stale' : 'ok';
  }

  /**
   * First 21 base64url characters (126 bits) of SHA-256(prefix || source || LF || payload text). A secret-prefix MAC is
   * sound here because the payload comes last and has one fixed length (length extension cannot yield another valid
   * payload), and a source never holds a LF; hashing one string costs ~0.7 µs against ~5 µs for HMAC over Buffers
   * (load-tests/micro/digest.bench.ts). The MAC covers the payload's text, so a non-canonical base64url variant of the
   * same bytes is refused too.
   */
  private mac(source: string, text: string): string {
    const input = this.macPrefix + source + '\n' + text;
    const digest = crypto.hash('sha256', input, 'base64url');
    return digest.slice(0, MAC_CHARS);
  }
}

/** Where a request came from, as the transport saw it (sip/types.ts MessageSource has these fields). */
export interface AuthSource {
  address: string;
  port: number;
  /** 'udp' | 'tcp' | 'tls' | 'ws' | 'wss' */
  transport: string;
}

/**
 * The text a nonce and a trust entry are bound to: transport, address and port. For UDP that is the phone's socket (or
 * its NAT mapping); for TCP, TLS and WebSocket the connection's remote port names the flow, so a reconnect is a new
 * source. A NAT that moves a phone to another port makes its nonce 'invalid' there: answered like a stale one (a fresh
 * challenge with stale=true, RFC 7616 §3.3), which the phone answers without asking its user.
 */
export function sourceBinding(source: AuthSource): string {
  return source.transport + ' ' + source.address + ' ' + source.port;
}

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

/** base64url alphabet value of each character code, -1 for anything else. */
const B64URL = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64URL['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i;

/**
 * The sequence number in a nonce of ours (a signed 32-bit integer), without decoding the rest or allocating: payload
 * bits 64-95 live in base64url characters 10-15 (bits 60-95). Only meaningful once checkNonce said 'ok' or 'stale';
 * NaN for characters outside base64url. A memory nonce-count store keys its table by it (store/memory/nonce-counts.ts).
 */
export function nonceSequence(nonce: string): number {
  let bits = 0;
  for (let i = 10; i < 16; i++) {
    const c = nonce.charCodeAt(i);
    const v = c < 128 ? B64URL[c]! : -1;
    if (v < 0) return Number.NaN;
    bits = bits * 64 + v; // 36 bits: exact in a double
  }
  return (bits % 0x1_0000_0000) | 0;
}
