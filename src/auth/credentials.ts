// VoIP credentials: strong random passwords, their HA1 sets per algorithm and identity, and rotation with grace.
// Storing them is the AccountStore's job; showing the new password once is the caller's (CLI, gateway).
import { randomFillSync } from 'node:crypto';
import type { CredentialSet, Extension, Tenant } from '../store/types.ts';
import { ha1 } from './digest.ts';

/** Letters and digits without the look-alikes 0 O o 1 l I: 56 symbols, about 5.8 bits each. */
export const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789';

/** Shortest VoIP password generated (characters); 20 symbols of 56 is about 116 bits. */
export const MIN_PASSWORD_LENGTH = 20;

// Rejection sampling: bytes >= 224 (= 4 * 56) are discarded so that `byte % 56` is exactly uniform.
const ACCEPT_BELOW = 256 - (256 % PASSWORD_ALPHABET.length);

/**
 * A random VoIP password of `length` characters (default config auth.passwordLength = 24) from PASSWORD_ALPHABET,
 * drawn from the CSPRNG without modulo bias. Throws RangeError below MIN_PASSWORD_LENGTH (a setup error).
 */
export function generateVoipPassword(length: number): string {
  if (!Number.isInteger(length) || length < MIN_PASSWORD_LENGTH) {
    throw new RangeError(`VoIP passwords must be at least ${MIN_PASSWORD_LENGTH} characters (auth.passwordLength), got ${length}`);
  }
  const out: string[] = [];
  // 1/8 of bytes are rejected; draw a little more than needed and refill if a batch falls short.
  const bytes = Buffer.allocUnsafe(length + 16);
  while (out.length < length) {
    randomFillSync(bytes);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i];
      if (b < ACCEPT_BELOW) out.push(PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]);
    }
  }
  return out.join('');
}

/** The username of the shared-domain identity: `ext-tenantcode` (e.g. "1001-acme"). */
function sharedUsername(ext: string, tenantCode: string): string {
  return `${ext}-${tenantCode}`;
}

/**
 * HA1s of `password` for both identities of an extension: username = ext in realm = tenant.domain, and (when
 * sharedDomain is non-empty) username = ext-tenantcode in realm = sharedDomain; MD5 and SHA-256 for each.
 */
export function makeCredentialSet(ext: string, tenant: Tenant, password: string, sharedDomain: string): CredentialSet {
  const set: CredentialSet = {
    md5: ha1('MD5', ext, tenant.domain, password),
    sha256: ha1('SHA-256', ext, tenant.domain, password),
  };
  if (sharedDomain !== '') {
    const user = sharedUsername(ext, tenant.code);
    set.sharedMd5 = ha1('MD5', user, sharedDomain, password);
    set.sharedSha256 = ha1('SHA-256', user, sharedDomain, password);
  }
  return set;
}

/**
 * The extension with `newPassword` as its credential and the current one moved to prevCred.
 * graceMs > 0: the old password keeps working until now + graceMs (graceUntil, ms epoch).
 * graceMs = 0: no grace (graceUntil 0), but prevCred is still kept so that a later attempt with the old password is
 * recognised as a stale credential (logged, not counted toward lockout) rather than a guess.
 * A password rotated again inside the grace window replaces prevCred: only one previous password is ever accepted.
 */
export function rotateCredentials(
  current: Extension,
  newPassword: string,
  graceMs: number,
  now: number,
  tenant: Tenant,
  sharedDomain: string,
): Extension {
  return {
    ...current,
    cred: makeCredentialSet(current.ext, tenant, newPassword, sharedDomain),
    prevCred: current.cred,
    graceUntil: graceMs > 0 ? now + graceMs : 0,
    credUpdatedAt: now,
    updatedAt: now,
  };
}
