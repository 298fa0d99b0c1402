// Ordering and retention rules shared by both MediaStore implementations (memory/media.ts and redis/media.ts).
// The interface itself is in types.ts.
import type { MediaVersion } from './types.ts';

/** Version records kept per tenant/class (the active one is never dropped). */
export const VERSIONS_KEPT = 20;
/** Retired versions whose artifacts stay stored per tenant/class; older ones are deleted at activation. */
export const RETIRED_ARTIFACTS_KEPT = 2;

/** Newest first (by createdAt, then id). */
export function newestFirst(a: MediaVersion, b: MediaVersion): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1);
}

/** Status listing order: tenant, class, newest first. */
function listingOrder(a: MediaVersion, b: MediaVersion): number {
  return a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : a.cls < b.cls ? -1 : a.cls > b.cls ? 1 : newestFirst(a, b);
}

/**
 * The active and pending versions of each tenant/class of `all` (what plays and what is about to), plus at most
 * `limit` newest others per tenant/class, in listing order.
 */
export function limitPerSlot(all: MediaVersion[], limit: number): MediaVersion[] {
  const counts = new Map<string, number>();
  return [...all]
    .sort(newestFirst)
    .filter((v) => {
      if (v.status === 'active' || v.status === 'pending') return true;
      const k = `${v.tenant}|${v.cls}`;
      const n = counts.get(k) ?? 0;
      counts.set(k, n + 1);
      return n < limit;
    })
    .sort(listingOrder);
}
