// LockoutStore of the embedded store: sliding-window failure counts, locks, trusted (key, source) pairs, bans.
// The policy (what counts, when to ask) is auth/'s; a CLI's unlock/unban travels through the journal (index.ts).
import type { BanPolicy, LockoutPolicy, LockoutStore } from '../types.ts';
import { ExpiryBuckets } from './expiry-buckets.ts';

interface KeyState {
  /** Failure times inside the window, oldest first; never longer than maxFailures. */
  failures: number[];
  lockedUntil: number;
  /** When this entry stops mattering (end of lock and of window); ms epoch. */
  staleAt: number;
}

interface SourceState {
  /** Distinct keys this source failed on -> last failure time. */
  keys: Map<string, number>;
  bannedUntil: number;
  staleAt: number;
}

/** Sends a command to the running edge (CLI role). */
export interface LockoutForwarder {
  unlock(key: string): Promise<void>;
  unlockAll(key: string): Promise<void>;
  unban(source: string): Promise<void>;
}

/**
 * Volatile lockout state of one edge, answered as values. recordFailure is a Map lookup and a push onto an array
 * bounded by maxFailures; entries are freed by the store's periodic sweep once their window and lock have passed. In
 * the CLI role the operator commands (unlock, unlockAll, unban) travel to the running edge as promises.
 */
export class MemoryLockoutStore implements LockoutStore {
  private readonly byKey = new Map<string, KeyState>();
  private readonly bySource = new Map<string, SourceState>();
  /** key + "\n" + source -> trusted until (ms epoch). */
  private readonly trusted = new Map<string, number>();
  private readonly keyExpiries = new ExpiryBuckets();
  private readonly sourceExpiries = new ExpiryBuckets();
  private readonly trustExpiries = new ExpiryBuckets();
  private readonly unbanListeners: ((source: string) => void)[] = [];

  constructor(private readonly forward?: LockoutForwarder) {}

  recordFailure(key: string, now: number, policy: LockoutPolicy): { failures: number; lockedUntil: number } {
    let s = this.byKey.get(key);
    if (s === undefined) {
      s = { failures: [], lockedUntil: 0, staleAt: 0 };
      this.byKey.set(key, s);
    }
    const times = s.failures;
    const windowStart = now - policy.windowMs;
    let drop = 0;
    while (drop < times.length && (times[drop] as number) <= windowStart) drop++;
    if (drop > 0) times.splice(0, drop);
    times.push(now);
    const failures = times.length;
    if (failures >= policy.maxFailures) {
      // Locked: the count starts again from zero, so the lock ending does not leave a primed counter behind.
      s.lockedUntil = Math.max(s.lockedUntil, now + policy.lockMs);
      times.length = 0;
    }
    const staleAt = Math.max(s.lockedUntil, now + policy.windowMs);
    if (staleAt > s.staleAt) {
      s.staleAt = staleAt;
      this.keyExpiries.add(key, staleAt);
    }
    return { failures, lockedUntil: s.lockedUntil > now ? s.lockedUntil : 0 };
  }

  lockedUntil(key: string, now: number): number {
    const until = this.byKey.get(key)?.lockedUntil ?? 0;
    return until > now ? until : 0;
  }

  unlock(key: string): void | Promise<void> {
    if (this.forward !== undefined) return this.forward.unlock(key);
    this.unlockNow(key);
  }

  /** Clears a key's lock and failures in this process (the edge applying a CLI's unlock). */
  unlockNow(key: string): void {
    this.byKey.delete(key);
  }

  async unlockAll(key: string): Promise<void> {
    if (this.forward !== undefined) return this.forward.unlockAll(key);
    this.unlockAllNow(key);
  }

  /** unlockNow for `key` and every `key|...` (operator action: one pass over the live lock entries). */
  unlockAllNow(key: string): void {
    this.byKey.delete(key);
    const below = key + '|';
    for (const k of this.byKey.keys()) if (k.startsWith(below)) this.byKey.delete(k);
  }

  trust(key: string, source: string, now: number, ttlMs: number): void {
    const until = now + ttlMs;
    const k = key + '\n' + source;
    this.trusted.set(k, until);
    this.trustExpiries.add(k, until);
  }

  isTrusted(key: string, source: string, now: number): boolean {
    const until = this.trusted.get(key + '\n' + source);
    return until !== undefined && until > now;
  }

  lockState(key: string, source: string, ownKey: string, now: number): { trusted: boolean; lockedUntil: number } {
    const trusted = this.isTrusted(key, source, now);
    return { trusted, lockedUntil: this.lockedUntil(trusted ? ownKey : key, now) };
  }

  recordSourceFailure(source: string, key: string, now: number, policy: BanPolicy): { distinct: number; bannedUntil: number } {
    let s = this.bySource.get(source);
    if (s === undefined) {
      s = { keys: new Map(), bannedUntil: 0, staleAt: 0 };
      this.bySource.set(source, s);
    }
    s.keys.set(key, now);
    const windowStart = now - policy.windowMs;
    for (const [k, at] of s.keys) if (at <= windowStart) s.keys.delete(k);
    const distinct = s.keys.size;
    if (distinct >= policy.maxExtensions) {
      s.bannedUntil = Math.max(s.bannedUntil, now + policy.banMs);
      s.keys.clear();
    }
    const staleAt = Math.max(s.bannedUntil, now + policy.windowMs);
    if (staleAt > s.staleAt) {
      s.staleAt = staleAt;
      this.sourceExpiries.add(source, staleAt);
    }
    return { distinct, bannedUntil: s.bannedUntil > now ? s.bannedUntil : 0 };
  }

  bannedUntil(source: string, now: number): number {
    const until = this.bySource.get(source)?.bannedUntil ?? 0;
    return until > now ? until : 0;
  }

  async unban(source: string): Promise<void> {
    if (this.forward !== undefined) return this.forward.unban(source);
    this.unbanNow(source);
  }

  /** Lifts a source's ban in this process (the edge applying a CLI's unban). */
  unbanNow(source: string): void {
    this.bySource.delete(source);
    for (const l of this.unbanListeners) l(source);
  }

  onUnban(listener: (source: string) => void): void {
    this.unbanListeners.push(listener);
  }

  /** Frees entries whose window, lock, ban or trust has passed; called by the store's one sweep interval. */
  sweep(now: number): void {
    this.keyExpiries.drain(now, (key) => {
      const s = this.byKey.get(key);
      if (s !== undefined && s.staleAt <= now) this.byKey.delete(key);
    });
    this.sourceExpiries.drain(now, (source) => {
      const s = this.bySource.get(source);
      if (s !== undefined && s.staleAt <= now) this.bySource.delete(source);
    });
    this.trustExpiries.drain(now, (k) => {
      const until = this.trusted.get(k);
      if (until !== undefined && until <= now) this.trusted.delete(k);
    });
  }
}
