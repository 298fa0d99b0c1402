// ProvenStore over the three concerns it touches (nonce counts, lockouts, bindings), one call after another: for
// stores that answer from this process (the embedded store), where nothing can come between the calls. The Redis
// store does the same in one Lua script (redis/proven.ts).
import { chain, chain3 } from './maybe-promise.ts';
import type { BindingStore, LockoutStore, NonceCountStore, ProvenResult, ProvenStore, ProvenWrites } from './types.ts';

/** The ProvenStore of `nonces`, `lockouts` and `bindings` (bindings absent: a commit with bindings throws). */
export function sequentialProven(nonces: NonceCountStore, lockouts: LockoutStore, bindings?: BindingStore): ProvenStore {
  return {
    commit(w: ProvenWrites, now: number) {
      return chain(nonces.checkAndSet(w.nonce, w.nc, now, w.ncTtlMs, w.sequence), (fresh) => {
        if (!fresh) return 'replay' as ProvenResult;
        const trusted = lockouts.trust(w.trustKey, w.source, now, w.trustMs);
        const unlocked = lockouts.unlock(w.ownKey);
        const b = w.bindings;
        if (b !== undefined && bindings === undefined) throw new Error('proven: a binding update needs a BindingStore');
        const stored = b === undefined ? true : bindings!.replace(b.aor, b.list, b.expectedVersion, now);
        return chain3(trusted, unlocked, stored, (_t, _u, ok): ProvenResult => (ok ? 'stored' : 'conflict'));
      });
    },
  };
}
