// BindingStore of the embedded store: each AOR's bindings in one Map entry with a version for compare-and-set.
// Bindings are volatile (edge memory only); a CLI's removeAll travels through the journal (index.ts wires it).
import type { Binding, BindingSet, BindingStore } from '../types.ts';
import { ExpiryBuckets } from './expiry-buckets.ts';

interface Entry {
  bindings: Binding[];
  version: number;
  /** Earliest expiresAt among `bindings`; ms epoch. */
  minExpiresAt: number;
}

/**
 * In-memory location service. get/replace are one Map lookup plus a small array copy, answered as values; expired bindings are
 * hidden on read and freed by the store's periodic sweep. Versions come from one counter for the whole store,
 * so a version is never reused, even after an AOR's bindings were removed and added again (no ABA).
 */
export class MemoryBindingStore implements BindingStore {
  private readonly byAor = new Map<string, Entry>();
  private readonly expiries = new ExpiryBuckets();
  private lastVersion = 0;

  /** @param forward set in the CLI role: sends removeAll to the running edge instead of acting here. */
  constructor(private readonly forward?: (aor: string) => Promise<void>) {}

  get(aor: string, now: number): BindingSet {
    const e = this.byAor.get(aor);
    if (e === undefined) return { bindings: [], version: 0 };
    if (e.minExpiresAt > now) return { bindings: e.bindings.slice(), version: e.version };
    return { bindings: e.bindings.filter((b) => b.expiresAt > now), version: e.version };
  }

  replace(aor: string, bindings: Binding[], expectedVersion: number, now: number): boolean {
    const e = this.byAor.get(aor);
    if ((e === undefined ? 0 : e.version) !== expectedVersion) return false;
    let minExpiresAt = Number.POSITIVE_INFINITY;
    let live = 0;
    for (const b of bindings) {
      if (b.expiresAt > now) {
        live++;
        if (b.expiresAt < minExpiresAt) minExpiresAt = b.expiresAt;
      }
    }
    if (live === 0) {
      this.byAor.delete(aor);
      return true;
    }
    const kept = live === bindings.length ? bindings.slice() : bindings.filter((b) => b.expiresAt > now);
    const version = ++this.lastVersion;
    if (e === undefined) {
      this.byAor.set(aor, { bindings: kept, version, minExpiresAt });
    } else {
      e.bindings = kept;
      e.version = version;
      e.minExpiresAt = minExpiresAt;
    }
    this.expiries.add(aor, minExpiresAt);
    return true;
  }

  async removeAll(aor: string): Promise<void> {
    if (this.forward !== undefined) return this.forward(aor);
    this.removeNow(aor);
  }

  /** Drops an AOR's bindings in this process (the edge applying a CLI's removeAll). */
  removeNow(aor: string): void {
    this.byAor.delete(aor);
  }

  async countActive(now: number): Promise<number> {
    let n = 0;
    for (const e of this.byAor.values()) {
      if (e.minExpiresAt > now) n += e.bindings.length;
      else for (const b of e.bindings) if (b.expiresAt > now) n++;
    }
    return n;
  }

  async aors(now: number): Promise<string[]> {
    const out: string[] = [];
    for (const [aor, e] of this.byAor) if (e.bindings.some((b) => b.expiresAt > now)) out.push(aor);
    return out;
  }

  /** Frees expired bindings; called by the store's one sweep interval. */
  sweep(now: number): void {
    this.expiries.drain(now, (aor) => {
      const e = this.byAor.get(aor);
      if (e === undefined || e.minExpiresAt > now) return;
      const kept = e.bindings.filter((b) => b.expiresAt > now);
      if (kept.length === 0) {
        this.byAor.delete(aor);
        return;
      }
      e.bindings = kept;
      e.minExpiresAt = Math.min(...kept.map((b) => b.expiresAt));
      this.expiries.add(aor, e.minExpiresAt);
    });
  }

  clear(): void {
    this.byAor.clear();
    this.expiries.clear();
  }
}
