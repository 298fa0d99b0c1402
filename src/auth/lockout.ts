// Lockout and ban policy over the LockoutStore: which key a failure counts on, who is locked, who is banned, scanners.
// Counting, expiry and atomicity are the store's (memory or Redis); deciding what a failure is belongs to authenticator.ts.
import type { Config } from '../config/schema.ts';
import { chain, chain2, type MaybePromise } from '../store/maybe-promise.ts';
import type { BanPolicy, LockoutPolicy, LockoutStore, ProvenWrites } from '../store/types.ts';

// The anti-weaponisation rule (DESIGN.md "Lockout"):
//
//   A source that proved the password of an extension within auth.lockout.trustSeconds is TRUSTED for that
//   extension. A source is a transport, address and port (nonce.ts sourceBinding): the phone's UDP socket or NAT
//   mapping, or its TCP/TLS/WebSocket connection. Failures from untrusted sources count on, and are locked by, the
//   extension-wide key `ext:<tenant>:<ext>`. A trusted source ignores that key: it counts on, and is locked by, its
//   own key `ext:<tenant>:<ext>|src:<source>`.
//
// So a stranger hammering 1001 from 127.0.0.2 locks 1001 for every untrusted source, while the phone at 127.0.0.1
// that registered before keeps registering; and that phone, if it starts failing itself (a changed password typed
// wrong), locks only itself. A success resets only the succeeding source's own key: the phone's next refresh must not
// hand a stranger a new set of guesses. A stranger behind the same NAT as the phone has another port, so it shares
// neither the phone's trust nor its lock; and since every nonce is bound to the source it was issued to, a digest sent
// with the phone's address forged (from any port) is answered with a fresh challenge and counts against no one.
//
// Every counted failure is also recorded against the source IP (recordSourceFailure, one entry per distinct
// extension key). A source that failed on auth.ban.maxExtensions distinct extensions within the window is banned.

/** The extension-wide lockout key. */
export function extensionKey(tenant: string, ext: string): string {
  return `ext:${tenant}:${ext}`;
}

/** The per-(extension, source) lockout key used for trusted sources; `source` is a sourceBinding. */
export function sourceKey(tenant: string, ext: string, source: string): string {
  return `ext:${tenant}:${ext}|src:${source}`;
}

/** How an extension's lock applies to one source right now. */
export interface LockState {
  /** The source proved the password within trustSeconds. */
  trusted: boolean;
  /** ms epoch until which this source may not authenticate for the extension; 0 = not locked. */
  lockedUntil: number;
}

/** What a failure is about: an extension of a tenant (with the source's trust), or an identity no tenant owns. */
export type FailureSubject = { tenant: string; ext: string; trusted: boolean } | { unowned: string };

/** What recording one failure changed; 0 = nothing started. */
export interface FailureEffect {
  /** The failure started a lock (ms epoch end); on the extension key, or on the source key when trusted. */
  lockStartedUntil: number;
  /** The failure started a ban of the source (ms epoch end). */
  banStartedUntil: number;
}

/** The lockout/ban policy for one edge; constructed once with the store and the config slice. */
export class LockoutGuard {
  private readonly lockout: LockoutPolicy;
  private readonly ban: BanPolicy;
  private readonly trustMs: number;

  constructor(
    private readonly store: LockoutStore,
    config: Pick<Config['auth'], 'lockout' | 'ban'>,
  ) {
    this.lockout = {
      maxFailures: config.lockout.maxFailures,
      windowMs: config.lockout.windowSeconds * 1000,
      lockMs: config.lockout.lockSeconds * 1000,
    };
    this.ban = {
      maxExtensions: config.ban.maxExtensions,
      windowMs: config.ban.windowSeconds * 1000,
      banMs: config.ban.banSeconds * 1000,
    };
    this.trustMs = config.lockout.trustSeconds * 1000;
  }

