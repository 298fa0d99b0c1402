// ProvenStore on Redis: a proven digest's nonce count, trust, own-lock clearing and binding update in one Lua script
// (scripts.ts PROVEN_COMMIT), so a REGISTER's writes cost one round trip. The keys are the concerns' own files'.
import type { Redis } from 'ioredis';
import type { ProvenResult, ProvenStore, ProvenWrites } from '../types.ts';
import { replaceArgs, type RedisBindingStore } from './bindings.ts';
import { guarded } from './connection.ts';
import { failKey, lockKey, trustKey } from './lockouts.ts';
import { ncKey } from './nonce-counts.ts';

const RESULTS: readonly ProvenResult[] = ['replay', 'stored', 'conflict'];

export class RedisProvenStore implements ProvenStore {
  constructor(
    private readonly redis: Redis,
    private readonly bindings: RedisBindingStore,
  ) {}

  async commit(w: ProvenWrites, now: number): Promise<ProvenResult> {
    const keys: (string | number)[] = [ncKey(w.nonce), trustKey(w.trustKey, w.source), lockKey(w.ownKey), failKey(w.ownKey)];
    const args: (string | number)[] = [w.nc, now, w.ncTtlMs, now + w.ncTtlMs, now + w.trustMs, w.trustMs];
    const b = w.bindings;
    const live = b === undefined ? undefined : replaceArgs(b.aor, b.list, b.expectedVersion, now, keys, args);
    const result = RESULTS[await guarded(this.redis.sipedgeProvenCommit(keys.length, ...keys, ...args))]!;
    if (result === 'stored' && b !== undefined) this.bindings.stored(b.aor, live!, now);
    return result;
  }
}
