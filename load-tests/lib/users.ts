// Test users for SIPp runs: a sipedge import CSV and the matching SIPp injection CSV, with random strong passwords.
// Provisioning them into an edge is edge-process.ts's job; the scenario files document the injection fields.
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Same alphabet as the edge's generated passwords: no look-alikes, and nothing SIPp or CSV treats specially. */
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789';

/** One provisioned phone. */
export interface TestUser {
  extension: string;
  password: string;
  /** A different password, for register-badpass.xml. */
  wrongPassword: string;
}

export interface UserFiles {
  users: TestUser[];
  /** `tenant,extension,voip_password` for `sipedge import`. */
  importCsv: string;
  /** SEQUENTIAL injection file for `sipp -inf` (fields: see load-tests/sipp/register-auth.xml). */
  sippCsv: string;
}

export interface UserFileOptions {
  count: number;
  tenant: string;
  /** Tenant SIP domain, which is also the digest realm. */
  domain: string;
  outDir: string;
  /** First extension number; default 1000. */
  firstExtension?: number;
  /** Password length in characters; default 24 (the edge's auth.passwordLength default). */
  passwordLength?: number;
}

/** A random password from PASSWORD_ALPHABET drawn from the CSPRNG (randomInt has no modulo bias). */
export function randomPassword(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return out;
}

/** Writes `sipedge-import.csv` and `sipp-users.csv` into outDir and returns their paths and the users. */
export function writeUserFiles(opts: UserFileOptions): UserFiles {
  const first = opts.firstExtension ?? 1000;
  const length = opts.passwordLength ?? 24;
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new Error(`gen-users: count ${opts.count} must be a positive integer`);
  if (!/^[a-z0-9][a-z0-9-]*$/i.test(opts.tenant)) throw new Error(`gen-users: tenant "${opts.tenant}" must be letters, digits and dashes`);
  if (!/^[a-z0-9.-]+$/i.test(opts.domain)) throw new Error(`gen-users: domain "${opts.domain}" is not a plain host name`);
  if (length < 20) throw new Error(`gen-users: password length ${length} is below the edge's minimum of 20`);

  const users: TestUser[] = [];
  for (let i = 0; i < opts.count; i++) {
    users.push({ extension: String(first + i), password: randomPassword(length), wrongPassword: randomPassword(length) });
  }
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const importCsv = join(outDir, 'sipedge-import.csv');
  const sippCsv = join(outDir, 'sipp-users.csv');

  const importLines = ['tenant,extension,voip_password'];
  // SIPp 3.6.1 cannot nest [fieldN] inside [authentication ...], so each field carries the whole keyword.
  const sippLines = ['SEQUENTIAL'];
  for (const u of users) {
    importLines.push(`${opts.tenant},${u.extension},${u.password}`);
    sippLines.push(
      [
        u.extension,
        opts.domain,
        `[authentication username=${u.extension} password=${u.password}]`,
        `[authentication username=${u.extension} password=${u.wrongPassword}]`,
      ].join(';'),
    );
  }
  writeFileSync(importCsv, importLines.join('\n') + '\n', { mode: 0o600 });
  writeFileSync(sippCsv, sippLines.join('\n') + '\n', { mode: 0o600 });
  return { users, importCsv, sippCsv };
}
