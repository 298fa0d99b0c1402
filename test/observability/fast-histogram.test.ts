// FastHistogram: observations on bound cells, exposed through prom-client's registry as a histogram family.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { cellsByFinalClass, FastHistogram, finalClassIndex } from '../../src/observability/fast-histogram.ts';

describe('FastHistogram', () => {
  it('counts each observation in its bucket and every wider one, with _sum and _count', async () => {
    const registry = new Registry();
    const h = new FastHistogram({ name: 'demo_seconds', help: 'x', labelNames: ['method'] as const, buckets: [0.01, 0.1, 1], registers: [registry] });
    const cell = h.labels('REGISTER');
    for (const v of [0.005, 0.01, 0.05, 0.5, 3]) cell.observe(v);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE demo_seconds histogram');
    expect(text).toMatch(/^demo_seconds_bucket\{method="REGISTER",le="0.01"\} 2$/m);
    expect(text).toMatch(/^demo_seconds_bucket\{method="REGISTER",le="0.1"\} 3$/m);
    expect(text).toMatch(/^demo_seconds_bucket\{method="REGISTER",le="1"\} 4$/m);
    expect(text).toMatch(/^demo_seconds_bucket\{method="REGISTER",le="\+Inf"\} 5$/m);
    expect(text).toMatch(/^demo_seconds_sum\{method="REGISTER"\} 3.565$/m);
    expect(text).toMatch(/^demo_seconds_count\{method="REGISTER"\} 5$/m);
    expect(h.labels('REGISTER')).toBe(cell);
  });

  it('binds one cell per final status class, 2xx to 6xx', async () => {
    const registry = new Registry();
    const h = new FastHistogram({ name: 'demo_final_seconds', help: 'x', labelNames: ['status_class'] as const, buckets: [1], registers: [registry] });
    const cells = cellsByFinalClass(h);
    for (const status of [200, 302, 404, 486, 503, 603]) cells[finalClassIndex(status)]!.observe(0.5);
    const text = await registry.metrics();
    for (const [cls, n] of [['2xx', 1], ['3xx', 1], ['4xx', 2], ['5xx', 1], ['6xx', 1]] as const) {
      expect(text).toMatch(new RegExp(`^demo_final_seconds_count\\{status_class="${cls}"\\} ${n}$`, 'm'));
    }
  });
});
