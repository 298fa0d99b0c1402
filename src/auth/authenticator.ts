// Digest authentication of one request: challenge, precheck (scanners, bans), and verify, ending in a DigestOutcome,
// and the one mapping of a failed outcome to its response (refusal). The caller (registrar, proxy) parses headers,
// resolves the identity (identity.ts) and sends the response.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { AuthFailureReason, Metrics } from '../observability/metrics.ts';
import type { DigestCredentials, SipAnswer } from '../sip/types.ts';
import { chain, chain2, type MaybePromise } from '../store/maybe-promise.ts';
import { sequentialProven } from '../store/proven.ts';
import type {
  AccountStore, Binding, CredentialSet, Extension, LockoutStore, NonceCountStore, ProvenResult, ProvenStore, Tenant,
} from '../store/types.ts';
import { ha2, parseDigestAlgorithm, verifyResponse, type DigestAlgorithm, type ResponseInput } from './digest.ts';
import { ChallengePolicy, deviceKey, type OfferTarget } from './challenge-policy.ts';
import { resolveIdentity } from './identity.ts';
import { createScannerMatcher, LockoutGuard, type FailureSubject, type LockState } from './lockout.ts';
import { NonceIssuer, nonceSequence, sourceBinding, type AuthSource, type NonceCheck } from './nonce.ts';

/** Why a request was not authenticated; each is a metric label source and a row in DIGEST_FAILURES. */
export type DigestFailure =
  | 'no-credentials'
  | 'unknown-user'
  | 'bad-password'
  | 'stale-nonce'
  | 'replay'
  | 'stale-credential'
  | 'locked'
  | 'malformed';

/** The result of authenticate(); STYLE.md §4b. */
export type DigestOutcome =
  | { ok: true; ext: Extension; algorithm: DigestAlgorithm; viaGrace: boolean }
  | { ok: false; reason: Exclude<DigestFailure, 'locked'> }
  | { ok: false; reason: 'locked'; lockedUntil: number };

/** A failed DigestOutcome. */
export type DigestRefusal = Extract<DigestOutcome, { ok: false }>;

/** What the caller answers and what is counted, per failure. status 401 means: send challenge(realm, stale). */
export interface FailureRule {
  status: 401 | 403 | 400;
  /** Put stale=true in the fresh challenge (RFC 7616 §3.3: the client may retry without asking the user). */
  stale?: boolean;
  /** Counts on the extension-wide key (untrusted source) or on the source's own key (trusted source). */
  countsTowardLockout: boolean;
  /** Counts toward banning the source IP for failing on many extensions. */
  countsTowardBan: boolean;
  /** sipedge_auth_failures_total{reason}; null = not a failure worth counting (the normal first request). */
  metric: AuthFailureReason | null;
}

/** The single place where each failure's response and counting are decided. */
export const DIGEST_FAILURES = {
  // The normal first request of every dialog: challenge it.
  'no-credentials': { status: 401, countsTowardLockout: false, countsTowardBan: false, metric: null },
  // Same answer as bad-password. It creates no lock entry for the made-up name (a flood of invented names would each
  // leave one, and an extension created later would inherit it); it counts toward the source's ban instead, which
  // also bounds how many names one address can probe for the 401-then-403 difference a real extension shows.
  'unknown-user': { status: 401, countsTowardLockout: false, countsTowardBan: true, metric: 'unknown-user' },
  'bad-password': { status: 401, countsTowardLockout: true, countsTowardBan: true, metric: 'bad-password' },
  // Expired or foreign nonce: the response was never evaluated, so nothing was guessed.
  'stale-nonce': { status: 401, stale: true, countsTowardLockout: false, countsTowardBan: false, metric: 'stale-nonce' },
  // nc not above the highest seen for this nonce, with a correct response: a captured request replayed (or a client
  // reusing nc). Not a guess, and counting it would let anyone who sniffed one REGISTER lock the extension by replaying
  // it; stale=true because the digest was valid, so an honest client retries silently with a fresh nonce.
  replay: { status: 401, stale: true, countsTowardLockout: false, countsTowardBan: false, metric: 'replay' },
  // The previous password after its grace: a device not yet updated, not an attacker (who would have to know it).
  'stale-credential': { status: 401, countsTowardLockout: false, countsTowardBan: false, metric: 'stale-credential' },
  // Credentials are not evaluated while locked (DESIGN.md "Lockout": every attempt gets 403).
  locked: { status: 403, countsTowardLockout: false, countsTowardBan: false, metric: 'locked' },
  // Missing username/nonce/uri/response/cnonce, bad nc, or qop other than auth (we offer qop="auth" only).
  malformed: { status: 400, countsTowardLockout: false, countsTowardBan: false, metric: 'malformed' },
} as const satisfies Record<DigestFailure, FailureRule>;

