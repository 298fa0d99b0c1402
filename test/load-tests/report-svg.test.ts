// The report's chart renderer on known data: tick labels, where each marker lands, gaps, the log axis, a numeric x axis,
// the nearest-rank percentiles the latency chart draws and the median over rounds that run-against and run-redis chart
// (load-tests/lib/report-svg.ts, load-tests/lib/report.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTick, linearTicks, PLOT, renderLineChart, xOf, type ChartSpec } from '../../load-tests/lib/report-svg.ts';
import { LoadReport, latencySummary, medianOverRounds, type ReportStep } from '../../load-tests/lib/report.ts';

/** Every marker of the series named `name`: its centre and the value it carries. */
function points(svg: string, name: string): Array<{ cx: number; cy: number; value: number }> {
  const group = new RegExp(`<g class="series[^"]*" data-name="${name}"[^>]*>([\\s\\S]*?)</g>`).exec(svg);
  expect(group, `series ${name}`).not.toBeNull();
  return [...group![1]!.matchAll(/<circle class="point" cx="([\d.]+)" cy="([\d.]+)" r="4" data-value="([\d.e+-]+)">/g)].map((m) => ({
    cx: Number(m[1]),
    cy: Number(m[2]),
    value: Number(m[3]),
  }));
}

const yTicks = (svg: string) => [...svg.matchAll(/<text class="ytick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
const xTicks = (svg: string) => [...svg.matchAll(/<text class="xtick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe('report charts (SVG)', () => {
  const rates: ChartSpec = {
    id: 'rate',
    title: 'Achieved against offered rate',
    xLabel: 'offered tx/s',
    yLabel: 'tx/s',
    categories: ['4000', '8000', '12000'],
    series: [
      { name: 'offered', values: [4000, 8000, 12000], reference: true },
      { name: 'achieved', values: [3990, 7000, 0] },
    ],
  };

  it('puts one marker per step at its category and value on a 0-based axis with round ticks', () => {
    const svg = renderLineChart(rates);
    // 12000 / 5 ticks = 2400 a step, rounded up to 5000 (1, 2 or 5 x 10^n): the axis ends at 15000.
    expect(yTicks(svg)).toEqual(['0', '5k', '10k', '15k']);
    expect(xTicks(svg)).toEqual(['4000', '8000', '12000']);
    const got = points(svg, 'achieved');
    expect(got.map((p) => p.value)).toEqual([3990, 7000, 0]);
    // Evenly spaced slots across the plot; 0 on the x axis, 7000 at 7/15 of the height.
    expect(got.map((p) => p.cx)).toEqual([0, 1, 2].map((i) => Number(xOf(i, 3).toFixed(1))));
    expect(got[0]!.cx).toBeCloseTo(PLOT.left + (PLOT.right - PLOT.left) / 6, 0);
    expect(got[2]!.cy).toBeCloseTo(PLOT.bottom, 1);
    expect(got[1]!.cy).toBeCloseTo(PLOT.bottom - (7000 / 15000) * (PLOT.bottom - PLOT.top), 0);
    // The offered line is a reference: dashed, no markers of its own.
    expect(points(svg, 'offered')).toEqual([]);
    expect(svg).toMatch(/data-name="offered"[^>]*>\s*<polyline fill="none" stroke-width="2" stroke-dasharray="6 4"/);
  });

  it('leaves a gap where a step has no figure', () => {
    const svg = renderLineChart({ ...rates, series: [{ name: 'cpu', values: [40, undefined, 60] }] });
    expect(points(svg, 'cpu').map((p) => p.value)).toEqual([40, 60]);
    // Two runs of one point each: nothing to join.
    expect(svg).not.toContain('<polyline');
  });

  it('draws latency on a log axis: one decade per tick, equal steps apart', () => {
    const svg = renderLineChart({ ...rates, yScale: 'log', series: [{ name: 'p99', values: [1, 10, 1000] }] });
    expect(yTicks(svg)).toEqual(['1', '10', '100', '1k']);
    const [a, b, c] = points(svg, 'p99');
    expect(a!.cy).toBeCloseTo(PLOT.bottom, 1);
    expect(c!.cy).toBeCloseTo(PLOT.top, 1);
    expect(a!.cy - b!.cy).toBeCloseTo((PLOT.bottom - PLOT.top) / 3, 0);
  });

  it('places steps at their number on a numeric x axis and joins a series across steps it has no value at', () => {
    const svg = renderLineChart({
      ...rates,
      categories: ['a', 'b', 'c', 'd'],
      xValues: [1000, 4000, 10_000, 10_000],
      series: [{ name: 'rss', values: [100, undefined, 300, 310] }],
    });
    // Round ticks from 0 over the phone counts, not the categories' labels.
    expect(xTicks(svg)).toEqual(['0', '2k', '4k', '6k', '8k', '10k']);
    const got = points(svg, 'rss');
    const width = PLOT.right - PLOT.left;
    expect(got.map((p) => p.cx)).toEqual([1000, 10_000, 10_000].map((v) => Number((PLOT.left + (v / 10_000) * width).toFixed(1))));
    // One line through the three points: the missing value is not a gap on a numeric axis.
    expect(svg.match(/<polyline/g)).toHaveLength(1);
  });

  it('takes per series and step the median over the rounds, held when most rounds held it', () => {
    const step = (series: string, x: string, achieved: number, held: boolean, extra?: Record<string, number>): ReportStep => ({
      series, x, offered: Number(x), achieved, held, cpuUs: achieved / 100, sipp: [`sipp/${series}-${x}-${achieved}-stat.csv`], ...(extra ? { extra } : {}),
    });
    const rounds = [
      step('memory', '1000', 990, true), step('redis', '1000', 980, true, { commands: 4 }),
      step('memory', '1000', 1000, true), step('redis', '1000', 600, false, { commands: 6 }),
      step('memory', '1000', 995, true), step('redis', '1000', 970, true, { commands: 5 }),
      step('memory', '2000', 1900, false),
    ];
    const got = medianOverRounds(rounds);
    expect(got.map((s) => [s.series, s.x, s.achieved, s.held, s.row])).toEqual([
      ['memory', '1000', 995, true, { rounds: 3, heldRounds: 3 }],
      ['redis', '1000', 970, true, { rounds: 3, heldRounds: 2 }],
      ['memory', '2000', 1900, false, { rounds: 1, heldRounds: 0 }],
    ]);
    expect(got[1]!.extra).toEqual({ commands: 5 });
    expect(got[1]!.cpuUs).toBe(9.7);
    expect(got[0]!.sipp).toHaveLength(3);
  });

  it('escapes text and keeps tick labels short', () => {
    const svg = renderLineChart({ ...rates, title: 'a <b> & "c"' });
    expect(svg).toContain('a &lt;b&gt; &amp; &quot;c&quot;');
    expect(linearTicks(24_000)).toEqual([0, 5000, 10000, 15000, 20000, 25000]);
    expect(formatTick(25_000)).toBe('25k');
    expect(formatTick(0.5)).toBe('0.5');
  });

  it('takes nearest-rank percentiles of response times', () => {
    const ms = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1, unsorted
    expect(latencySummary(ms)).toEqual({ samples: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(latencySummary([])).toBeUndefined();
  });
  it('keeps two samples of one series at the same x as two points (a curve sampled twice in one second)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-report-'));
    try {
      const report = new LoadReport('dup', 'two samples at one x', dir).describe('', { title: '', xLabel: 'phones', rateUnit: 'phones', cpuLabel: 'µs', latencyLabel: 'ms' });
      for (const memoryMb of [100, 120, 130]) report.addStep({ series: 'edge', x: memoryMb === 100 ? '10 phones' : '300 phones', xValue: memoryMb === 100 ? 10 : 300, memoryMb });
      const memory = report.charts().find((c) => c.id === 'memory')!;
      expect(memory.series[0]!.values).toEqual([100, 120, 130]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
