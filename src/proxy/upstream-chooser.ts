// One upstream per extension: chosen among the healthy ones by priority then weight, kept in the
// store while it is healthy, moved when it goes down (or on a failed request), optionally moved back later.
// Health is upstream-set.ts's; the shared record is store/'s UpstreamChoiceStore.
import type { Clock } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { UpstreamChoiceStore } from '../store/types.ts';
import type { Upstream, UpstreamSet } from './upstream-set.ts';

export interface UpstreamChooserOptions {
  set: UpstreamSet;
  store: UpstreamChoiceStore;
  clock: Clock;
  logger: Logger;
  /** proxy.moveBackAfterSeconds in ms; 0 = never move back. */
  moveBackMs: number;
  /** Counts each move of an extension from one upstream to another. */
  moves: { inc(): void };
}

/**
 * Decisions:
 * - The first choice, and every move, is a weighted rendezvous hash of the AOR over the healthy upstreams of the best
 *   priority (weight 0 = never chosen unless it is the only one). It spreads extensions by weight, and two nodes that
 *   race for the same AOR nearly always pick the same upstream before the compare-and-set settles it anyway.
 * - The store decides: whatever compare-and-set leaves in force is used, so all nodes send an extension to one place.
 * - An upstream that is down is replaced at the extension's next request (lazily; nothing scans all extensions).
 */
export class UpstreamChooser {
  constructor(private readonly o: UpstreamChooserOptions) {}

  /** The upstream for aor's next request; undefined when none is healthy. */
  async choose(aor: string): Promise<Upstream | undefined> {
    const set = this.o.set;
    const healthy = set.healthy();
    if (healthy.length === 0) return undefined;
    const cur = await this.o.store.get(aor);
    if (cur !== undefined) {
      const u = set.get(cur.upstream);
      if (u !== undefined && set.upSince(u.uri) >= 0) {
        if (this.o.moveBackMs <= 0 || healthy[0]!.priority >= u.priority) return u;
        const best = pick(aor, healthy);
        if (set.upSince(best.uri) + this.o.moveBackMs > this.o.clock.now()) return u;
        return await this.move(aor, cur.upstream, best, 'move-back');
      }
    }
    return await this.move(aor, cur?.upstream, pick(aor, healthy), cur === undefined ? 'first' : 'down');
  }

  /**
   * The request to `failed` timed out or got 503: the extension moves to another healthy upstream,
   * once. Returns it, or undefined when no other is healthy.
   */
  async failover(aor: string, failed: Upstream): Promise<Upstream | undefined> {
    const others = this.o.set.healthy().filter((u) => u.uri !== failed.uri);
    if (others.length === 0) return undefined;
    const next = await this.move(aor, failed.uri, pick(aor, others), 'failover');
    return next.uri === failed.uri ? undefined : next;
  }

  /** Compare-and-set from `expected` to `next`; the upstream in force afterwards (another node's choice when it won). */
  private async move(aor: string, expected: string | undefined, next: Upstream, why: string): Promise<Upstream> {
    const set = this.o.set;
    const inForce = await this.o.store.compareAndSet(aor, expected, { upstream: next.uri, since: this.o.clock.now() });
    if (inForce.upstream === next.uri) {
      if (expected !== undefined) {
        this.o.moves.inc();
        this.o.logger.debug({ event: 'upstream.move', aor, from: expected, to: next.uri, reason: why });
      }
      return next;
    }
    const theirs = set.get(inForce.upstream);
    if (theirs !== undefined && set.upSince(theirs.uri) >= 0) return theirs;
    // Another node stored an upstream that is not healthy here (stale view, or removed from config): replace it.
    const again = await this.o.store.compareAndSet(aor, inForce.upstream, { upstream: next.uri, since: this.o.clock.now() });
    return set.get(again.upstream) ?? next;
  }
}

/** Weighted rendezvous (highest random weight) choice among the best-priority upstreams of `healthy` (sorted). */
export function pick(aor: string, healthy: readonly Upstream[]): Upstream {
  const top = healthy[0]!.priority;
  let best = healthy[0]!;
  let bestScore = Infinity;
  for (const u of healthy) {
    if (u.priority !== top) break;
    // -ln(h)/w: the smallest wins; h in (0,1) from a hash of aor and uri.
    const w = u.weight > 0 ? u.weight : 1e-9;
    const score = -Math.log(hash01(aor + '\n' + u.uri)) / w;
    if (score < bestScore) {
      bestScore = score;
      best = u;
    }
  }
  return best;
}

/** FNV-1a 32-bit of s mapped into (0, 1). */
function hash01(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Avalanche (murmur3 finaliser), so near-equal inputs spread.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) + 0.5) / 4294967296;
}