/**
 * How a registrar (RFC 3261 §22.2: 401 and WWW-Authenticate) and a proxy (§22.3: 407 and Proxy-Authenticate) word
 * DIGEST_FAILURES' statuses; the nonces and realm are the same for both.
 */
const AS_SEEN_BY = {
  registrar: { challenge: 401, challengeReason: 'Unauthorized', header: 'WWW-Authenticate: ', malformed: 'Bad Authorization' },
  proxy: { challenge: 407, challengeReason: 'Proxy Authentication Required', header: 'Proxy-Authenticate: ', malformed: 'Bad Proxy-Authorization' },
} as const;

/** Who answers a failed digest: the registrar (REGISTER) or the proxy (any other request). */
type Challenger = keyof typeof AS_SEEN_BY;

/** precheck()'s answer: go on, or drop silently. */
export type Verdict = 'ok' | 'scanner' | 'banned';

/** A syntactically complete credential for an identity some tenant owns: what authenticate() checks. */
export interface Claim {
  ip: string;
  /** sourceBinding of the request's source: what its nonce must be bound to and what trust is recorded for. */
  bound: string;
  tenant: Tenant;
  ext: string;
  isShared: boolean;
  algorithm: DigestAlgorithm;
  method: string;
  uri: string;
  nonce: string;
  nc: number;
  ncText: string;
  cnonce: string;
  response: string;
  nonceState: NonceCheck;
}

/** Input of authenticate(): everything already extracted from the request by the caller. */
export interface AuthenticateInput {
  /** Request method (the A2 of the digest). */
  method: string;
  /** Authorization (or Proxy-Authorization) credentials in order; those for other realms are ignored. */
  credentials: DigestCredentials[];
  /** The realm that was challenged: tenant.domain, or auth.sharedDomain for `ext-tenant` usernames. */
  realm: string;
  /** The tenant owning the realm, or resolved from the `ext-tenant` username; undefined when none could be. */
  tenant: Tenant | undefined;
  /** Where the request came from (its nonce must have been issued there; bans go by its address). */
  source: AuthSource;
  /** The request's User-Agent: which algorithms its device is offered and has proved (config auth.challengePolicy). */
  userAgent?: string;
}

/** Who a challenge is for: the source its nonce is bound to, and what picks the algorithms offered (challengePolicy). */
export interface ChallengeTarget extends OfferTarget {
  source: AuthSource;
}

export interface AuthenticatorDeps {
  config: Config['auth'];
  /** proven: the success writes as one step (Stores.proven); absent = nonces then lockouts (no binding updates). */
  stores: { accounts: AccountStore; lockouts: LockoutStore; nonces: NonceCountStore; proven?: ProvenStore };
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** config.nonceSecret, or the generated one (resolveNonceSecret); must be non-empty. */
  nonceSecret: string;
  /** Told of every source that proved a password (the flood guard gives it a larger budget). */
  onProven?: (source: AuthSource) => void;
}

type Counter = { inc(): void };

/** What a failure is logged and counted against; `subject` absent = count nothing (metric and log only). */
export interface FailureContext {
  ip: string;
  /** sourceBinding of the source: a trusted source's own lock key names it. */
  bound: string;
  /** Username or extension, for the debug log only (never a secret). */
  user: string | undefined;
  tenant?: string;
  subject?: FailureSubject;
  nonce?: NonceCheck;
}

/**
 * The store reads authenticate() makes for one request (lock state and account), issued once: by readAhead(), so they
 * travel with the caller's own reads in one Redis round trip, and used by prove() when made for the same identity.
 */
export interface AuthReads {
  readonly realm: string;
  readonly tenant: Tenant;
  readonly now: number;
  readonly claim: Claim;
  readonly lock: MaybePromise<LockState>;
  readonly account: MaybePromise<Extension | undefined>;
}

