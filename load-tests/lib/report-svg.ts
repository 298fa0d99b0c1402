// Line charts as standalone SVG text for the load-test reports (load-tests/lib/report.ts): one category per step on the
// x axis (or, with xValues, each step at its number on a linear x axis: a curve against phones registered), one
// polyline with a marker per step for each series, linear or log10 y axis. Writing the report is report.ts's.
// Own code rather than a chart library: four chart kinds of one shape, and an SVG string is what both the HTML page
// (inline, no network) and the PNG (Chromium screenshots the element) need, with no DOM or bundling step.

export interface ChartSeries {
  name: string;
  /** One value per category; undefined leaves a gap (no marker, the line breaks). */
  values: Array<number | undefined>;
  /** A reference line (the offered rate): grey, dashed, no markers. */
  reference?: boolean;
  /** Dashed, with markers: the second figure of a series that shares its colour (p99 beside p50). */
  dashed?: boolean;
  /** Index into the palette; default the series' position. */
  colour?: number;
}

export interface ChartSpec {
  /** Used for the SVG's id and the PNG's file name. */
  id: string;
  title: string;
  /** A second, smaller line under the title: what was measured (a PNG travels without its page). */
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** The x axis, one label per step, evenly spaced in this order (with xValues: each step's name in its tooltips). */
  categories: string[];
  /**
   * Each category's place on a linear x axis from 0 (phones registered), instead of even spacing; the ticks are then
   * round numbers, and a series' line joins its points across categories it has no value at.
   */
  xValues?: number[];
  series: ChartSeries[];
  /** A small grey line under the chart: when and where it was measured (a PNG travels without its page). */
  note?: string;
  /** Default linear from 0; log for values spanning decades (latency from 1 ms to seconds). */
  yScale?: 'linear' | 'log';
}

export const CHART_WIDTH = 760;
export const CHART_HEIGHT = 400;
/** The plot area inside the SVG: room for the title and legend above, tick labels left and below. */
export const PLOT = { left: 78, right: CHART_WIDTH - 24, top: 84, bottom: CHART_HEIGHT - 62 } as const;

/** Okabe-Ito: tells apart for the common colour blindnesses, and prints legibly in grey. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

/** Ticks from 0 to at least max at a 1, 2 or 5 x 10^n step, about `count` of them. */
export function linearTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(roundTo(v, step));
  if (ticks.at(-1)! < max) ticks.push(roundTo(ticks.at(-1)! + step, step));
  return ticks;
}

/** Powers of ten from below min to above max (min > 0). */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  return Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
}

function roundTo(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  return Number(v.toFixed(digits));
}

/** 12000 -> "12k", 0.5 -> "0.5": tick labels stay short. */
export function formatTick(v: number): string {
  if (Math.abs(v) >= 1e6) return `${trim(v / 1e6)}M`;
  if (Math.abs(v) >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(4)));
}

