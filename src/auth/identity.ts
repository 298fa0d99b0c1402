// Which tenant and extension a name means: a SIP URI's user@host (the registrar's To, the user admission's From, the
// proxy's called user, the hold-music URI) or a digest username. A tenant's own domain names the tenant and the user
// part is the extension; in auth.sharedDomain the user part is `ext-tenantcode`. Tenants are the AccountStore's.
import { chain, type MaybePromise } from '../store/maybe-promise.ts';
import type { AccountStore, Tenant } from '../store/types.ts';

/** What a URI's user@host names, when its host is a domain of ours. */
export interface UriIdentity {
  ext: string;
  /** The tenant; undefined in the shared domain when the user part names no tenant we have (or none at all). */
  tenant: Tenant | undefined;
  /** The digest realm this identity is challenged in: the tenant's domain, or the shared domain. */
  realm: string;
  isShared: boolean;
}

/**
 * Splits a credential username into extension and tenant code: in the shared domain it is `ext-tenantcode`, split at
 * the first '-' (tenant codes may contain '-', extensions may not); in a tenant's own realm it is the extension.
 * In the shared realm, tenantCode is absent when the username has no '-'; treat that as an unknown user.
 */
export function resolveIdentity(username: string, realm: string, sharedDomain: string): { ext: string; tenantCode?: string } {
  if (sharedDomain === '' || realm !== sharedDomain) return { ext: username };
  const dash = username.indexOf('-');
  if (dash <= 0 || dash === username.length - 1) return { ext: username };
  return { ext: username.slice(0, dash), tenantCode: username.slice(dash + 1) };
}

/** The one owner of "which tenant and extension does this URI name" for every service on the SIP path. */
export class Identities {
  private readonly shared: string;
  /** of()'s last tenant per host, or per '\n' + tenant code in the shared domain (guess()). */
  private readonly lastTenants = new Map<string, Tenant>();

  constructor(
    private readonly accounts: Pick<AccountStore, 'getTenant' | 'findTenantByDomain'>,
    /** auth.sharedDomain ('' = none). */
    private readonly sharedDomain: string,
  ) {
    this.shared = sharedDomain.toLowerCase();
  }

  /**
   * The identity `user@host` names (host as the URI parser gives it, lower case); undefined when the host is neither
   * a tenant's domain nor the shared domain. One account read, a value on the embedded store.
   */
  of(user: string, host: string): MaybePromise<UriIdentity | undefined> {
    if (this.shared !== '' && host === this.shared) {
      const id = resolveIdentity(user, this.sharedDomain, this.sharedDomain);
      const realm = this.sharedDomain;
      if (id.tenantCode === undefined) return { ext: id.ext, tenant: undefined, realm, isShared: true };
      const code = id.tenantCode;
      return chain(this.remembered(`\n${code}`, this.accounts.getTenant(code)), (tenant) => ({ ext: id.ext, tenant, realm, isShared: true }));
    }
    return chain(this.remembered(host, this.accounts.findTenantByDomain(host)), (tenant) =>
      tenant === undefined ? undefined : { ext: user, tenant, realm: tenant.domain, isShared: false },
    );
  }

  /**
   * What of(user, host) answered last time for this host's (or shared-domain name's) tenant, without a store read;
   * undefined when it was never asked or found nothing. For reads issued before of()'s answer is there, which the
   * caller then checks against that answer (Registrar.readAhead). Only store reads answered by a promise are kept.
   */
  guess(user: string, host: string): UriIdentity | undefined {
    if (this.shared !== '' && host === this.shared) {
      const id = resolveIdentity(user, this.sharedDomain, this.sharedDomain);
      const tenant = id.tenantCode === undefined ? undefined : this.lastTenants.get(`\n${id.tenantCode}`);
      return tenant === undefined ? undefined : { ext: id.ext, tenant, realm: this.sharedDomain, isShared: true };
    }
    const tenant = this.lastTenants.get(host);
    return tenant === undefined ? undefined : { ext: user, tenant, realm: tenant.domain, isShared: false };
  }

  /** Keeps a store's later answer for guess(), under the host or under '\n' + the tenant code. */
  private remembered(key: string, answer: MaybePromise<Tenant | undefined>): MaybePromise<Tenant | undefined> {
    if (!(answer instanceof Promise)) return answer;
    return answer.then((tenant) => {
      if (tenant === undefined) this.lastTenants.delete(key);
      else {
        // One entry per tenant (names that find none leave none); the cap only guards against a caller bug.
        if (this.lastTenants.size >= MAX_REMEMBERED) this.lastTenants.clear();
        this.lastTenants.set(key, tenant);
      }
      return tenant;
    });
  }
}

const MAX_REMEMBERED = 10_000;
