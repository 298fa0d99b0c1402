// The store's interfaces, one per concern; memory/ (journal-backed) and redis/ implement all of them
// and pass the same contract suite (test/store/contract.ts). Services depend on these types only.
import type { Clock } from '../clock.ts';

/** Thrown (as a rejected promise) when the backing store cannot be reached. */
export class StoreUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}

export interface Tenant {
  /** Short code, e.g. "acme"; used in `extension-tenant` usernames and CLI arguments. */
  code: string;
  /** SIP domain and digest realm, e.g. "acme.example.com". */
  domain: string;
  createdAt: number;
}

/** HA1 hex digests for one password: H(user:realm:password) per algorithm and identity. */
export interface CredentialSet {
  /** For username = extension, realm = tenant domain. */
  md5: string;
  sha256: string;
  /** For username = extension-tenant, realm = auth.sharedDomain (absent when no shared domain was configured). */
  sharedMd5?: string;
  sharedSha256?: string;
}

export interface Extension {
  tenant: string;
  ext: string;
  email?: string;
  cred: CredentialSet;
  /** The previous password's HA1s; accepted until graceUntil, recognised (as a stale credential) after. */
  prevCred?: CredentialSet;
  /** ms epoch; 0 or absent = no grace. */
  graceUntil?: number;
  credUpdatedAt: number;
  createdAt: number;
  updatedAt: number;
}

export interface AccountStore {
  /** Rejects with SipedgeError SIPEDGE_ERR_TENANT_EXISTS if the code or the domain is taken. */
  addTenant(t: Tenant): Promise<void>;
  getTenant(code: string): Promise<Tenant | undefined>;
  /** Case-insensitive domain lookup. */
  findTenantByDomain(domain: string): Promise<Tenant | undefined>;
  listTenants(): Promise<Tenant[]>;
  getExtension(tenant: string, ext: string): Promise<Extension | undefined>;
  listExtensions(tenant: string): Promise<Extension[]>;
  /**
   * All-or-nothing upsert; durable (fsync'd / acknowledged) when the promise resolves. Rejects with SipedgeError
   * SIPEDGE_ERR_TENANT_UNKNOWN, writing nothing, if any extension names a tenant that does not exist.
   */
  putExtensions(exts: Extension[]): Promise<void>;
  // Optional synchronous twins of the reads above, for a store that answers from local memory (the embedded store in
  // the edge). Same results; the REGISTER hot path uses them when present and skips a promise per read. Redis has none.
  getTenantSync?(code: string): Tenant | undefined;
  findTenantByDomainSync?(domain: string): Tenant | undefined;
  getExtensionSync?(tenant: string, ext: string): Extension | undefined;
}

/** One registered contact of an address-of-record (RFC 3261 §10.3). */
export interface Binding {
  /** Contact URI as registered (without the name-addr brackets). */
  contact: string;
  /** RFC 5626 +sip.instance (with the <>), if any. */
  instanceId?: string;
  regId?: number;
  callId: string;
  cseq: number;
  /** ms epoch. */
  expiresAt: number;
  registeredAt: number;
  q?: number;
  /** Path header values, in order (RFC 3327). */
  path: string[];
  /** Flow the REGISTER came on (transport/Flow.id); with outbound (reg-id) the binding lives and dies with it. */
  flowId?: string;
  /** Whether the binding must die with its flow (outbound on a connection-oriented transport). */
  isFlowBound?: boolean;
  transport: string;
  /** Source address and port the REGISTER came from. */
  sourceAddress: string;
  sourcePort: number;
  userAgent?: string;
  /** Node that holds the flow (for multi-node routing). */
  nodeId: string;
}

export interface BindingSet {
  bindings: Binding[];
  /** Opaque version for compare-and-set. */
  version: number;
}

