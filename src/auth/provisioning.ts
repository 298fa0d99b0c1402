// Operator provisioning of tenants and extensions: CSV import, add, rotate, unlock, show. Shared by the CLI and
// (later) the gateway's admin API. Digest math is in digest.ts/credentials.ts; durability is the store's.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { SipedgeError } from '../errors.ts';
import type { AccountStore, BindingStore, Extension, LockoutStore, Tenant } from '../store/types.ts';
import { generateVoipPassword, makeCredentialSet, rotateCredentials } from './credentials.ts';
import { LockoutGuard } from './lockout.ts';
import { parseCsv } from './csv.ts';

/** Tenant codes: lower-case letters, digits and '-' (they follow the '-' in `extension-tenant` usernames). */
const TENANT_CODE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Extensions: letters, digits, '_', '.', '+' — never '-' (it separates extension from tenant) or '@'. */
const EXTENSION = /^[A-Za-z0-9_.+]{1,64}$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const EMAIL = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/;

export interface ExtensionRef {
  ext: string;
  tenant: string;
}

/** What `ext show` prints: never a password or HA1. */
export interface ExtensionView {
  extension: string;
  tenant: string;
  domain: string;
  sipUsername: string;
  sharedUsername?: string;
  email?: string;
  credentialUpdatedAt: string;
  graceUntil?: string;
  createdAt: string;
  lockedUntil?: string;
  /** Unexpired registrations; node: the id of the node that holds its flow, nodeAddress: that node's internal hop. */
  bindings?: Array<{ contact: string; transport: string; source: string; expiresIn: number; userAgent?: string; node: string; nodeAddress?: string }>;
}

/** Parses "EXT@TENANT". */
export function parseExtensionRef(text: string): ExtensionRef {
  const at = text.lastIndexOf('@');
  const ext = at > 0 ? text.slice(0, at) : '';
  const tenant = at > 0 ? text.slice(at + 1) : '';
  if (!EXTENSION.test(ext) || !TENANT_CODE.test(tenant)) {
    throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `"${text}" is not EXTENSION@TENANT (e.g. 1001@acme)`);
  }
  return { ext, tenant };
}

