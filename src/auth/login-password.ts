// Login passwords (not VoIP passwords): argon2id hashing with a configurable cost, equal-time verification for
// unknown users, and generated passwords that satisfy the strict policy. Policy rules are password-policy.ts's.
import argon2 from 'argon2';
import { randomBytes, randomInt } from 'node:crypto';
import { STRICT_SPECIALS } from './password-policy.ts';

/** argon2id cost (config gateway.argon2); memoryCost in KiB. */
export interface Argon2Cost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** Hashes and verifies login passwords. One instance per process (it keeps the dummy hash). */
export class LoginHasher {
  private dummy: Promise<string> | undefined;

  constructor(private readonly cost: Argon2Cost) {}

  /** Computes the dummy hash now (at start), so the first unknown-user login is not slower than the others. */
  warm(): Promise<void> {
    this.dummy ??= this.hash(randomBytes(24).toString('base64url'));
    return this.dummy.then(() => undefined);
  }

  /** Whether `hash` was made with another cost than the configured one (re-hash after a successful login). */
  needsRehash(hash: string): boolean {
    try {
      return argon2.needsRehash(hash, this.cost);
    } catch {
      return false;
    }
  }

  /** argon2id PHC string of `password` with a random salt. */
  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.cost });
  }

  /**
   * Whether `password` matches `hash`. With no hash (unknown user, or no login password set) it verifies against a
   * dummy hash of the same cost and answers false, so both failures take the same time.
   */
  async verify(hash: string | undefined, password: string): Promise<boolean> {
    this.dummy ??= this.hash(randomBytes(24).toString('base64url'));
    const target = hash ?? (await this.dummy);
    let ok: boolean;
    try {
      ok = await argon2.verify(target, password);
    } catch {
      ok = false; // A damaged stored hash fails like a wrong password.
    }
    return ok && hash !== undefined;
  }
}

const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const LOWER = 'abcdefghijkmnpqrstuvwxyz';
const DIGITS = '23456789';
const SAFE_SPECIALS = '+-*!@#%=?_.';

/** A random login password of `length` (>= 12) characters with upper, lower, digit and special: passes both presets. */
export function generateLoginPassword(length = 16): string {
  if (length < 12) throw new RangeError('generated login passwords have at least 12 characters');
  const all = UPPER + LOWER + DIGITS + SAFE_SPECIALS;
  const out = [UPPER, LOWER, DIGITS, SAFE_SPECIALS].map((set) => set[randomInt(set.length)]!);
  while (out.length < length) out.push(all[randomInt(all.length)]!);
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  const pw = out.join('');
  if (![...pw].some((c) => STRICT_SPECIALS.includes(c))) throw new Error('generated password lacks a special character');
  return pw;
}