export interface BindingStore {
  /** Unexpired bindings of an AOR ("ext@tenant"). */
  get(aor: string, now: number): Promise<BindingSet>;
  /** Replaces the AOR's bindings if the version is still `expectedVersion`; false means retry. Empty list removes. */
  replace(aor: string, bindings: Binding[], expectedVersion: number, now: number): Promise<boolean>;
  /** Removes all of an AOR's bindings (e.g. rotate --drop-bindings). In a CLI process this reaches the running edge. */
  removeAll(aor: string): Promise<void>;
  /** Number of unexpired bindings (all AORs). */
  countActive(now: number): Promise<number>;
  /** Optional synchronous twins of get and replace (local-memory stores only; see AccountStore.getTenantSync). */
  getSync?(aor: string, now: number): BindingSet;
  replaceSync?(aor: string, bindings: Binding[], expectedVersion: number, now: number): boolean;
}

export interface LockoutPolicy {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

export interface BanPolicy {
  maxExtensions: number;
  windowMs: number;
  banMs: number;
}

/** Failed-digest counting, locks, trusted sources and source bans. Keys are opaque strings chosen by auth/. */
export interface LockoutStore {
  /** Counts a failure for `key` inside the sliding window; sets the lock when it reaches maxFailures. */
  recordFailure(key: string, now: number, policy: LockoutPolicy): Promise<{ failures: number; lockedUntil: number }>;
  /** ms epoch until which `key` is locked; 0 when not locked. */
  lockedUntil(key: string, now: number): Promise<number>;
  /** Clears the lock and failure count of `key`. In a CLI process this reaches the running edge. */
  unlock(key: string): Promise<void>;
  /**
   * Operator unlock: clears `key` and every key beneath it (`key|...`, e.g. the per-source keys auth/ derives from an
   * extension key). In a CLI process this reaches the running edge.
   */
  unlockAll(key: string): Promise<void>;
  /** Remembers that `source` proved the password of `key` (until now + ttlMs). */
  trust(key: string, source: string, now: number, ttlMs: number): Promise<void>;
  isTrusted(key: string, source: string, now: number): Promise<boolean>;
  /** Records that `source` failed on `key`; bans the source once it failed on maxExtensions distinct keys. */
  recordSourceFailure(source: string, key: string, now: number, policy: BanPolicy): Promise<{ distinct: number; bannedUntil: number }>;
  /** ms epoch until which `source` is banned; 0 when not banned. */
  bannedUntil(source: string, now: number): Promise<number>;
  unban(source: string): Promise<void>;
  // Optional synchronous twins (local-memory stores only; see AccountStore.getTenantSync). unlockSync is absent
  // where unlock has to travel elsewhere (a CLI process forwarding to the edge).
  lockedUntilSync?(key: string, now: number): number;
  isTrustedSync?(key: string, source: string, now: number): boolean;
  bannedUntilSync?(source: string, now: number): number;
  trustSync?(key: string, source: string, now: number, ttlMs: number): void;
  unlockSync?(key: string): void;
}

export interface NonceCountStore {
  /** Accepts nc only if it is greater than every nc seen before for this nonce; remembers it for ttlMs. */
  checkAndSet(nonce: string, nc: number, now: number, ttlMs: number): Promise<boolean>;
  /** Optional synchronous twin of checkAndSet (local-memory stores only). */
  checkAndSetSync?(nonce: string, nc: number, now: number, ttlMs: number): boolean;
}

/** Small durable values: generated secrets, versions. */
export interface MetaStore {
  /** Returns the stored value for `name`, storing `candidate` first if none exists (atomic across processes). */
  getOrSet(name: string, candidate: string): Promise<string>;
}

export interface Stores {
  accounts: AccountStore;
  bindings: BindingStore;
  lockouts: LockoutStore;
  nonces: NonceCountStore;
  meta: MetaStore;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** 'edge' keeps volatile state (bindings, locks) in memory; 'cli' forwards commands on it to the running edge. */
  role: 'edge' | 'cli';
  clock: Clock;
}
