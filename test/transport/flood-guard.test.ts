// The flood guard on its own, on a hand-moved clock: budgets per source and transport, bans for sources that stay over
// budget, the larger budget of proven sources and upstreams, bounded tables given back by the sweep.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { ATTACK_DROPS, FloodGuard } from '../../src/transport/flood-guard.ts';

function guard(flood: Record<string, unknown> = {}) {
  let t = 1_000;
  const metrics = new Metrics();
  const config = configSchema.parse({ flood: { udp: { rate: 10, burst: 20 }, banDrops: 50, banWindowSeconds: 10, banSeconds: 60, provenFactor: 5, ...flood } }).flood;
  const g = new FloodGuard({ config, metrics, provenMs: 3_600_000, now: () => t });
  const count = (address: string, n: number, transport: 'udp' | 'tcp' = 'udp') => {
    let admitted = 0;
    for (let i = 0; i < n; i++) if (g.admit(address, transport)) admitted++;
    return admitted;
  };
  const metric = async (name: string, labels: Record<string, string>) => {
    const m = (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
    return m?.value ?? 0;
  };
  return { g, count, metric, metrics, advance: (ms: number) => (t += ms) };
}

describe('flood guard', () => {
  it('admits a burst per source, then the rate, and counts what it drops', async () => {
    const { count, metric, advance } = guard();
    expect(count('192.0.2.1', 30)).toBe(20);
    expect(count('192.0.2.2', 30)).toBe(20); // another source has its own bucket
    advance(1_000);
    expect(count('192.0.2.1', 30)).toBe(10);
    expect(await metric('sipedge_flood_dropped_total', { transport: 'udp', reason: 'over-budget' })).toBe(10 + 10 + 20);
  });

  it('keeps one budget per transport', () => {
    const { count } = guard();
    expect(count('192.0.2.1', 30, 'udp')).toBe(20);
    expect(count('192.0.2.1', 200, 'tcp')).toBe(100); // the default tcp budget
  });

  it('bans a source that stays over its budget, on every transport, until banSeconds pass', async () => {
    const { g, count, metric, advance } = guard();
    expect(count('198.51.100.9', 20 + 49)).toBe(20);
    expect(await metric('sipedge_flood_bans_total', { reason: 'flood' })).toBe(0);
    count('198.51.100.9', 1);
    expect(await metric('sipedge_flood_bans_total', { reason: 'flood' })).toBe(1);
    advance(30_000);
    expect(count('198.51.100.9', 5)).toBe(0);
    expect(count('198.51.100.9', 5, 'tcp')).toBe(0);
    expect(await metric('sipedge_flood_dropped_total', { transport: 'tcp', reason: 'banned' })).toBe(5);
    advance(30_000);
    expect(count('198.51.100.9', 5)).toBe(5);
    g.ban('198.51.100.9', 'scanner');
    expect(count('198.51.100.9', 1)).toBe(0);
    g.unban('198.51.100.9');
    expect(count('198.51.100.9', 1)).toBe(1);
  });

  it('gives proven sources and upstreams provenFactor times the budget', () => {
    const { g, count } = guard();
    g.markProven('192.0.2.10');
    expect(count('192.0.2.10', 200)).toBe(100);
    g.isUpstream = (a) => a === '203.0.113.5';
    expect(count('203.0.113.5', 200)).toBe(100);
    // A source proven while it has a bucket gets the larger budget from then on.
    expect(count('192.0.2.11', 20)).toBe(20);
    g.markProven('192.0.2.11');
    expect(count('192.0.2.11', 200)).toBe(0);
  });

  it('holds at most maxSources buckets and gives them back once the sources are idle', () => {
    const { g, count, advance } = guard({ maxSources: 64 });
    for (let i = 0; i < 1000; i++) expect(count(`10.0.${i >> 8}.${i & 255}`, 1)).toBe(1);
    expect(g.size).toBe(64);
    g.sweep();
    expect(g.size).toBe(64); // their window is still open
    advance(11_000);
    g.sweep();
    expect(g.size).toBe(0);
  });

  it('calls afterAttack once, at the first quiet sweep after an attack, and not for a few stray drops', () => {
    const { g, count, metrics, advance } = guard({ banDrops: 1_000_000 });
    let calls = 0;
    g.afterAttack = () => calls++;
    // A few drops (a phone over its budget for a moment) are no attack.
    count('192.0.2.1', 20 + 50);
    g.sweep();
    advance(10_000);
    g.sweep();
    expect(calls).toBe(0);
    // An attack: ATTACK_DROPS over-budget drops in one period (part of them at the guard, part at the transport).
    count('192.0.2.2', 20 + ATTACK_DROPS / 2);
    metrics.drops.labels('overload').inc(ATTACK_DROPS / 2);
    g.sweep();
    expect(calls).toBe(0); // still under attack
    count('192.0.2.3', 20 + 10); // it goes on, weaker
    advance(10_000);
    g.sweep();
    expect(calls).toBe(0);
    advance(10_000);
    g.sweep(); // a period without a drop: over
    expect(calls).toBe(1);
    advance(10_000);
    g.sweep();
    expect(calls).toBe(1);
  });

  it('does nothing when disabled', () => {
    const { count } = guard({ enabled: false });
    expect(count('192.0.2.1', 1000)).toBe(1000);
  });
});