/** "10m", "90s", "2h", "1d" or plain seconds -> ms. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `${what} "${text}" is not a duration (e.g. 90s, 10m, 2h)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's']!;
  return n * unit;
}

export class Provisioning {
  private readonly guard: LockoutGuard;

  constructor(
    private readonly stores: { accounts: AccountStore; bindings: BindingStore; lockouts: LockoutStore },
    private readonly auth: Config['auth'],
    private readonly clock: Clock,
  ) {
    this.guard = new LockoutGuard(stores.lockouts, auth);
  }

  async addTenant(code: string, domain: string): Promise<Tenant> {
    if (!TENANT_CODE.test(code)) {
      throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `tenant code "${code}" must be lower-case letters, digits and "-" (at most 63)`);
    }
    const d = domain.toLowerCase();
    if (!DOMAIN.test(d)) throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `domain "${domain}" is not a valid domain name`);
    if (this.auth.sharedDomain !== '' && d === this.auth.sharedDomain.toLowerCase()) {
      throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `domain "${domain}" is the shared domain (auth.sharedDomain)`);
    }
    const t: Tenant = { code, domain: d, createdAt: this.clock.now() };
    await this.stores.accounts.addTenant(t);
    return t;
  }

  /**
   * Bulk create/update from CSV with header `tenant,extension,voip_password[,email]`. Every bad row is reported by
   * line number in one error and nothing is written; otherwise all rows are written in one durable batch.
   */
  async importCsv(text: string): Promise<{ created: number; updated: number }> {
    const rows = parseCsv(text);
    const errors: string[] = [];
    if (rows.length === 0) throw new SipedgeError('SIPEDGE_ERR_IMPORT_INVALID', 'import: the file is empty');
    const header = rows[0]!.fields.map((h) => h.trim().toLowerCase());
    const expected = ['tenant', 'extension', 'voip_password'];
    const hasEmail = header.length === 4 && header[3] === 'email';
    if (header.length < 3 || header.length > 4 || expected.some((h, i) => header[i] !== h) || (header.length === 4 && !hasEmail)) {
      throw new SipedgeError(
        'SIPEDGE_ERR_IMPORT_INVALID',
        `import: line 1: header must be "tenant,extension,voip_password[,email]", found "${rows[0]!.fields.join(',')}"`,
      );
    }
    const tenants = new Map((await this.stores.accounts.listTenants()).map((t) => [t.code, t]));
    // Existing extensions of the tenants the file names, read once per tenant (not once per row: Redis round trips).
    const existingOf = new Map<string, Map<string, Extension>>();
    for (const row of rows.slice(1)) {
      const code = row.fields[0]?.trim() ?? '';
      if (tenants.has(code) && !existingOf.has(code)) {
        existingOf.set(code, new Map((await this.stores.accounts.listExtensions(code)).map((e) => [e.ext, e])));
      }
    }
    const seen = new Map<string, number>();
    const now = this.clock.now();
    const out: Extension[] = [];
    let created = 0;
    let updated = 0;
    for (const row of rows.slice(1)) {
      const f = row.fields;
      if (f.length === 1 && f[0]!.trim() === '') continue; // blank line
      const line = row.line;
      if (f.length !== header.length) {
        errors.push(`line ${line}: expected ${header.length} fields, found ${f.length}`);
        continue;
      }
      const [tenantCode, ext, password, email] = [f[0]!.trim(), f[1]!.trim(), f[2]!, hasEmail ? f[3]!.trim() : ''];
      const tenant = tenants.get(tenantCode);
      if (!tenant) errors.push(`line ${line}: unknown tenant "${tenantCode}"`);
      if (!EXTENSION.test(ext)) errors.push(`line ${line}: extension "${ext}" must be letters, digits, "_", "." or "+"`);
      if (password.length === 0) errors.push(`line ${line}: voip_password is empty`);
      if (email !== '' && !EMAIL.test(email)) errors.push(`line ${line}: email "${email}" is not an e-mail address`);
      const key = `${tenantCode}/${ext}`;
      const first = seen.get(key);
      if (first !== undefined) errors.push(`line ${line}: duplicate of line ${first} (${ext}@${tenantCode})`);
      else seen.set(key, line);
      if (!tenant || errors.length > 0) continue;
      const existing = existingOf.get(tenantCode)?.get(ext);
      const cred = makeCredentialSet(ext, tenant, password, this.auth.sharedDomain);
      if (existing) updated++;
      else created++;
      out.push({
        tenant: tenantCode,
        ext,
        email: email !== '' ? email : existing?.email,
        cred,
        credUpdatedAt: now,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      });
    }
    if (errors.length > 0) {
      const shown = errors.slice(0, 50);
      if (errors.length > 50) shown.push(`... and ${errors.length - 50} more`);
      throw new SipedgeError('SIPEDGE_ERR_IMPORT_INVALID', `import: nothing was imported; fix these rows:\n${shown.join('\n')}`);
    }
    if (out.length > 0) await this.stores.accounts.putExtensions(out);
    for (const e of out) if (existingOf.get(e.tenant)?.get(e.ext) === undefined) await this.guard.unlock(e.tenant, e.ext);
    return { created, updated };
  }

  /** Creates an extension with a generated (or given) VoIP password; returns the password to show once. */
  async addExtension(ref: ExtensionRef, opts: { email?: string; password?: string } = {}): Promise<{ password: string }> {
    const tenant = await this.tenant(ref.tenant);
    if (await this.stores.accounts.getExtension(ref.tenant, ref.ext)) {
      throw new SipedgeError('SIPEDGE_ERR_EXTENSION_EXISTS', `extension ${ref.ext}@${ref.tenant} exists (use "ext rotate")`);
    }
    if (opts.email !== undefined && !EMAIL.test(opts.email)) {
      throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `email "${opts.email}" is not an e-mail address`);
    }
    if (opts.password !== undefined && opts.password.length < 8) {
      throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', 'a given VoIP password must have at least 8 characters');
    }
    const password = opts.password ?? generateVoipPassword(this.auth.passwordLength);
    const now = this.clock.now();
    await this.stores.accounts.putExtensions([
      {
        tenant: ref.tenant,
        ext: ref.ext,
        email: opts.email,
        cred: makeCredentialSet(ref.ext, tenant, password, this.auth.sharedDomain),
        credUpdatedAt: now,
        createdAt: now,
        updatedAt: now,
      },
    ]);
    // A new extension starts with a clean lock (DESIGN.md "Lockout"), whatever was recorded under its name before.
    await this.guard.unlock(ref.tenant, ref.ext);
    return { password };
  }

  /** New random VoIP password; the old one keeps working for `graceMs`; optionally drops current registrations. */
  async rotate(ref: ExtensionRef, opts: { graceMs: number; dropBindings: boolean }): Promise<{ password: string }> {
    const tenant = await this.tenant(ref.tenant);
    const current = await this.extension(ref);
    const password = generateVoipPassword(this.auth.passwordLength);
    const next = rotateCredentials(current, password, opts.graceMs, this.clock.now(), tenant, this.auth.sharedDomain);
    await this.stores.accounts.putExtensions([next]);
    if (opts.dropBindings) await this.stores.bindings.removeAll(`${ref.ext}@${ref.tenant}`);
    return { password };
  }

  async unlock(ref: ExtensionRef): Promise<void> {
    await this.extension(ref);
    await this.guard.unlock(ref.tenant, ref.ext);
  }

  /**
   * Lifts the ban of a source address: the auth layer's (failures on many extensions) in the store and, through the
   * store's unban announcement, every running node's flood-guard ban (flood, scanner User-Agent).
   */
  async unban(address: string): Promise<void> {
    await this.guard.unban(address);
  }

  async show(ref: ExtensionRef, live: boolean): Promise<ExtensionView> {
    const tenant = await this.tenant(ref.tenant);
    const e = await this.extension(ref);
    const now = this.clock.now();
    const view: ExtensionView = {
      extension: e.ext,
      tenant: e.tenant,
      domain: tenant.domain,
      sipUsername: e.ext,
      email: e.email,
      credentialUpdatedAt: new Date(e.credUpdatedAt).toISOString(),
      graceUntil: e.graceUntil && e.graceUntil > now ? new Date(e.graceUntil).toISOString() : undefined,
      createdAt: new Date(e.createdAt).toISOString(),
    };
    if (this.auth.sharedDomain !== '') view.sharedUsername = `${e.ext}-${e.tenant}`;
    if (live) {
      const lockedUntil = await this.guard.extensionLockedUntil(e.tenant, e.ext, now);
      if (lockedUntil > 0) view.lockedUntil = new Date(lockedUntil).toISOString();
      const set = await this.stores.bindings.get(`${e.ext}@${e.tenant}`, now);
      view.bindings = set.bindings.map((b) => ({
        contact: b.contact,
        transport: b.transport,
        source: `${b.sourceAddress}:${b.sourcePort}`,
        expiresIn: Math.round((b.expiresAt - now) / 1000),
        userAgent: b.userAgent,
        node: b.nodeId,
        nodeAddress: b.nodeAddress,
      }));
    }
    return view;
  }

  private async tenant(code: string): Promise<Tenant> {
    const t = await this.stores.accounts.getTenant(code);
    if (!t) throw new SipedgeError('SIPEDGE_ERR_TENANT_UNKNOWN', `unknown tenant "${code}" (add it with "sipedge tenant add")`);
    return t;
  }

  private async extension(ref: ExtensionRef): Promise<Extension> {
    const e = await this.stores.accounts.getExtension(ref.tenant, ref.ext);
    if (!e) throw new SipedgeError('SIPEDGE_ERR_EXTENSION_UNKNOWN', `unknown extension ${ref.ext}@${ref.tenant}`);
    return e;
  }
}
