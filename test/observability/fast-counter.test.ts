// FastCounter: hot-path increments on bound cells, exposed through prom-client at scrape time.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounter } from '../../src/observability/fast-counter.ts';
import { Metrics } from '../../src/observability/metrics.ts';

describe('FastCounter', () => {
  it('exposes a counter without labels whether it is incremented directly or through its bound cell', async () => {
    const registry = new Registry();
    const c = new FastCounter({ name: 'demo_packets_total', help: 'x', registers: [registry] });
    const cell = c.labels();
    cell.inc(40);
    cell.inc();
    c.inc(2);
    expect(await registry.metrics()).toMatch(/^demo_packets_total 43$/m);
    cell.inc(7);
    expect(await registry.metrics()).toMatch(/^demo_packets_total 50$/m);
    expect(c.total()).toBe(50);
  });

  it('exposes each bound label set with its own total, and none that was never incremented', async () => {
    const registry = new Registry();
    const c = new FastCounter({ name: 'demo_responses_total', help: 'x', labelNames: ['status'] as const, registers: [registry] });
    c.labels('200').inc(3);
    c.labels('401').inc();
    c.labels('401').inc();
    c.labels('403');
    const text = await registry.metrics();
    expect(text).toMatch(/^demo_responses_total\{status="200"\} 3$/m);
    expect(text).toMatch(/^demo_responses_total\{status="401"\} 2$/m);
    expect(text).not.toContain('status="403"');
  });

  it('reports the hold-music packet, skipped-frame and late-tick counters the scheduler binds once', async () => {
    const m = new Metrics();
    m.mohPackets.labels().inc(100);
    m.mohSkippedFrames.labels().inc(2);
    m.mohLateTicks.labels().inc();
    const text = await m.registry.metrics();
    expect(text).toMatch(/^sipedge_moh_rtp_packets_total 100$/m);
    expect(text).toMatch(/^sipedge_moh_skipped_frames_total 2$/m);
    expect(text).toMatch(/^sipedge_moh_late_ticks_total 1$/m);
  });
});
