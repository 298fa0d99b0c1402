// Durable account state held in memory: tenants (by code and lower-cased domain), extensions, meta values.
// It only applies journal records and answers lookups; ordering, locking and fsync are journal.ts's job.
import type { Extension, Tenant } from '../types.ts';
import type { JournalRecord } from './journal-record.ts';
import type { SnapshotBody } from './journal.ts';

/**
 * Tenants, extensions and meta as of the last applied record. Stored objects are frozen (they are shared with
 * every caller of get/list, so a caller that mutates one gets a TypeError instead of silently editing the store).
 */
export class AccountState {
  readonly tenants = new Map<string, Tenant>();
  /** Lower-cased domain -> tenant code. */
  readonly domains = new Map<string, string>();
  /** tenant code -> ext -> Extension. */
  readonly extensions = new Map<string, Map<string, Extension>>();
  readonly meta = new Map<string, string>();

  /** Replaces everything with a snapshot. */
  load(s: SnapshotBody): void {
    this.tenants.clear();
    this.domains.clear();
    this.extensions.clear();
    this.meta.clear();
    for (const t of s.tenants) this.putTenant(t);
    for (const e of s.extensions) this.putExtension(e);
    for (const [k, v] of Object.entries(s.meta)) this.meta.set(k, v);
  }

  /** Applies a durable record; command records are not state and are ignored here. */
  apply(r: JournalRecord): void {
    switch (r.t) {
      case 'tenant':
        this.putTenant(r.tenant);
        return;
      case 'extensions':
        for (const e of r.extensions) this.putExtension(e);
        return;
      case 'extension-remove':
        this.extensions.get(r.tenant)?.delete(r.ext);
        return;
      case 'tenant-remove': {
        const t = this.tenants.get(r.code);
        if (t === undefined) return;
        this.tenants.delete(r.code);
        this.domains.delete(t.domain.toLowerCase());
        this.extensions.delete(r.code);
        return;
      }
      case 'meta':
        // First writer wins, as getOrSet promises; a later record for the same name cannot be written.
        if (!this.meta.has(r.name)) this.meta.set(r.name, r.value);
        return;
      default:
        return;
    }
  }

  dump(): SnapshotBody {
    const extensions: Extension[] = [];
    for (const byExt of this.extensions.values()) for (const e of byExt.values()) extensions.push(e);
    return { tenants: [...this.tenants.values()], extensions, meta: Object.fromEntries(this.meta) };
  }

  /** Extensions whose email matches, case-insensitively (a scan: the embedded store serves small deployments). */
  findByEmail(email: string): Extension[] {
    const want = email.toLowerCase();
    const out: Extension[] = [];
    for (const byExt of this.extensions.values()) for (const e of byExt.values()) if (e.email?.toLowerCase() === want) out.push(e);
    return out;
  }

  /** Why `t` cannot be added, or undefined if it can. */
  tenantConflict(t: Tenant): string | undefined {
    if (this.tenants.has(t.code)) return `tenant code "${t.code}" is already taken`;
    const owner = this.domains.get(t.domain.toLowerCase());
    if (owner !== undefined) return `domain "${t.domain}" already belongs to tenant "${owner}"`;
    return undefined;
  }

  private putTenant(t: Tenant): void {
    this.tenants.set(t.code, Object.freeze(t));
    this.domains.set(t.domain.toLowerCase(), t.code);
  }

  private putExtension(e: Extension): void {
    Object.freeze(e.cred);
    if (e.prevCred !== undefined) Object.freeze(e.prevCred);
    let byExt = this.extensions.get(e.tenant);
    if (byExt === undefined) {
      byExt = new Map();
      this.extensions.set(e.tenant, byExt);
    }
    byExt.set(e.ext, Object.freeze(e));
  }
}
