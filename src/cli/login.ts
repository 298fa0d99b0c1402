// CLI commands for gateway logins: set/generate a login password, set a role (operator, tenant-admin, user),
// reset 2FA. The logic is auth/login-accounts.ts's (shared with the gateway's admin API).
import { systemClock } from '../clock.ts';
import { SipedgeError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { LoginAccounts } from '../auth/login-accounts.ts';
import { LoginHasher } from '../auth/login-password.ts';
import { parseExtensionRef } from '../auth/provisioning.ts';
import { openStores } from '../store/open.ts';
import type { LoginRole } from '../store/types.ts';

async function withAccounts<T>(config: Readonly<Config>, fn: (a: LoginAccounts) => Promise<T>): Promise<T> {
  const stores = await openStores(config, { role: 'cli', clock: systemClock });
  try {
    return await fn(new LoginAccounts(stores, new LoginHasher(config.gateway.argon2), config.gateway, systemClock));
  } finally {
    await stores.close();
  }
}

/** `ext login-password EXT@TENANT [--password P]`: sets the login password (generated and printed once if not given). */
export async function runLoginPassword(config: Readonly<Config>, refText: string, password: string | undefined, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const ref = parseExtensionRef(refText);
  return withAccounts(config, async (a) => {
    const r = await a.setPassword(ref, password);
    if (!r.ok) {
      throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `the password ${r.violations.map((v) => v.message).join('; ')} (policy ${a.presetFor(ref.tenant)})`);
    }
    if (r.generated !== undefined) {
      err(`login password of ${ref.ext}-${ref.tenant} set; the generated password (shown once):`);
      out(r.generated);
    } else out(`login password of ${ref.ext}-${ref.tenant} set; its sessions have ended`);
    return 0;
  });
}

/** `ext role EXT@TENANT ROLE`. */
export async function runRole(config: Readonly<Config>, refText: string, role: string, out: (s: string) => void): Promise<number> {
  const ref = parseExtensionRef(refText);
  return withAccounts(config, async (a) => {
    await a.setRole(ref, role as LoginRole);
    out(`${ref.ext}@${ref.tenant} now has the role ${role}`);
    return 0;
  });
}

/** `ext reset-2fa EXT@TENANT`. */
export async function runResetTotp(config: Readonly<Config>, refText: string, out: (s: string) => void): Promise<number> {
  const ref = parseExtensionRef(refText);
  return withAccounts(config, async (a) => {
    await a.resetTotp(ref);
    out(`2FA of ${ref.ext}@${ref.tenant} reset; the next login needs only the password`);
    return 0;
  });
}
