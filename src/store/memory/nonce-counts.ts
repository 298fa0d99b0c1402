// NonceCountStore of the embedded store: highest nc seen per nonce. Nonce issue and staleness are auth/'s; this only
// refuses replays (RFC 7616 §3.4: nc must grow).
import type { NonceCountStore } from '../types.ts';
import { ExpiryBuckets } from './expiry-buckets.ts';

/**
 * Slots of the sequence table: a power of two above the nonces one process mints within a nonce's lifetime at the rates
 * the edge holds (20,000 REGISTER transactions/s = 10,000 nonces/s, x 300 s default ttl = 3 M). 36 MB of typed arrays,
 * allocated on first use; against ~150 bytes of Map entry, key string and object per nonce in the text table (3 M
 * nonces: ~450 MB of heap that every major GC marks).
 */
const SLOTS = 1 << 22;
const MASK = SLOTS - 1;

interface Entry {
  nc: number;
  expiresAt: number;
}

/**
 * Nonces with a sequence number (every nonce this process minted: the edge passes nonceSequence) live in a fixed table
 * indexed by sequence mod SLOTS: slot -> (sequence, highest nc). A slot taken by a later sequence means its earlier
 * nonce was minted more than SLOTS nonces ago (only at a rate the table is not sized for): that nonce is refused like a
 * replay, which the client answers by asking for a fresh challenge (stale=true). Nothing to sweep, nothing per nonce
 * on the heap. Nonces without one (tests, other callers) use a Map by text, freed by the sweep after ttlMs.
 */
export class MemoryNonceCountStore implements NonceCountStore {
  private readonly byNonce = new Map<string, Entry>();
  private readonly expiries = new ExpiryBuckets();
  /** Per slot: the sequence it holds, that nonce's highest nc, and 1 once the slot holds one. Made on first use. */
  private table: { sequences: Int32Array; counts: Uint32Array; used: Uint8Array } | undefined;

  checkAndSet(nonce: string, nc: number, now: number, ttlMs: number, sequence?: number): boolean {
    if (sequence !== undefined && (sequence | 0) === sequence) return this.checkAndSetSequence(sequence, nc);
    const expiresAt = now + ttlMs;
    const e = this.byNonce.get(nonce);
    if (e === undefined) {
      this.byNonce.set(nonce, { nc, expiresAt });
    } else {
      if (e.expiresAt > now && nc <= e.nc) return false;
      e.nc = nc;
      e.expiresAt = expiresAt;
    }
    this.expiries.add(nonce, expiresAt);
    return true;
  }

  private checkAndSetSequence(sequence: number, nc: number): boolean {
    this.table ??= { sequences: new Int32Array(SLOTS), counts: new Uint32Array(SLOTS), used: new Uint8Array(SLOTS) };
    const { sequences, counts, used } = this.table;
    const slot = sequence & MASK;
    if (used[slot] === 1) {
      const held = sequences[slot]!;
      if (held === sequence) {
        if (nc <= counts[slot]!) return false;
        counts[slot] = nc;
        return true;
      }
      // Wrap-around order of 32-bit sequences: a later nonce holds the slot, so this one's counts are gone.
      if (((sequence - held) | 0) < 0) return false;
    }
    used[slot] = 1;
    sequences[slot] = sequence;
    counts[slot] = nc;
    return true;
  }

  /** Frees expired entries of the text table; called by the store's one sweep interval. */
  sweep(now: number): void {
    this.expiries.drain(now, (nonce) => {
      const e = this.byNonce.get(nonce);
      if (e !== undefined && e.expiresAt <= now) this.byNonce.delete(nonce);
    });
  }
}
