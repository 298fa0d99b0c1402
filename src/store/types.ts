// The store's interfaces, one per concern; memory/ (journal-backed) and redis/ implement all of them
// and pass the same contract suite (test/store/contract.ts). Services depend on these types only.
// The calls on the SIP request path return a MaybePromise (maybe-promise.ts): a value from the embedded store in the
// edge (memory), a promise from Redis or from a CLI process; failures of a store that is down are StoreUnavailable.
import type { Clock } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { MaybePromise } from './maybe-promise.ts';

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
  getTenant(code: string): MaybePromise<Tenant | undefined>;
  /** Case-insensitive domain lookup. */
  findTenantByDomain(domain: string): MaybePromise<Tenant | undefined>;
  listTenants(): Promise<Tenant[]>;
  getExtension(tenant: string, ext: string): MaybePromise<Extension | undefined>;
  listExtensions(tenant: string): Promise<Extension[]>;
  /**
   * All-or-nothing upsert; durable (fsync'd / acknowledged) when the promise resolves. Rejects with SipedgeError
   * SIPEDGE_ERR_TENANT_UNKNOWN, writing nothing, if any extension names a tenant that does not exist.
   */
  putExtensions(exts: Extension[]): Promise<void>;
  /** Removes one extension (durable); false when it did not exist. Its login record is the LoginStore's. */
  removeExtension(tenant: string, ext: string): Promise<boolean>;
  /**
   * Removes a tenant that has no extensions left (durable). Rejects with SIPEDGE_ERR_TENANT_NOT_EMPTY while it has
   * extensions; false when it did not exist.
   */
  removeTenant(code: string): Promise<boolean>;
  /** Extensions whose email equals `email` (case-insensitive), in any tenant. */
  findExtensionsByEmail(email: string): Promise<Extension[]>;
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
  /** That node's internal hop address (host:port, README "Many nodes"); absent or '' = not reachable from other nodes. */
  nodeAddress?: string;
}

export interface BindingSet {
  bindings: Binding[];
  /** Opaque version for compare-and-set. */
  version: number;
}

export interface BindingStore {
  /** Unexpired bindings of an AOR ("ext@tenant"). */
  get(aor: string, now: number): MaybePromise<BindingSet>;
  /** Replaces the AOR's bindings if the version is still `expectedVersion`; false means retry. Empty list removes. */
  replace(aor: string, bindings: Binding[], expectedVersion: number, now: number): MaybePromise<boolean>;
  /** Removes all of an AOR's bindings (e.g. rotate --drop-bindings). In a CLI process this reaches the running edge. */
  removeAll(aor: string): Promise<void>;
  /** Number of unexpired bindings (all AORs). */
  countActive(now: number): Promise<number>;
  /** The AORs with unexpired bindings (a survivor's sweep after a node died; not for the request path). */
  aors(now: number): Promise<string[]>;
}

/** One edge node of a deployment as it announces itself (README "Many nodes"). */
export interface NodeRecord {
  id: string;
  /** host:port of its internal hop (its SIP TCP listener); '' = other nodes cannot relay to it. */
  address: string;
  /** ms epoch. */
  startedAt: number;
  /** Its last heartbeat; ms epoch. */
  seenAt: number;
  /** Open connections (TCP, TLS, WS, WSS) it holds. */
  connections: number;
  /** Its view of the upstreams' health: uri -> 'up', 'down' or 'unknown' (not probed yet). */
  upstreams: Record<string, string>;
}

/** The node registry: every node's record, shared with Redis; this process's own with the embedded store. */
export interface NodeStore {
  /** Writes (replaces) a node's record: its heartbeat. */
  put(rec: NodeRecord): Promise<void>;
  list(): Promise<NodeRecord[]>;
  /** Removes a node's record; true only for the one caller that removed it (who then cleans up after it). */
  remove(id: string): Promise<boolean>;
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
  recordFailure(key: string, now: number, policy: LockoutPolicy): MaybePromise<{ failures: number; lockedUntil: number }>;
  /** ms epoch until which `key` is locked; 0 when not locked. */
  lockedUntil(key: string, now: number): MaybePromise<number>;
  /** Clears the lock and failure count of `key`. In a CLI process this reaches the running edge. */
  unlock(key: string): MaybePromise<void>;
  /**
   * Operator unlock: clears `key` and every key beneath it (`key|...`, e.g. the per-source keys auth/ derives from an
   * extension key). In a CLI process this reaches the running edge.
   */
  unlockAll(key: string): Promise<void>;
  /** Remembers that `source` proved the password of `key` (until now + ttlMs). */
  trust(key: string, source: string, now: number, ttlMs: number): MaybePromise<void>;
  isTrusted(key: string, source: string, now: number): MaybePromise<boolean>;
  /**
   * isTrusted(key, source) and the lock that applies to `source`: `ownKey`'s when trusted, else `key`'s; read together
   * (one command on Redis). lockedUntil is 0 when not locked.
   */
  lockState(key: string, source: string, ownKey: string, now: number): MaybePromise<{ trusted: boolean; lockedUntil: number }>;
  /** Records that `source` failed on `key`; bans the source once it failed on maxExtensions distinct keys. */
  recordSourceFailure(source: string, key: string, now: number, policy: BanPolicy): MaybePromise<{ distinct: number; bannedUntil: number }>;
  /** ms epoch until which `source` is banned; 0 when not banned. */
  bannedUntil(source: string, now: number): MaybePromise<number>;
  /** Lifts the ban of `source`. In a CLI process this reaches the running edge (every node, on Redis). */
  unban(source: string): Promise<void>;
  /**
   * In the edge: `listener` hears every unban, this process's own, a CLI's (through the journal) and, on Redis, any
   * node's (a Pub/Sub channel), so that copies of the ban outside the store (the flood guard's) are lifted too.
   */
  onUnban(listener: (source: string) => void): void;
}

