// ProvenStore on Redis: a proven digest's nonce count, trust, own-lock clearing and binding update in one Lua script
// (scripts.ts PROVEN_COMMIT, sent with the turn's other commits: turn-batch.ts), so a REGISTER's writes cost one round
// trip. The keys are the concerns' own files'.
import type { ProvenResult, ProvenStore, ProvenWrites } from '../types.ts';
import { replaceArgs, type RedisBindingStore } from './bindings.ts';
import { guarded } from './connection.ts';
import { failKey, lockKey, trustKey } from './lockouts.ts';
import { ncKey } from './nonce-counts.ts';
import type { TurnBatch } from './turn-batch.ts';

const RESULTS: readonly ProvenResult[] = ['replay', 'stored', 'conflict'];

export class RedisProvenStore implements ProvenStore {
  constructor(
    private readonly batch: TurnBatch,
    private readonly bindings: RedisBindingStore,
  ) {}

  async commit(w: ProvenWrites, now: number): Promise<ProvenResult> {
    const keys: string[] = [ncKey(w.nonce), trustKey(w.trustKey, w.source), lockKey(w.ownKey), failKey(w.ownKey)];
    const args: (string | number)[] = [w.nc, now, w.ncTtlMs, now + w.ncTtlMs, now + w.trustMs, w.trustMs];
    const b = w.bindings;
    const written = b === undefined ? undefined : replaceArgs(b.aor, b.list, b.expectedVersion, now, keys, args);
    const result = RESULTS[await guarded(this.batch.provenCommit(keys, args))]!;
    if (result === 'stored' && b !== undefined) this.bindings.stored(b.aor, written!, now);
    return result;
  }
}
