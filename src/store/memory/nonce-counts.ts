// NonceCountStore of the embedded store: highest nc seen per nonce, forgotten after its ttl.
// Nonce issue and staleness are auth/'s; this only refuses replays (RFC 7616 §3.4: nc must grow).
import type { NonceCountStore } from '../types.ts';
import { ExpiryBuckets } from './expiry-buckets.ts';

interface Entry {
  nc: number;
  expiresAt: number;
}

/** One Map lookup per check; the entry is updated in place; the store's sweep frees expired ones. */
export class MemoryNonceCountStore implements NonceCountStore {
  private readonly byNonce = new Map<string, Entry>();
  private readonly expiries = new ExpiryBuckets();

  async checkAndSet(nonce: string, nc: number, now: number, ttlMs: number): Promise<boolean> {
    return this.checkAndSetSync(nonce, nc, now, ttlMs);
  }

  checkAndSetSync(nonce: string, nc: number, now: number, ttlMs: number): boolean {
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

  /** Frees expired entries; called by the store's one sweep interval. */
  sweep(now: number): void {
    this.expiries.drain(now, (nonce) => {
      const e = this.byNonce.get(nonce);
      if (e !== undefined && e.expiresAt <= now) this.byNonce.delete(nonce);
    });
  }
}
