// Tags, branches and Call-IDs from a pooled crypto.randomBytes buffer (one syscall per 4 KiB, never Math.random).
// Which value goes where (To tag on a response, branch per client transaction) is decided by transaction/ and proxy/.

import { randomBytes } from 'node:crypto';

const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

/** n fresh random bytes, base64url-encoded: token characters only (RFC 3261 §25.1). */
function randomToken(n: number): string {
  if (offset + n > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const s = pool.toString('base64url', offset, offset + n);
  offset += n;
  return s;
}

/** A From/To tag: 72 random bits (RFC 3261 §19.3 asks for at least 32). */
export function newTag(): string {
  return randomToken(9);
}

/** A Via branch: the RFC 3261 magic cookie 'z9hG4bK' plus 96 random bits (§8.1.1.7). */
export function newBranch(): string {
  return 'z9hG4bK' + randomToken(12);
}

/** A Call-ID word: 120 random bits. */
export function newCallId(): string {
  return randomToken(15);
}
