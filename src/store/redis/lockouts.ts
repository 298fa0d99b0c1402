// LockoutStore on Redis: failure windows, locks, trust and source bans, each state change one Lua script.
// Values hold their own "until" so the caller's clock decides expiry; PX only frees memory. Lua is in scripts.ts.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { StoreUnavailable } from '../../errors.ts';
import type { BanPolicy, LockoutPolicy, LockoutStore } from '../types.ts';
import { guarded } from './connection.ts';
import { LastKnown, type LastKnownOptions } from './last-known.ts';
import type { TurnBatch } from './turn-batch.ts';

export const failKey = (key: string): string => `fail:${key}`;
export const lockKey = (key: string): string => `lock:${key}`;
const sourceKey = (source: string): string => `srcfail:${source}`;
const banKey = (source: string): string => `ban:${source}`;
/** Length-prefixed so no (key, source) pair can collide with another. */
export const trustKey = (key: string, source: string): string => `trust:${key.length}:${key}:${source}`;

/** Shared lockout state for all edge nodes. */
export class RedisLockoutStore implements LockoutStore {
  /** Unique per process, so failure members from different nodes at the same ms never collide. */
  private readonly memberPrefix = randomBytes(6).toString('base64url');
  private seq = 0;

  /** Each source's ban as last read here: the ban check still answers during an outage for the sources it saw. */
  private readonly knownBans: LastKnown<number>;
  private readonly unbanListeners: ((source: string) => void)[] = [];

  /** keyPrefix: the connection's key prefix (SCAN patterns and results carry it; commands add it themselves). */
  constructor(
    private readonly redis: Redis,
    /** The lock state and the ban, read with the turn's other reads. */
    private readonly batch: TurnBatch,
    private readonly keyPrefix = '',
    outageCache?: LastKnownOptions,
  ) {
    this.knownBans = new LastKnown(outageCache);
  }

  async recordFailure(key: string, now: number, policy: LockoutPolicy): Promise<{ failures: number; lockedUntil: number }> {
    const member = `${now}:${this.memberPrefix}:${++this.seq}`;
    const [failures, lockedUntil] = await guarded(
      this.redis.sipedgeRecordFailure(failKey(key), lockKey(key), now, policy.maxFailures, policy.windowMs, policy.lockMs, member),
    );
    return { failures: Number(failures), lockedUntil: Number(lockedUntil) };
  }

  async lockedUntil(key: string, now: number): Promise<number> {
    return untilOrZero(await guarded(this.redis.get(lockKey(key))), now);
  }

  async unlock(key: string): Promise<void> {
    await guarded(this.redis.del(lockKey(key), failKey(key)));
  }

  async unlockAll(key: string): Promise<void> {
    await this.unlock(key);
    const below = `${key}|`.replace(/[*?[\]\\]/g, '\\$&');
    for (const pattern of [lockKey(below), failKey(below)]) {
      let cursor = '0';
      do {
        const [next, keys] = await guarded(this.redis.scan(cursor, 'MATCH', `${this.keyPrefix}${pattern}*`, 'COUNT', 1000));
        if (keys.length > 0) await guarded(this.redis.del(...keys.map((k) => k.slice(this.keyPrefix.length))));
        cursor = next;
      } while (cursor !== '0');
    }
  }

  async trust(key: string, source: string, now: number, ttlMs: number): Promise<void> {
    await guarded(this.redis.set(trustKey(key, source), String(now + ttlMs), 'PX', ttlMs));
  }

  async isTrusted(key: string, source: string, now: number): Promise<boolean> {
    return untilOrZero(await guarded(this.redis.get(trustKey(key, source))), now) > 0;
  }

  async lockState(key: string, source: string, ownKey: string, now: number): Promise<{ trusted: boolean; lockedUntil: number }> {
    const [trust, keyLock, ownLock] = await guarded(this.batch.mget(trustKey(key, source), lockKey(key), lockKey(ownKey)));
    const trusted = untilOrZero(trust ?? null, now) > 0;
    return { trusted, lockedUntil: untilOrZero((trusted ? ownLock : keyLock) ?? null, now) };
  }

  async recordSourceFailure(source: string, key: string, now: number, policy: BanPolicy): Promise<{ distinct: number; bannedUntil: number }> {
    const [distinct, bannedUntil] = await guarded(
      this.redis.sipedgeRecordSourceFailure(sourceKey(source), banKey(source), now, policy.maxExtensions, policy.windowMs, policy.banMs, key),
    );
    return { distinct: Number(distinct), bannedUntil: Number(bannedUntil) };
  }

  /**
   * While Redis cannot be reached: the ban last read for `source`, or none. The ban check only filters before the
   * real work, and every step that proves a user needs Redis (and answers 503 without it); what passes it then is a
   * request that can be served from what is at hand, such as a PBX's call to a registered phone.
   */
  async bannedUntil(source: string, now: number): Promise<number> {
    let until: number;
    try {
      until = await this.knownBans.read(source, now, async () => untilOrZero(await guarded(this.batch.get(banKey(source))), now));
    } catch (e) {
      if (e instanceof StoreUnavailable) return 0;
      throw e;
    }
    return until > now ? until : 0;
  }

  /** The ban's keys deleted and the unban announced, in that order, in one write (one round trip). */
  async unban(source: string): Promise<void> {
    await guarded(Promise.all([this.redis.del(banKey(source), sourceKey(source)), this.redis.publish(unbanChannel(this.keyPrefix), source)]));
  }

  onUnban(listener: (source: string) => void): void {
    this.unbanListeners.push(listener);
  }

  /** A source named on the unban channel (index.ts subscribes in the edge role); every node hears each unban. */
  unbanned(source: string): void {
    this.knownBans.forget(source);
    for (const l of this.unbanListeners) l(source);
  }
}

function untilOrZero(value: string | null, now: number): number {
  if (value === null) return 0;
  const until = Number(value);
  return until > now ? until : 0;
}

/**
 * The Pub/Sub channel on which unbans are announced (channels are not keys: ioredis does not prefix them, so the
 * deployment's key prefix is added here).
 */
export function unbanChannel(keyPrefix: string): string {
  return `${keyPrefix}unban`;
}