/** A digest whose response matched: confirm() consumes its nc and records the success (or finds it replayed). */
export class Proof {
  constructor(
    /** The account the digest proved. */
    readonly account: Extension,
    readonly claim: Claim,
    readonly viaGrace: boolean,
    readonly ctx: FailureContext,
    readonly source: AuthSource,
    readonly device: string,
    readonly now: number,
  ) {}
}

/** A binding update committed together with a proof (ProvenWrites.bindings). */
export interface ProvenBindings {
  aor: string;
  list: Binding[];
  expectedVersion: number;
}

/** What claim checking found before any store read: the claim, or the failure to record (no-credentials: none). */
type ClaimCheck = Claim | { reason: 'no-credentials' } | { reason: Exclude<DigestFailure, 'locked' | 'no-credentials'>; ctx: FailureContext };

/** Digest challenge and verification for SIP requests (RFC 3261 §22, RFC 7616, RFC 8760). */
export class DigestAuthenticator {
  private readonly config: Config['auth'];
  private readonly accounts: AccountStore;
  private readonly proven: ProvenStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly issuer: NonceIssuer;
  private readonly guard: LockoutGuard;
  private readonly isScanner: (userAgent: string | undefined) => boolean;
  private readonly nonceTtlMs: number;
  /** Which algorithms each client is offered (auth.algorithms, challengePolicy, downgrade protection). */
  private readonly policy: ChallengePolicy;
  /** Per algorithm list and realm, per algorithm: [text before the nonce, text after it, text after it with stale=true]. */
  private readonly prefixes = new Map<string, Array<[string, string, string]>>();
  private readonly failureCounters: Record<AuthFailureReason, Counter>;
  private readonly successCounters: Record<DigestAlgorithm, { current: Counter; grace: Counter }>;
  private readonly lockoutCounter: Counter;
  private readonly banCounter: Counter;
  private readonly onProven: ((source: AuthSource) => void) | undefined;

  constructor(deps: AuthenticatorDeps) {
    this.config = deps.config;
    this.accounts = deps.stores.accounts;
    this.proven = deps.stores.proven ?? sequentialProven(deps.stores.nonces, deps.stores.lockouts);
    this.clock = deps.clock;
    this.log = deps.logger;
    this.issuer = new NonceIssuer(deps.nonceSecret, deps.config.nonceTtlSeconds);
    this.guard = new LockoutGuard(deps.stores.lockouts, deps.config);
    this.isScanner = createScannerMatcher(deps.config.scannerUserAgents);
    this.nonceTtlMs = deps.config.nonceTtlSeconds * 1000;
    this.policy = new ChallengePolicy(deps.config);
    // Label sets bound once (STYLE.md §5), not on every increment.
    const m = deps.metrics;
    const fail = (r: AuthFailureReason): Counter => m.authFailures.labels(r);
    this.failureCounters = {
      'bad-password': fail('bad-password'),
      'stale-nonce': fail('stale-nonce'),
      replay: fail('replay'),
      'stale-credential': fail('stale-credential'),
      locked: fail('locked'),
      banned: fail('banned'),
      'unknown-user': fail('unknown-user'),
      scanner: fail('scanner'),
      malformed: fail('malformed'),
    };
    const ok = (a: DigestAlgorithm) => ({ current: m.authSuccesses.labels(a, 'current'), grace: m.authSuccesses.labels(a, 'grace') });
    this.successCounters = { MD5: ok('MD5'), 'SHA-256': ok('SHA-256') };
    this.lockoutCounter = m.lockouts;
    this.banCounter = m.bans;
    this.onProven = deps.onProven;
  }

  /** The LockoutGuard, for operator unlock/unban (CLI and API share the store's keys through it). */
  get lockouts(): LockoutGuard {
    return this.guard;
  }

  /**
   * Before anything else is done with a request: 'scanner' (User-Agent matches auth.scannerUserAgents) or 'banned'
   * (source banned) mean drop silently. One store read for the ban (a value on the embedded store); scanners cost no I/O.
   */
  precheck(sourceIp: string, userAgent: string | undefined): MaybePromise<Verdict> {
    if (this.isScanner(userAgent)) {
      this.failureCounters.scanner.inc();
      this.log.debug({ event: 'auth.drop', reason: 'scanner', ip: sourceIp });
      return 'scanner';
    }
    return chain(this.guard.bannedUntil(sourceIp, this.clock.now()), (until) => this.banVerdict(sourceIp, until));
  }

