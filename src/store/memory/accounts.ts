// AccountStore and MetaStore of the embedded store: reads from AccountState, writes through the journal.
// Durability, locking and cross-process visibility are journal.ts's; the state itself is account-state.ts's.
import { SipedgeError } from '../../errors.ts';
import type { AccountStore, Extension, MetaStore, Tenant } from '../types.ts';
import type { AccountState } from './account-state.ts';
import type { Journal } from './journal.ts';

/**
 * Accounts in memory, durable in the journal. Reads are Map lookups answered as values (the REGISTER path's reads make
 * no promise); `freshen` runs before each read (the CLI role catches up with the journal there, the edge relies on its
 * tailer). Returned objects are frozen and shared.
 */
export class MemoryAccountStore implements AccountStore {
  constructor(
    private readonly state: AccountState,
    private readonly journal: Journal,
    private readonly freshen: () => void,
  ) {}

  async addTenant(t: Tenant): Promise<void> {
    const tenant: Tenant = { code: t.code, domain: t.domain, createdAt: t.createdAt };
    await this.journal.append(() => {
      // Checked under the lock, after applying every record other processes wrote: duplicates cannot race in.
      const conflict = this.state.tenantConflict(tenant);
      if (conflict !== undefined) throw new SipedgeError('SIPEDGE_ERR_TENANT_EXISTS', `tenant: ${conflict}`);
      return [{ t: 'tenant', tenant }];
    });
  }

  getTenant(code: string): Tenant | undefined {
    this.freshen();
    return this.state.tenants.get(code);
  }

  findTenantByDomain(domain: string): Tenant | undefined {
    this.freshen();
    const code = this.state.domains.get(domain.toLowerCase());
    return code === undefined ? undefined : this.state.tenants.get(code);
  }

  async listTenants(): Promise<Tenant[]> {
    this.freshen();
    return [...this.state.tenants.values()].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  }

  getExtension(tenant: string, ext: string): Extension | undefined {
    this.freshen();
    return this.state.extensions.get(tenant)?.get(ext);
  }

  async listExtensions(tenant: string): Promise<Extension[]> {
    this.freshen();
    const byExt = this.state.extensions.get(tenant);
    if (byExt === undefined) return [];
    return [...byExt.values()].sort((a, b) => (a.ext < b.ext ? -1 : a.ext > b.ext ? 1 : 0));
  }

  async putExtensions(exts: Extension[]): Promise<void> {
    if (exts.length === 0) return;
    await this.journal.append(() => {
      for (const e of exts) {
        if (!this.state.tenants.has(e.tenant)) {
          throw new SipedgeError('SIPEDGE_ERR_TENANT_UNKNOWN', `extension ${e.ext}: tenant "${e.tenant}" does not exist; nothing was written`);
        }
      }
      // One record, so one checksummed line: a torn write loses the whole batch, never half of it.
      return [{ t: 'extensions', extensions: exts }];
    });
  }

  async removeExtension(tenant: string, ext: string): Promise<boolean> {
    let existed = false;
    await this.journal.append(() => {
      existed = this.state.extensions.get(tenant)?.has(ext) ?? false;
      return existed ? [{ t: 'extension-remove', tenant, ext }] : [];
    });
    return existed;
  }

  async removeTenant(code: string): Promise<boolean> {
    let existed = false;
    await this.journal.append(() => {
      existed = this.state.tenants.has(code);
      if ((this.state.extensions.get(code)?.size ?? 0) > 0) {
        throw new SipedgeError('SIPEDGE_ERR_TENANT_NOT_EMPTY', `tenant "${code}" still has extensions; remove them first`);
      }
      return existed ? [{ t: 'tenant-remove', code }] : [];
    });
    return existed;
  }

  async findExtensionsByEmail(email: string): Promise<Extension[]> {
    this.freshen();
    return this.state.findByEmail(email);
  }
}

/** MetaStore of the embedded store: first value written for a name wins, across processes. */
export class MemoryMetaStore implements MetaStore {
  constructor(
    private readonly state: AccountState,
    private readonly journal: Journal,
  ) {}

  async getOrSet(name: string, candidate: string): Promise<string> {
    const known = this.state.meta.get(name);
    if (known !== undefined) return known;
    await this.journal.append(() => (this.state.meta.has(name) ? [] : [{ t: 'meta', name, value: candidate }]));
    const value = this.state.meta.get(name);
    if (value === undefined) throw new Error(`meta ${name}: missing right after it was written`);
    return value;
  }
}
