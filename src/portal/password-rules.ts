// The login password presets as the pages show them: each rule with the sentence the API uses, and a check so the
// form names broken rules while typing. Mirrors src/auth/password-policy.ts (test/portal/password-rules.test.ts keeps
// the two equal); the server's answer stays the authority.

export type Preset = 'basic' | 'strict';

export const STRICT_SPECIALS = '+-*!@/(){}[]|;#%=?^$&_.,';

export interface Rule {
  rule: string;
  message: string;
  broken(pw: string): boolean;
}

const minLength = (n: number): Rule => ({ rule: 'min-length', message: `must be at least ${n} characters long`, broken: (pw) => [...pw].length < n });

export const RULES: Record<Preset, Rule[]> = {
  basic: [minLength(8)],
  strict: [
    minLength(10),
    { rule: 'uppercase', message: 'must contain at least 1 uppercase letter', broken: (pw) => !/[A-Z]/.test(pw) },
    { rule: 'lowercase', message: 'must contain at least 1 lowercase letter', broken: (pw) => !/[a-z]/.test(pw) },
    { rule: 'digit', message: 'must contain at least 1 number', broken: (pw) => !/[0-9]/.test(pw) },
    { rule: 'special', message: `must contain at least 1 special character from ${STRICT_SPECIALS}`, broken: (pw) => ![...pw].some((c) => STRICT_SPECIALS.includes(c)) },
    { rule: 'no-spaces', message: 'must not contain spaces', broken: (pw) => /\s/.test(pw) },
    { rule: 'ascii-only', message: 'must not contain umlauts or other non-ASCII characters', broken: (pw) => /[^\x20-\x7e]/.test(pw) },
  ],
};

/** The rules `pw` breaks under `preset`, by id. */
export function brokenRules(pw: string, preset: Preset): string[] {
  return RULES[preset].filter((r) => r.broken(pw)).map((r) => r.rule);
}