  private banVerdict(sourceIp: string, bannedUntil: number): Verdict {
    if (bannedUntil <= 0) return 'ok';
    this.failureCounters.banned.inc();
    this.log.debug({ event: 'auth.drop', reason: 'banned', ip: sourceIp });
    return 'banned';
  }

  /**
   * WWW-Authenticate (or Proxy-Authenticate) values for `realm`: one per algorithm offered to `to` (offerFor), sharing
   * one fresh nonce bound to its source, each `Digest realm="…", nonce="…", algorithm=…, qop="auth"` plus
   * `, stale=true` when `stale`.
   */
  challenge(realm: string, stale: boolean, to: ChallengeTarget): string[] {
    const parts = this.prefixesFor(realm, this.policy.offerFor(to));
    const nonce = this.issuer.mintNonce(this.clock.now(), sourceBinding(to.source));
    const out = new Array<string>(parts.length);
    for (let i = 0; i < parts.length; i++) out[i] = parts[i][0] + nonce + (stale ? parts[i][2] : parts[i][1]);
    return out;
  }

  /**
   * The response to a failed digest, as DIGEST_FAILURES says: a fresh challenge for `realm` (stale=true where the row
   * says so), 403 while locked, 400 for malformed credentials; worded for `by` (AS_SEEN_BY).
   */
  refusal(reason: DigestFailure, realm: string, by: Challenger, to: ChallengeTarget): SipAnswer {
    const rule: FailureRule = DIGEST_FAILURES[reason];
    const words = AS_SEEN_BY[by];
    if (rule.status === 401) {
      const challenges = this.challenge(realm, rule.stale === true, to);
      const headers = new Array<string>(challenges.length);
      for (let i = 0; i < challenges.length; i++) headers[i] = words.header + challenges[i];
      return { status: words.challenge, reason: words.challengeReason, headers };
    }
    if (rule.status === 403) return { status: 403, reason: 'Forbidden (locked)' };
    return { status: 400, reason: words.malformed };
  }

  /**
   * Verifies the request's digest. Order: pick the credential for `realm` (SHA-256 preferred) -> syntax -> lock for
   * this source -> nonce MAC/age -> account -> response (current, previous in grace, previous after grace) -> nc
   * replay -> success (trust the source, reset its own counter). Fails with StoreUnavailable if a store is down.
   * A value when every store answered with one (the embedded store: no promise on the REGISTER path), else a promise.
   */
  authenticate(input: AuthenticateInput): MaybePromise<DigestOutcome> {
    return chain(this.prove(input), (p) => (p instanceof Proof ? chain(this.confirm(p), (c) => c.outcome) : p));
  }

  /**
   * Issues the reads authenticate() will need for `input` (lock state, account) without waiting for them, so that they
   * leave with the caller's reads (one pipeline); undefined when the credentials alone decide (nothing to read). Writes
   * nothing: a rejected read is left to the prove() that uses it.
   */
  readAhead(input: AuthenticateInput): AuthReads | undefined {
    const now = this.clock.now();
    const claim = this.checkClaim(input, now);
    if (!('nonceState' in claim)) return undefined;
    const lock = quiet(this.guard.check(claim.tenant.code, claim.ext, claim.bound, now));
    const account = quiet(this.accounts.getExtension(claim.tenant.code, claim.ext));
    return { realm: input.realm, tenant: claim.tenant, now, claim, lock, account };
  }

