// A Prometheus histogram whose hot-path observation is a bucket search over a few bounds and three additions: label
// sets are bound once to a cell (as FastCounter does for counters); prom-client's registry renders the cells as a
// histogram family (_bucket, _sum, _count) when /metrics is scraped. prom-client's own Histogram hashes the label
// object on every observe(), which the SIP path should not pay per response.
import type { Metric, Registry } from 'prom-client';

/** One exposition line as prom-client's registry renders it. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** One bound label set. `observe()` takes seconds. */
export interface HistogramCell {
  observe(seconds: number): void;
}

class Cell implements HistogramCell {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above the highest bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export class FastHistogram<L extends string = never> {
  private readonly cells = new Map<string, Cell>();
  private readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];

  constructor(opts: { name: string; help: string; labelNames?: readonly L[]; buckets: readonly number[]; registers: Registry[] }) {
    this.labelNames = opts.labelNames ?? [];
    this.bounds = [...opts.buckets].sort((a, b) => a - b);
    const cells = this.cells;
    const bounds = this.bounds;
    const family = {
      name: opts.name,
      help: opts.help,
      type: 'histogram',
      aggregator: 'sum',
      get: () => ({ name: opts.name, help: opts.help, type: 'histogram', aggregator: 'sum', values: render(opts.name, bounds, cells.values()) }),
      // Zeroes the cells rather than dropping them: callers keep their bound cells.
      reset: () => {
        for (const c of cells.values()) c.reset();
      },
    };
    for (const r of opts.registers) r.registerMetric(family as unknown as Metric);
  }

  /** The cell for these label values (in labelNames order); bind it once and keep it. */
  labels(...values: string[]): HistogramCell {
    const key = values.join('\u0000');
    let c = this.cells.get(key);
    if (c === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
      c = new Cell(labels, this.bounds);
      this.cells.set(key, c);
    }
    return c;
  }
}

/** The exposition values of every cell: cumulative `le` buckets up to +Inf, then _sum and _count. */
function render(name: string, bounds: readonly number[], cells: Iterable<Cell>): Sample[] {
  const out: Sample[] = [];
  for (const c of cells) {
    let cumulative = 0;
    for (let i = 0; i <= bounds.length; i++) {
      cumulative += c.counts[i]!;
      out.push({ metricName: `${name}_bucket`, labels: { ...c.labels, le: i < bounds.length ? bounds[i]! : '+Inf' }, value: cumulative });
    }
    out.push({ metricName: `${name}_sum`, labels: c.labels, value: c.sum });
    out.push({ metricName: `${name}_count`, labels: c.labels, value: c.count });
  }
  return out;
}

/** The classes of final SIP responses, as `status_class` label values; index = status / 100 - 2. */
const FINAL_CLASSES = ['2xx', '3xx', '4xx', '5xx', '6xx'] as const;

/**
 * One bound cell per final status class (2xx..6xx) of `h`, after the `leading` label values: pick one with
 * `cells[finalClassIndex(status)]`.
 */
export function cellsByFinalClass<L extends string>(h: FastHistogram<L>, ...leading: string[]): HistogramCell[] {
  return FINAL_CLASSES.map((c) => h.labels(...leading, c));
}

/** Index into cellsByFinalClass() for a final status 200-699. */
export function finalClassIndex(status: number): number {
  return ((status / 100) | 0) - 2;
}
