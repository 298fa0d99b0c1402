// Operator and self-service changes to an extension's gateway login: password (hashed, policy-checked), role,
// 2FA reset. Shared by the CLI and the gateway; login and session handling themselves are the gateway's.
import type { Clock } from '../clock.ts';
import { SipedgeError } from '../errors.ts';
import type { AccountStore, LoginRecord, LoginRole, LoginStore } from '../store/types.ts';
import { generateLoginPassword, type LoginHasher } from './login-password.ts';
import { checkPassword, policyFor, type PolicyPreset, type PolicyViolation } from './password-policy.ts';
import type { ExtensionRef } from './provisioning.ts';

const LOGIN_ROLES: readonly LoginRole[] = ['user', 'tenant-admin', 'operator'];

/** Which policy preset applies to which tenant (config gateway.passwordPolicy and gateway.passwordPolicyTenants). */
export interface PolicyConfig {
  passwordPolicy: PolicyPreset;
  passwordPolicyTenants: Readonly<Record<string, PolicyPreset>>;
}

/** The outcome of setting a password: done (with the generated one, if any) or the rules it broke. */
export type SetPasswordOutcome = { ok: true; generated?: string; record: LoginRecord } | { ok: false; violations: PolicyViolation[] };

export class LoginAccounts {
  constructor(
    private readonly stores: { accounts: AccountStore; logins: LoginStore },
    private readonly hasher: LoginHasher,
    private readonly policy: PolicyConfig,
    private readonly clock: Clock,
  ) {}

  /** The preset that applies to `tenant`. */
  presetFor(tenant: string): PolicyPreset {
    return policyFor(tenant, this.policy.passwordPolicy, this.policy.passwordPolicyTenants);
  }

  /** The extension's login record; a default one (role user, no password, no 2FA) when none was stored yet. */
  async record(ref: ExtensionRef): Promise<LoginRecord> {
    await this.requireExtension(ref);
    return (await this.stores.logins.get(ref.tenant, ref.ext)) ?? defaultRecord(ref, this.clock.now());
  }

  /**
   * Sets the login password (`password` undefined: generates one that passes every preset). A given password is
   * checked against the tenant's preset. Ends every session and reset link (the session epoch grows).
   */
  async setPassword(ref: ExtensionRef, password: string | undefined): Promise<SetPasswordOutcome> {
    const rec = await this.record(ref);
    if (password !== undefined) {
      const violations = checkPassword(password, this.presetFor(ref.tenant));
      if (violations.length > 0) return { ok: false, violations };
    }
    const pw = password ?? generateLoginPassword();
    const next: LoginRecord = {
      ...rec,
      passwordHash: await this.hasher.hash(pw),
      sessionEpoch: rec.sessionEpoch + 1,
      updatedAt: this.clock.now(),
    };
    await this.stores.logins.put(next);
    return password === undefined ? { ok: true, generated: pw, record: next } : { ok: true, record: next };
  }

  async setRole(ref: ExtensionRef, role: LoginRole): Promise<LoginRecord> {
    if (!LOGIN_ROLES.includes(role)) {
      throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `role "${role}" must be one of ${LOGIN_ROLES.join(', ')}`);
    }
    const next = { ...(await this.record(ref)), role, updatedAt: this.clock.now() };
    await this.stores.logins.put(next);
    return next;
  }

  /** Operator reset of 2FA: forgets the TOTP secret; the next login needs only the password. */
  async resetTotp(ref: ExtensionRef): Promise<LoginRecord> {
    const rec = await this.record(ref);
    const next: LoginRecord = { ...rec, totpActive: false, updatedAt: this.clock.now() };
    delete next.totpSecret;
    await this.stores.logins.put(next);
    return next;
  }

  private async requireExtension(ref: ExtensionRef): Promise<void> {
    if (!(await this.stores.accounts.getExtension(ref.tenant, ref.ext))) {
      throw new SipedgeError('SIPEDGE_ERR_EXTENSION_UNKNOWN', `unknown extension ${ref.ext}@${ref.tenant}`);
    }
  }
}

function defaultRecord(ref: ExtensionRef, now: number): LoginRecord {
  return { tenant: ref.tenant, ext: ref.ext, role: 'user', totpActive: false, sessionEpoch: 1, updatedAt: now };
}
