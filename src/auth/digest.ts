// Digest arithmetic (RFC 2617 §3.2.2, RFC 7616 §3.4, RFC 8760 for SIP): HA1, HA2, request-digest and its check.
// Nonces are in nonce.ts, credentials and rotation in credentials.ts; header syntax is sip/digest-header.ts.
import * as crypto from 'node:crypto';

/** The digest algorithms sipedge offers (RFC 8760 adds SHA-256 to SIP). The -sess variants are not offered. */
export type DigestAlgorithm = 'MD5' | 'SHA-256';

/** node:crypto names of each algorithm, and the digest length in bytes. */
const HASH_NAME = { MD5: 'md5', 'SHA-256': 'sha256' } as const satisfies Record<DigestAlgorithm, string>;
const DIGEST_BYTES = { MD5: 16, 'SHA-256': 32 } as const satisfies Record<DigestAlgorithm, number>;

// crypto.hash (Node >= 20.12) is a one-shot without the Hash object: 1.74 M vs 934 k md5/s (docs/libraries.md, Node crypto).
const oneShot: typeof crypto.hash | undefined = typeof crypto.hash === 'function' ? crypto.hash : undefined;

function hex(algorithm: DigestAlgorithm, text: string): string {
  const name = HASH_NAME[algorithm];
  return oneShot !== undefined ? oneShot(name, text, 'hex') : crypto.createHash(name).update(text).digest('hex');
}

function raw(algorithm: DigestAlgorithm, text: string): Buffer {
  const name = HASH_NAME[algorithm];
  return oneShot !== undefined ? oneShot(name, text, 'buffer') : crypto.createHash(name).update(text).digest();
}

/**
 * Maps the `algorithm` parameter of a credential to ours; absent means MD5 (RFC 2617 §3.2.1).
 * Case-insensitive; returns undefined for anything we do not offer (MD5-sess, SHA-512-256, ...).
 */
export function parseDigestAlgorithm(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined || value === '') return 'MD5';
  if (value.length === 3 && value.toUpperCase() === 'MD5') return 'MD5';
  if (value.length === 7 && value.toUpperCase() === 'SHA-256') return 'SHA-256';
  return undefined;
}

/** HA1 = H(username ":" realm ":" password) as lower-case hex (32 chars for MD5, 64 for SHA-256). */
export function ha1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hex(algorithm, `${username}:${realm}:${password}`);
}

/**
 * HA2 = H(method ":" digest-uri) for qop=auth or no qop (auth-int is not offered). Remembered: every REGISTER of a
 * tenant's phones signs the same "REGISTER:sip:<domain>", and one hash costs ~1.5 µs against ~0.2 µs for the lookup.
 * HA2 holds nothing secret. Bounded: the map starts over at HA2_CACHE_ENTRIES.
 */
export function ha2(algorithm: DigestAlgorithm, method: string, uri: string): string {
  const key = algorithm + ' ' + method + ':' + uri;
  let value = ha2Cache.get(key);
  if (value === undefined) {
    value = hex(algorithm, `${method}:${uri}`);
    if (ha2Cache.size >= HA2_CACHE_ENTRIES) ha2Cache.clear();
    ha2Cache.set(key, value);
  }
  return value;
}

const HA2_CACHE_ENTRIES = 4096;
const ha2Cache = new Map<string, string>();

/** Everything the request-digest covers. `nc` is the 8-hex-digit string exactly as the client sent it. */
export interface ResponseInput {
  algorithm: DigestAlgorithm;
  /** Stored HA1, lower-case hex. */
  ha1: string;
  method: string;
  /** The digest-uri parameter (not necessarily the Request-URI). */
  uri: string;
  nonce: string;
  /** Required with qop; ignored without. */
  nc?: string;
  cnonce?: string;
  /** 'auth', or undefined/'' for the RFC 2069 form H(HA1:nonce:HA2). */
  qop?: string;
  /** Precomputed HA2, when several HA1 candidates are tried against one request. */
  ha2?: string;
}

function requestDigestText(input: ResponseInput): string {
  const h2 = input.ha2 ?? ha2(input.algorithm, input.method, input.uri);
  if (input.qop === undefined || input.qop === '') return `${input.ha1}:${input.nonce}:${h2}`;
  return `${input.ha1}:${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:${input.qop}:${h2}`;
}

/** The request-digest ("response" parameter) as lower-case hex. */
export function computeResponse(input: ResponseInput): string {
  return hex(input.algorithm, requestDigestText(input));
}

/**
 * True when `response` (hex, either case) is the request-digest of `input`. Constant-time in the
 * response's content: the hex is decoded and compared with timingSafeEqual on equal-length buffers.
 */
export function verifyResponse(input: ResponseInput, response: string): boolean {
  const bytes = DIGEST_BYTES[input.algorithm];
  if (response.length !== bytes * 2) return false;
  // Buffer.from(hex) stops at the first non-hex pair, so a shorter result means a malformed response.
  const given = Buffer.from(response, 'hex');
  if (given.length !== bytes) return false;
  return crypto.timingSafeEqual(raw(input.algorithm, requestDigestText(input)), given);
}
