// UpstreamChoiceStore of the embedded store: one Map entry per AOR, volatile like bindings (one edge process).
// Choosing and moving are proxy/'s; Redis shares the choice between nodes (redis/upstream-choices.ts).
import type { UpstreamChoice, UpstreamChoiceStore } from '../types.ts';

/**
 * In-process chosen upstreams. Compare-and-set is trivially atomic: the check and the write happen in one
 * synchronous step. Lost on restart, which is harmless: the proxy chooses again among the healthy upstreams.
 */
export class MemoryUpstreamChoiceStore implements UpstreamChoiceStore {
  private readonly byAor = new Map<string, UpstreamChoice>();

  async get(aor: string): Promise<UpstreamChoice | undefined> {
    return this.byAor.get(aor);
  }

  async compareAndSet(aor: string, expected: string | undefined, next: UpstreamChoice): Promise<UpstreamChoice> {
    const cur = this.byAor.get(aor);
    if (cur?.upstream !== expected) return cur ?? next;
    const stored = { upstream: next.upstream, since: next.since };
    this.byAor.set(aor, stored);
    return stored;
  }

  async remove(aor: string): Promise<void> {
    this.byAor.delete(aor);
  }

  async countByUpstream(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const c of this.byAor.values()) out.set(c.upstream, (out.get(c.upstream) ?? 0) + 1);
    return out;
  }
}