  /**
   * authenticate() up to the response check, with no write on success: a Proof for confirm(), or the failed outcome.
   * `ahead` (readAhead()) is used when it was made for the same tenant and realm as `input`, else read again.
   */
  prove(input: AuthenticateInput, ahead?: AuthReads): MaybePromise<Proof | DigestRefusal> {
    const usable = ahead !== undefined && ahead.realm === input.realm && sameTenant(ahead.tenant, input.tenant);
    const now = usable ? ahead.now : this.clock.now();
    const claim = usable ? ahead.claim : this.claim(input, now);
    if (!('nonceState' in claim)) return claim;
    const { tenant, ext, bound } = claim;
    const device = deviceKey(tenant.code, ext, input.userAgent);
    if (claim.algorithm !== 'SHA-256' && this.policy.isStrong(device)) {
      // This device answered SHA-256 before: a weaker answer is challenged again with SHA-256 only, nothing counted.
      this.log.debug({ event: 'auth.downgrade_refused', tenant: tenant.code, ext, ip: claim.ip, algorithm: claim.algorithm });
      return { ok: false, reason: 'no-credentials' };
    }
    // The lock state and the account are read together (one Redis round trip); the account is ignored while locked.
    const lock = usable ? ahead.lock : this.guard.check(tenant.code, ext, bound, now);
    const account = usable ? ahead.account : this.accounts.getExtension(tenant.code, ext);
    return chain2(lock, account, (l, a) => {
      const checked = this.verify(claim, l, a, now);
      if (!('account' in checked)) return checked;
      return new Proof(checked.account, claim, checked.viaGrace, checked.ctx, input.source, device, now);
    });
  }

  /**
   * The proof's nc consumed and its success recorded (trust the source, clear its own counter and lock), with
   * `bindings` written in the same step when given (Stores.proven: one Redis round trip for all of a REGISTER's
   * writes). outcome: success, or the replay failure (nothing written); result: what the store did.
   */
  confirm(p: Proof, bindings?: ProvenBindings): MaybePromise<{ outcome: DigestOutcome; result: ProvenResult }> {
    const { claim } = p;
    const writes = {
      nonce: claim.nonce,
      nc: claim.nc,
      ncTtlMs: this.nonceTtlMs,
      sequence: nonceSequence(claim.nonce),
      ...this.guard.successWrites(claim.tenant.code, claim.ext, claim.bound),
      bindings,
    };
    return chain(this.proven.commit(writes, p.now), (result) => {
      if (result === 'replay') return chain(this.fail('replay', p.ctx), (outcome) => ({ outcome, result }));
      this.onProven?.(p.source);
      if (claim.algorithm === 'SHA-256') this.policy.rememberStrong(p.device);
      return { outcome: this.succeeded(claim, p), result };
    });
  }

  /** The credential's syntax and whose it claims to be, before any store is read; or the outcome when that fails. */
  private claim(input: AuthenticateInput, now: number): Claim | MaybePromise<DigestRefusal> {
    const c = this.checkClaim(input, now);
    if ('nonceState' in c) return c;
    if (c.reason === 'no-credentials') return { ok: false, reason: 'no-credentials' };
    return this.fail(c.reason, c.ctx);
  }

  /** claim() without its side effects: the claim, or the failure it must record. */
  private checkClaim(input: AuthenticateInput, now: number): ClaimCheck {
    const ip = input.source.address;
    const bound = sourceBinding(input.source);
    const picked = this.pickCredential(input.credentials, input.realm, this.policy.offerFor({ userAgent: input.userAgent, tenant: input.tenant?.code }));
    if (picked === undefined) return { reason: 'no-credentials' };
    const { algorithm, params } = picked;
    const username = params.get('username');
    const nonce = params.get('nonce');
    const uri = params.get('uri');
    const response = params.get('response');
    const cnonce = params.get('cnonce');
    const ncText = params.get('nc');
    const nc = ncText === undefined ? -1 : parseNonceCount(ncText);
    // RFC 2617 §3.2.2: qop MUST be sent when the challenge offered it, and ours always does; without qop there is no
    // nc, so accepting the RFC 2069 form would drop replay protection.
    if (!username || !nonce || !uri || !response || !cnonce || nc < 0 || params.get('qop')?.toLowerCase() !== 'auth') {
      return { reason: 'malformed', ctx: { ip, bound, user: username } };
    }
    const nonceState = this.issuer.checkNonce(nonce, now, bound);
    const isShared = this.config.sharedDomain !== '' && input.realm === this.config.sharedDomain;
    const identity = resolveIdentity(username, input.realm, this.config.sharedDomain);
    const tenant = input.tenant;
    if (tenant === undefined || (isShared && identity.tenantCode !== tenant.code) || (!isShared && input.realm !== tenant.domain)) {
      // No tenant owns this identity: nothing to lock, but the attempt counts toward the source's ban, and only with a
      // nonce issued to this source (a forged source address cannot ban the phone that really owns it).
      if (nonceState !== 'ok') return { reason: 'stale-nonce', ctx: { ip, bound, user: username, nonce: nonceState } };
      return { reason: 'unknown-user', ctx: { ip, bound, user: username, subject: { unowned: `${input.realm}:${username}` } } };
    }
    return {
      ip, bound, tenant, ext: identity.ext, isShared, algorithm, method: input.method, uri, nonce, nc, ncText: ncText!, cnonce, response,
      nonceState,
    };
  }

