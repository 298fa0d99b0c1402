// Login password policy presets: "basic" (the customer-portal seed) and "strict" (the sipcall seed).
// Which preset a tenant uses is config (gateway.passwordPolicy*); hashing is login-password.ts's.

export type PolicyPreset = 'basic' | 'strict';

/** One broken rule: a stable id (API) and a sentence for people. */
export interface PolicyViolation {
  rule: 'min-length' | 'max-length' | 'uppercase' | 'lowercase' | 'digit' | 'special' | 'no-spaces' | 'ascii-only';
  message: string;
}

/** The special characters the strict preset asks for one of (sipcall's list). */
export const STRICT_SPECIALS = '+-*!@/(){}[]|;#%=?^$&_.,';
/** Longest login password accepted (argon2 hashes whatever it gets; this bounds the work per request). */
const MAX_LOGIN_PASSWORD = 256;

/** The rules `password` breaks under `preset`; empty when it is acceptable. */
export function checkPassword(password: string, preset: PolicyPreset): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  const chars = [...password];
  const min = preset === 'strict' ? 10 : 8;
  if (chars.length < min) out.push({ rule: 'min-length', message: `must be at least ${min} characters long` });
  if (chars.length > MAX_LOGIN_PASSWORD) out.push({ rule: 'max-length', message: `must be at most ${MAX_LOGIN_PASSWORD} characters long` });
  if (preset === 'basic') return out;
  if (!/[A-Z]/.test(password)) out.push({ rule: 'uppercase', message: 'must contain at least 1 uppercase letter' });
  if (!/[a-z]/.test(password)) out.push({ rule: 'lowercase', message: 'must contain at least 1 lowercase letter' });
  if (!/[0-9]/.test(password)) out.push({ rule: 'digit', message: 'must contain at least 1 number' });
  if (!chars.some((c) => STRICT_SPECIALS.includes(c))) {
    out.push({ rule: 'special', message: `must contain at least 1 special character from ${STRICT_SPECIALS}` });
  }
  if (/\s/.test(password)) out.push({ rule: 'no-spaces', message: 'must not contain spaces' });
  if (/[^\x20-\x7e]/.test(password)) out.push({ rule: 'ascii-only', message: 'must not contain umlauts or other non-ASCII characters' });
  return out;
}

/** The preset of `tenant`: its own entry in `perTenant`, else `fallback`. */
export function policyFor(tenant: string, fallback: PolicyPreset, perTenant: Readonly<Record<string, PolicyPreset>>): PolicyPreset {
  return Object.hasOwn(perTenant, tenant) ? perTenant[tenant]! : fallback;
}