  /**
   * Whether `source` (a sourceBinding) may attempt `tenant`/`ext` now: its trust and the lock that applies to it, in
   * one store read (one Redis command); a value on the embedded store, like every method here that the request path calls.
   */
  check(tenant: string, ext: string, source: string, now: number): MaybePromise<LockState> {
    return this.store.lockState(extensionKey(tenant, ext), source, sourceKey(tenant, ext, source), now);
  }

  /**
   * Records one failure of `source` (a sourceBinding) at address `ip`: for a tenant's extension, on the extension key
   * (untrusted source) or the source key (trusted) when `countsTowardLockout`; and against the address for bans when
   * `countsTowardBan`, keyed by the extension key (or `unowned:<identity>` for identities no tenant owns). Both writes
   * are issued together. Assumes the caller saw the key unlocked just before (check()), so any lock reported now is
   * one this failure started.
   */
  recordFailure(
    ip: string,
    source: string,
    subject: FailureSubject,
    now: number,
    counts: { countsTowardLockout: boolean; countsTowardBan: boolean },
  ): MaybePromise<FailureEffect> {
    let lockKey: string | undefined;
    let banKey: string;
    if ('unowned' in subject) {
      banKey = `unowned:${subject.unowned}`;
    } else {
      banKey = extensionKey(subject.tenant, subject.ext);
      lockKey = subject.trusted ? sourceKey(subject.tenant, subject.ext, source) : banKey;
    }
    const lockWrite = counts.countsTowardLockout && lockKey !== undefined ? this.store.recordFailure(lockKey, now, this.lockout) : undefined;
    const banWrite = counts.countsTowardBan ? this.store.recordSourceFailure(ip, banKey, now, this.ban) : undefined;
    return chain2(lockWrite, banWrite, (lock, ban) => ({
      lockStartedUntil: lock !== undefined && lock.lockedUntil > now ? lock.lockedUntil : 0,
      banStartedUntil: ban !== undefined && ban.bannedUntil > now ? ban.bannedUntil : 0,
    }));
  }

  /**
   * What `source` (a sourceBinding) proving the password writes (with the nonce count, ProvenWrites): trust it for
   * trustSeconds and clear its own counter and lock (not the extension's).
   */
  successWrites(tenant: string, ext: string, source: string): Pick<ProvenWrites, 'trustKey' | 'source' | 'trustMs' | 'ownKey'> {
    return { trustKey: extensionKey(tenant, ext), source, trustMs: this.trustMs, ownKey: sourceKey(tenant, ext, source) };
  }

  /** ms epoch until which the extension-wide lock (the one strangers meet) holds; 0 when unlocked. */
  extensionLockedUntil(tenant: string, ext: string, now: number): MaybePromise<number> {
    return chain(this.store.lockedUntil(extensionKey(tenant, ext), now), (until) => (until > now ? until : 0));
  }

  /** ms epoch until which `ip` is banned; 0 when it is not. */
  bannedUntil(ip: string, now: number): MaybePromise<number> {
    return chain(this.store.bannedUntil(ip, now), (until) => (until > now ? until : 0));
  }

  /**
   * Operator unlock (CLI/API): clears the extension-wide lock and every per-source lock of the extension (a trusted
   * phone that locked itself is freed too).
   */
  async unlock(tenant: string, ext: string): Promise<void> {
    await this.store.unlockAll(extensionKey(tenant, ext));
  }

  /** Operator unban (CLI/API). */
  async unban(ip: string): Promise<void> {
    await this.store.unban(ip);
  }
}

/**
 * A matcher for scanner User-Agents: true when `userAgent` contains any of `patterns`, case-insensitively
 * (config auth.scannerUserAgents). The patterns are lower-cased once here; the UA once per call.
 */
export function createScannerMatcher(patterns: readonly string[]): (userAgent: string | undefined) => boolean {
  const lowered = patterns.map((p) => p.toLowerCase());
  return (userAgent) => {
    if (userAgent === undefined || userAgent === '' || lowered.length === 0) return false;
    const ua = userAgent.toLowerCase();
    for (const p of lowered) if (ua.includes(p)) return true;
    return false;
  };
}