  /** Lock, nonce and response checked against the account just read: the account when they pass, else the outcome. */
  private verify(
    claim: Claim,
    lock: LockState,
    account: Extension | undefined,
    now: number,
  ): { account: Extension; viaGrace: boolean; ctx: FailureContext } | MaybePromise<DigestRefusal> {
    const { tenant, ext, ip, bound, algorithm, isShared } = claim;
    const ctx: FailureContext = { ip, bound, user: ext, tenant: tenant.code, subject: { tenant: tenant.code, ext, trusted: lock.trusted } };
    if (lock.lockedUntil > 0) {
      this.failureCounters.locked.inc();
      this.log.debug({ event: 'auth.failure', reason: 'locked', tenant: tenant.code, ext, ip, trusted: lock.trusted });
      return { ok: false, reason: 'locked', lockedUntil: lock.lockedUntil };
    }
    if (claim.nonceState !== 'ok') {
      // A nonce we cannot verify (tampered, another deployment's, a rotated secret) is answered like an old one:
      // a fresh challenge; the response was not evaluated. The log tells the two apart.
      return this.fail('stale-nonce', { ...ctx, nonce: claim.nonceState });
    }
    // No lock entry for a name that is no extension (DIGEST_FAILURES 'unknown-user'): the ban counts it as unowned.
    if (account === undefined) return this.fail('unknown-user', { ...ctx, subject: { unowned: `${tenant.code}:${ext}` } });
    const currentHa1 = pickHa1(account.cred, algorithm, isShared);
    if (currentHa1 === undefined) return this.fail('unknown-user', ctx);

    const digest: ResponseInput = {
      algorithm, ha1: currentHa1, method: claim.method, uri: claim.uri, nonce: claim.nonce, nc: claim.ncText, cnonce: claim.cnonce, qop: 'auth',
    };
    digest.ha2 = ha2(algorithm, claim.method, claim.uri);
    if (verifyResponse(digest, claim.response)) return { account, viaGrace: false, ctx };
    const prevHa1 = account.prevCred === undefined ? undefined : pickHa1(account.prevCred, algorithm, isShared);
    if (prevHa1 === undefined || !verifyResponse({ ...digest, ha1: prevHa1 }, claim.response)) return this.fail('bad-password', ctx);
    if (account.graceUntil === undefined || now >= account.graceUntil) {
      this.log.info({ event: 'auth.stale_credential', tenant: tenant.code, ext, ip, algorithm });
      return this.fail('stale-credential', ctx);
    }
    // Only a correct response may consume an nc (the caller's next step): otherwise anyone who saw the nonce could
    // burn the phone's counts.
    return { account, viaGrace: true, ctx };
  }

  private succeeded(claim: Claim, checked: { account: Extension; viaGrace: boolean }): DigestOutcome {
    const counters = this.successCounters[claim.algorithm];
    if (checked.viaGrace) {
      counters.grace.inc();
      this.log.debug({
        event: 'auth.grace_credential_used', tenant: claim.tenant.code, ext: claim.ext, ip: claim.ip, graceUntil: checked.account.graceUntil,
      });
    } else {
      counters.current.inc();
    }
    return { ok: true, ext: checked.account, algorithm: claim.algorithm, viaGrace: checked.viaGrace };
  }

