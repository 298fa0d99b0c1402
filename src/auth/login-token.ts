// Opaque bearer tokens of the gateway (session cookies, reset links, provisioning tokens, CSRF tokens): random
// values handed out once and stored only as their SHA-256. Storage is the store's; expiry the caller's.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh token: 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The id a token is stored under: SHA-256 of its text, base64url. */
export function tokenId(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** Constant-time equality of two strings (false for different lengths without comparing contents). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
