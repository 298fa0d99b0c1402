// Who may send a request through the proxy: configured upstreams (by source IP), and the tenants' users, admitted by
// the tenant's policy (407 digest by default, or "from a registered source"). Digest itself is auth/'s.
import type { Clock } from '../clock.ts';
import type { Config, UserAuthPolicy } from '../config/schema.ts';
import type { DigestAuthenticator } from '../auth/authenticator.ts';
import type { Identities } from '../auth/identity.ts';
import { parseUri } from '../sip/uri.ts';
import type { SipMessage } from '../sip/types.ts';
import type { BindingStore, Tenant } from '../store/types.ts';
import type { ServerTransaction } from '../transaction/types.ts';

/** An admitted user: the From identity, proven. */
export interface Caller {
  tenant: Tenant;
  ext: string;
  /** "ext@tenant", the key of bindings and upstream choices. */
  aor: string;
  /** True when a digest was checked (its Proxy-Authorization is ours and is not forwarded). */
  viaDigest: boolean;
}

/** The identity a From URI claims: a tenant we serve and an extension, plus the digest realm to challenge in. */
interface ClaimedIdentity {
  tenant: Tenant;
  ext: string;
  realm: string;
}

export interface UserAdmissionDeps {
  auth: DigestAuthenticator;
  /** Which tenant and extension the From URI names (auth/identity.ts). */
  identities: Identities;
  bindings: BindingStore;
  config: Pick<Config['proxy'], 'userAuth' | 'tenantUserAuth'>;
  clock: Clock;
  /** This node's id: a binding's flow id names a connection only on the node that holds it. */
  nodeId: string;
}

export class UserAdmission {
  constructor(private readonly d: UserAdmissionDeps) {}

  /** The tenant and extension the request's From names; undefined when it names no tenant this edge serves. */
  private async claimed(req: SipMessage): Promise<ClaimedIdentity | undefined> {
    const from = parseUri(req.from.uri, 'From');
    if (from.scheme !== 'sip' && from.scheme !== 'sips') return undefined;
    const id = await this.d.identities.of(from.user, from.host);
    if (id === undefined || id.tenant === undefined || id.ext === '') return undefined;
    return { tenant: id.tenant, ext: id.ext, realm: id.realm };
  }

  /**
   * Admits a request from a user by its tenant's policy. Returns the caller, or undefined after answering the request
   * itself: 407 with a fresh challenge, 403 (locked, not the From user, or no tenant of ours), 400 (bad credentials).
   * Rejects with StoreUnavailable when a store is down (the caller answers 503).
   */
  async admit(tx: ServerTransaction): Promise<Caller | undefined> {
    const req = tx.request;
    const who = await this.claimed(req);
    if (who === undefined) {
      tx.respond(403, 'Forbidden');
      return undefined;
    }
    const { tenant, ext, realm } = who;
    const aor = ext + '@' + tenant.code;
    const policy: UserAuthPolicy = this.d.config.tenantUserAuth[tenant.code] ?? this.d.config.userAuth;
    if (policy === 'registered' && (await this.fromRegisteredSource(req, aor))) return { tenant, ext, aor, viaDigest: false };
    const outcome = await this.d.auth.authenticate({
      method: req.method,
      credentials: req.credentials(true),
      realm,
      tenant,
      source: req.source!,
      userAgent: req.userAgent,
    });
    if (!outcome.ok) {
      const a = this.d.auth.refusal(outcome.reason, realm, 'proxy', { source: req.source!, userAgent: req.userAgent, tenant: tenant.code, ext });
      tx.respond(a.status, a.reason, { headers: a.headers });
      return undefined;
    }
    // The digest proves a user; it must be the one the From names (no calling as somebody else).
    if (outcome.ext.ext !== ext || outcome.ext.tenant !== tenant.code) {
      tx.respond(403, 'Not Your Identity');
      return undefined;
    }
    return { tenant, ext, aor, viaDigest: true };
  }

  /** True when the From names one of our extensions and the request came from one of its registered bindings. */
  async isRegisteredPhone(req: SipMessage): Promise<boolean> {
    const who = await this.claimed(req);
    return who !== undefined && (await this.fromRegisteredSource(req, who.ext + '@' + who.tenant.code));
  }

  /** True when the request came on the flow (or from the address) of one of the AOR's live bindings. */
  private async fromRegisteredSource(req: SipMessage, aor: string): Promise<boolean> {
    const src = req.source!;
    const set = await this.d.bindings.get(aor, this.d.clock.now());
    for (const b of set.bindings) {
      if (b.flowId === src.flowId && b.nodeId === this.d.nodeId) return true;
      if (b.transport === 'udp' && src.transport === 'udp' && b.sourceAddress === src.address && b.sourcePort === src.port) return true;
    }
    return false;
  }
}