  /** Counts, logs and records one failure as DIGEST_FAILURES says. */
  private fail(reason: Exclude<DigestFailure, 'locked' | 'no-credentials'>, ctx: FailureContext): MaybePromise<DigestRefusal> {
    const rule: FailureRule = DIGEST_FAILURES[reason];
    if (rule.metric !== null) this.failureCounters[rule.metric].inc();
    this.log.debug({ event: 'auth.failure', reason, tenant: ctx.tenant, user: ctx.user, ip: ctx.ip, nonce: ctx.nonce });
    const subject = ctx.subject;
    if (subject === undefined || !(rule.countsTowardLockout || rule.countsTowardBan)) return { ok: false, reason };
    return chain(this.guard.recordFailure(ctx.ip, ctx.bound, subject, this.clock.now(), rule), (effect) => {
      if (effect.lockStartedUntil > 0 && !('unowned' in subject)) {
        this.lockoutCounter.inc();
        this.log.warn({
          event: 'auth.lockout.start',
          tenant: subject.tenant,
          ext: subject.ext,
          ip: ctx.ip,
          scope: subject.trusted ? 'source' : 'extension',
          until: new Date(effect.lockStartedUntil).toISOString(),
        });
      }
      if (effect.banStartedUntil > 0) {
        this.banCounter.inc();
        this.log.warn({ event: 'auth.ban.start', ip: ctx.ip, until: new Date(effect.banStartedUntil).toISOString() });
      }
      return { ok: false, reason };
    });
  }

  /**
   * The credential for `realm` with an algorithm of auth.algorithms or of the client's challengePolicy offer
   * (`offered`), preferring configured order, then offer order; undefined if none.
   */
  private pickCredential(
    credentials: DigestCredentials[],
    realm: string,
    offered: readonly DigestAlgorithm[],
  ): { algorithm: DigestAlgorithm; params: Map<string, string> } | undefined {
    let best: { algorithm: DigestAlgorithm; params: Map<string, string> } | undefined;
    let bestRank = Infinity;
    for (const c of credentials) {
      if (c.scheme.length !== 6 || c.scheme.toLowerCase() !== 'digest') continue;
      if (c.params.get('realm') !== realm) continue;
      const algorithm = parseDigestAlgorithm(c.params.get('algorithm'));
      if (algorithm === undefined) continue;
      const configured = this.policy.algorithms.indexOf(algorithm);
      const rank = configured >= 0 ? configured : offered.includes(algorithm) ? this.policy.algorithms.length + offered.indexOf(algorithm) : -1;
      if (rank >= 0 && rank < bestRank) {
        best = { algorithm, params: c.params };
        bestRank = rank;
      }
    }
    return best;
  }

  private prefixesFor(realm: string, algorithms: readonly DigestAlgorithm[]): Array<[string, string, string]> {
    const key = algorithms.length === 2 ? realm : `${algorithms.join(',')}\n${realm}`;
    let parts = this.prefixes.get(key);
    if (parts === undefined) {
      // Realms come from tenants and config, so the map stays small; the cap only guards against a caller bug.
      if (this.prefixes.size >= 10_000) this.prefixes.clear();
      const quoted = realm.replace(/["\\]/g, '\\$&');
      const hint = this.config.md5OpaqueHint && algorithms.includes('MD5');
      parts = algorithms.map((a): [string, string, string] => {
        // The opaque hint: SIPp 3.6 reads the first "algorithm=" anywhere in the text; see config auth.md5OpaqueHint.
        const after = `"${hint && a !== 'MD5' ? ', opaque="algorithm=MD5"' : ''}, algorithm=${a}, qop="auth"`;
        return [`Digest realm="${quoted}", nonce="`, after, `${after}, stale=true`];
      });
      this.prefixes.set(key, parts);
    }
    return parts;
  }
}

function quiet<T>(v: MaybePromise<T>): MaybePromise<T> {
  if (v instanceof Promise) v.catch(() => {});
  return v;
}

function sameTenant(a: Tenant, b: Tenant | undefined): boolean {
  return b !== undefined && a.code === b.code && a.domain === b.domain;
}

/** The HA1 for an algorithm and identity (tenant realm or shared domain); undefined when not provisioned. */
function pickHa1(set: CredentialSet, algorithm: DigestAlgorithm, isShared: boolean): string | undefined {
  if (isShared) return algorithm === 'MD5' ? set.sharedMd5 : set.sharedSha256;
  return algorithm === 'MD5' ? set.md5 : set.sha256;
}

/** nc is exactly 8 hex digits (RFC 7616 §3.4); returns its value, or -1 when malformed. No regex on the hot path. */
function parseNonceCount(text: string): number {
  if (text.length !== 8) return -1;
  let n = 0;
  for (let i = 0; i < 8; i++) {
    const c = text.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}