export interface NonceCountStore {
  /**
   * Accepts nc only if it is greater than every nc seen before for this nonce; remembers it for ttlMs. `sequence`, when
   * given, is the nonce's sequence number (auth/nonce.ts nonceSequence: unique among the nonces this process minted
   * within 2^32): a store may key by it instead of the nonce text (the memory store does; see nonce-counts.ts).
   */
  checkAndSet(nonce: string, nc: number, now: number, ttlMs: number, sequence?: number): MaybePromise<boolean>;
}

/**
 * What a proven digest writes, applied only when its nonce count is fresh: the nc (NonceCountStore.checkAndSet), the
 * source's trust and the clearing of its own lock key (auth/lockout.ts recordSuccess), and for a REGISTER its binding
 * update (BindingStore.replace), so that the whole success is one step (one Lua script on Redis).
 */
export interface ProvenWrites {
  nonce: string;
  nc: number;
  /** How long the nc is remembered; ms. */
  ncTtlMs: number;
  /** nonceSequence of the nonce (NonceCountStore.checkAndSet). */
  sequence?: number;
  /** LockoutStore.trust(trustKey, source, now, trustMs). */
  trustKey: string;
  source: string;
  trustMs: number;
  /** LockoutStore.unlock(ownKey): the source's own count and lock. */
  ownKey: string;
  /** BindingStore.replace(aor, bindings, expectedVersion, now). */
  bindings?: { aor: string; list: Binding[]; expectedVersion: number };
}

/** replay: the nc was not fresh, nothing written; stored: all written; conflict: all but the bindings (their version moved). */
export type ProvenResult = 'replay' | 'stored' | 'conflict';

/** Applies ProvenWrites as one unit. */
export interface ProvenStore {
  commit(w: ProvenWrites, now: number): MaybePromise<ProvenResult>;
}

/** Small durable values: generated secrets, versions. */
export interface MetaStore {
  /** Returns the stored value for `name`, storing `candidate` first if none exists (atomic across processes). */
  getOrSet(name: string, candidate: string): Promise<string>;
}

/** What a gateway login may do: its own extension, its tenant's admin API, or every tenant's. */
export type LoginRole = 'user' | 'tenant-admin' | 'operator';

/** The gateway login of one extension (DESIGN.md §9): separate from its VoIP credentials. Durable. */
export interface LoginRecord {
  tenant: string;
  ext: string;
  /** argon2id PHC string of the login password; absent = no login password set (login impossible). */
  passwordHash?: string;
  role: LoginRole;
  /** The TOTP secret sealed with the gateway key (auth/secret-box.ts); absent = no 2FA set up. */
  totpSecret?: string;
  /** True once a code proved the secret (2FA required at login); false while a setup awaits activation. */
  totpActive: boolean;
  /** Grows on password change or reset: sessions and reset tokens from an earlier epoch are void. */
  sessionEpoch: number;
  updatedAt: number;
}

/** Login records plus the TOTP replay guard. Every write is durable when its promise resolves. */
export interface LoginStore {
  get(tenant: string, ext: string): Promise<LoginRecord | undefined>;
  /** Upsert (whole record). */
  put(rec: LoginRecord): Promise<void>;
  remove(tenant: string, ext: string): Promise<void>;
  /** The last TOTP time step accepted for the extension; 0 when none. */
  lastTotpStep(tenant: string, ext: string): Promise<number>;
  /** Atomically records `step` as used if it is above the last one; false = that step (or a later one) was used. */
  useTotpStep(tenant: string, ext: string, step: number): Promise<boolean>;
}

/** A gateway session as stored under the SHA-256 of its cookie value. */
export interface SessionRecord {
  tenant: string;
  ext: string;
  /** Per-session CSRF token (sent back by the client in x-csrf-token). */
  csrf: string;
  /** True while only the password was proven and the TOTP code is still due. */
  pending: boolean;
  /** LoginRecord.sessionEpoch at creation; an older epoch means the password changed since. */
  epoch: number;
  createdAt: number;
  /** ms epoch. */
  expiresAt: number;
}

/** Gateway sessions, shared by all nodes with Redis; volatile in the embedded store (a restart logs users out). */
export interface SessionStore {
  create(id: string, s: SessionRecord): Promise<void>;
  /** The unexpired session `id`; when slideMs > 0 its expiry moves to now + slideMs (atomically). */
  touch(id: string, now: number, slideMs: number): Promise<SessionRecord | undefined>;
  delete(id: string): Promise<void>;
}