function colourOf(s: ChartSeries, index: number): string {
  return s.reference ? '#777777' : COLOURS[(s.colour ?? index) % COLOURS.length]!;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The x pixel of category i of n: the categories sit at the centres of n equal slots. */
export function xOf(i: number, n: number): number {
  const slot = (PLOT.right - PLOT.left) / n;
  return PLOT.left + slot * (i + 0.5);
}

/** A function from category i to its x pixel, with the x axis' ticks (undefined: the categories' own labels). */
export function xAxis(spec: ChartSpec): { ticks: number[] | undefined; x: (i: number) => number } {
  const n = spec.categories.length;
  if (spec.xValues === undefined) return { ticks: undefined, x: (i) => xOf(i, n) };
  const values = spec.xValues;
  const ticks = linearTicks(Math.max(0, ...values.filter((v) => Number.isFinite(v))));
  const right = ticks.at(-1)!;
  return { ticks, x: (i) => PLOT.left + (values[i]! / right) * (PLOT.right - PLOT.left) };
}

/** A function from a value to its y pixel, with the axis ticks; log axes drop values <= 0. */
export function yAxis(spec: ChartSpec): { ticks: number[]; y: (v: number) => number } {
  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const height = PLOT.bottom - PLOT.top;
  if (spec.yScale === 'log') {
    const positive = values.filter((v) => v > 0);
    const ticks = logTicks(positive.length ? Math.min(...positive) : 1, positive.length ? Math.max(...positive) : 10);
    const lo = Math.log10(ticks[0]!);
    const hi = Math.log10(ticks.at(-1)!);
    return { ticks, y: (v) => PLOT.bottom - ((Math.log10(v) - lo) / (hi - lo)) * height };
  }
  const ticks = linearTicks(Math.max(0, ...values));
  const top = ticks.at(-1)!;
  return { ticks, y: (v) => PLOT.bottom - (v / top) * height };
}

/** The chart as one <svg> element (white background, fonts the page and Chromium both have). */
export function renderLineChart(spec: ChartSpec): string {
  const { ticks, y } = yAxis(spec);
  const { ticks: xTicks, x } = xAxis(spec);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" id="chart-${escapeXml(spec.id)}" class="chart" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" ` +
      `viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect width="${CHART_WIDTH}" height="${CHART_HEIGHT}" fill="#ffffff"/>`,
    `<text x="${PLOT.left}" y="22" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  if (spec.subtitle) out.push(`<text x="${PLOT.left}" y="42" font-size="12" fill="#555">${escapeXml(spec.subtitle)}</text>`);
  // Grid and y tick labels.
  for (const t of ticks) {
    const ty = y(t).toFixed(1);
    out.push(
      `<line class="grid" x1="${PLOT.left}" x2="${PLOT.right}" y1="${ty}" y2="${ty}" stroke="#e3e3e3"/>`,
      `<text class="ytick" x="${PLOT.left - 8}" y="${ty}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`,
    );
  }
  // Axes.
  out.push(
    `<line x1="${PLOT.left}" x2="${PLOT.left}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="#444"/>`,
    `<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${PLOT.bottom}" y2="${PLOT.bottom}" stroke="#444"/>`,
  );
  const xTick = (px: number, label: string) =>
    out.push(
      `<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${PLOT.bottom}" y2="${PLOT.bottom + 5}" stroke="#444"/>`,
      `<text class="xtick" x="${px.toFixed(1)}" y="${PLOT.bottom + 19}" text-anchor="middle">${escapeXml(label)}</text>`,
    );
  if (xTicks === undefined) spec.categories.forEach((c, i) => xTick(x(i), c));
  else for (const t of xTicks) xTick(PLOT.left + (t / xTicks.at(-1)!) * (PLOT.right - PLOT.left), formatTick(t));
  out.push(
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${CHART_HEIGHT - 24}" text-anchor="middle" fill="#333">${escapeXml(spec.xLabel)}</text>`,
    // A long label gets a smaller font rather than running off the plot's height (~0.6 em per character).
    `<text transform="translate(18 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle" fill="#333" ` +
      `font-size="${Math.min(12, Math.floor((PLOT.bottom - PLOT.top + 60) / (0.6 * spec.yLabel.length)))}">${escapeXml(spec.yLabel)}</text>`,
  );
  if (spec.note) out.push(`<text x="${CHART_WIDTH - 8}" y="${CHART_HEIGHT - 4}" text-anchor="end" font-size="10" fill="#888">${escapeXml(spec.note)}</text>`);
  // Series: a polyline per unbroken run of values, a marker per value with its exact figure as a tooltip.
  spec.series.forEach((s, si) => {
    const colour = colourOf(s, si);
    out.push(`<g class="series${s.reference ? ' reference' : ''}" data-name="${escapeXml(s.name)}" stroke="${colour}" fill="${colour}">`);
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1) {
        out.push(`<polyline fill="none" stroke-width="2"${s.reference || s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${run.join(' ')}"/>`);
      }
      run = [];
    };
    s.values.forEach((v, i) => {
      if (v === undefined || !Number.isFinite(v) || (spec.yScale === 'log' && v <= 0)) return spec.xValues === undefined ? flush() : undefined;
      const px = x(i).toFixed(1);
      const py = y(v).toFixed(1);
      run.push(`${px},${py}`);
      if (!s.reference) {
        out.push(
          `<circle class="point" cx="${px}" cy="${py}" r="4" data-value="${v}"><title>${escapeXml(`${s.name} at ${spec.categories[i]}: ${trim(v)}`)}</title></circle>`,
        );
      }
    });
    flush();
    out.push('</g>');
  });
  // Legend, one row above the plot.
  let lx = PLOT.left;
  spec.series.forEach((s, si) => {
    const colour = colourOf(s, si);
    out.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="64" y2="64" stroke="${colour}" stroke-width="2"${s.reference || s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 28}" y="64" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
    lx += 40 + 7 * s.name.length;
  });
  out.push('</svg>');
  return out.join('\n');
}