/** Single-use secrets with an expiry (password-reset and provisioning tokens, stored by hash). Durable. */
export interface TokenStore {
  put(id: string, value: string, expiresAt: number): Promise<void>;
  /** Returns the value and deletes it, atomically (at most one caller gets it); undefined when unknown or expired. */
  take(id: string, now: number): Promise<string | undefined>;
}

/** The upstream an address-of-record's requests go to (DESIGN.md §6: exactly one per extension, sticky while healthy). */
export interface UpstreamChoice {
  /** The configured upstream uri. */
  upstream: string;
  /** When this choice was made; ms epoch. */
  since: number;
}

/** Chosen upstream per AOR ("ext@tenant"), shared by every edge node. */
export interface UpstreamChoiceStore {
  get(aor: string): Promise<UpstreamChoice | undefined>;
  /**
   * Atomic compare-and-set: stores `next` only when the AOR's current upstream is `expected` (undefined: none chosen
   * yet). Returns the choice in force afterwards: `next`, or the one another node set first (then use that one).
   */
  compareAndSet(aor: string, expected: string | undefined, next: UpstreamChoice): Promise<UpstreamChoice>;
  remove(aor: string): Promise<void>;
  /** How many AORs are bound to each upstream uri (uris with none are absent). */
  countByUpstream(): Promise<Map<string, number>>;
}

export interface Stores {
  accounts: AccountStore;
  logins: LoginStore;
  sessions: SessionStore;
  tokens: TokenStore;
  upstreamChoices: UpstreamChoiceStore;
  bindings: BindingStore;
  nodes: NodeStore;
  lockouts: LockoutStore;
  nonces: NonceCountStore;
  proven: ProvenStore;
  meta: MetaStore;
  media: MediaStore;
  /** Whether the store serves requests now (/readyz); the embedded store always does. */
  status(): StoreStatus;
  close(): Promise<void>;
}

/** ok, or why the store cannot serve (Redis unreachable, or restarted empty: README "Redis outages"). */
export type StoreStatus = { ok: true } | { ok: false; reason: string };

export interface StoreOptions {
  /** 'edge' keeps volatile state (bindings, locks) in memory; 'cli' forwards commands on it to the running edge. */
  role: 'edge' | 'cli';
  clock: Clock;
  /** Where a Redis store logs its outages (one line when one starts, one when it ends). */
  logger?: Logger;
  /** Where a Redis store counts its outages and reads the refused requests (sipedge_store_*). */
  metrics?: Metrics;
}

/** Hold-music class: music on hold, or the call-queue music. */
export type MohClass = 'hold' | 'queue';

/**
 * One uploaded hold-music version. pending: encoded and stored, not yet playing; active: what new calls get;
 * retired: was active, replaced by a newer version; failed: refused, with the reason shown to the user.
 */
export interface MediaVersion {
  /** Unique id (also the artifact's name). */
  id: string;
  tenant: string;
  cls: MohClass;
  status: 'pending' | 'active' | 'retired' | 'failed';
  /** Why a failed version was refused (user-facing text). */
  reason?: string;
  /** Closed-set refusal code (e.g. too-large, unsupported-format). */
  reasonCode?: string;
  /** File name as uploaded (display only). */
  sourceName: string;
  sourceBytes: number;
  /** e.g. "MP3 44100 Hz stereo". */
  description?: string;
  durationMs?: number;
  /** ms epoch of each step. */
  createdAt: number;
  activatedAt?: number;
  retiredAt?: number;
  failedAt?: number;
}

/**
 * Hold-music versions and their encoded artifacts, per tenant and class. Durable (fsync'd / acknowledged) when a
 * promise resolves; activated music survives a crash.
 */
export interface MediaStore {
  /** Stores the artifact bytes durably, then records `v` as pending. */
  putPending(v: MediaVersion, artifact: Buffer): Promise<void>;
  /** Records a refused upload (status failed, no artifact). */
  putFailed(v: MediaVersion): Promise<void>;
  /**
   * Atomically makes pending version `id` the active one of its tenant/class; the previous active one becomes
   * retired. Rejects with SipedgeError SIPEDGE_ERR_MEDIA_UNKNOWN when `id` is not a pending version.
   */
  activate(id: string, now: number): Promise<void>;
  /** The active version of a tenant/class, if any. */
  active(tenant: string, cls: MohClass): Promise<MediaVersion | undefined>;
  /**
   * Newest first per tenant/class: its active and pending versions always, plus at most `limit` others (default 10);
   * all tenants when `tenant` is undefined.
   */
  list(tenant?: string, limit?: number): Promise<MediaVersion[]>;
  /** The artifact bytes of a version, undefined when absent (failed versions, pruned retired ones). */
  getArtifact(id: string): Promise<Buffer | undefined>;
  /**
   * A number that changes whenever any tenant's active version changes (cheap: the edge polls it to see a CLI's or
   * another node's activation within a second).
   */
  revision(): Promise<number>;
}
