// A Prometheus counter whose hot-path increment is a plain number add: label sets are bound once to a cell, and the
// totals are copied into the prom-client Counter only when /metrics is scraped (collect()).
// Exposition, names and help text stay prom-client's; metrics.ts declares which counters exist.
import { Counter, type Registry } from 'prom-client';

/** One bound label set: `inc()` costs one addition (prom-client's own labels().inc() hashes the labels each call). */
export interface CounterCell {
  inc(n?: number): void;
}

class Cell implements CounterCell {
  n = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(n = 1): void {
    this.n += n;
  }
}

export class FastCounter<L extends string = never> {
  private readonly cells = new Map<string, Cell>();
  private readonly labelNames: readonly L[];
  private readonly unlabelled: Cell;
  private readonly prom: Counter<L>;

  constructor(opts: { name: string; help: string; labelNames?: readonly L[]; registers: Registry[] }) {
    this.labelNames = opts.labelNames ?? [];
    this.unlabelled = new Cell({});
    const cells = this.cells;
    const unlabelled = this.unlabelled;
    const hasLabels = this.labelNames.length > 0;
    this.prom = new Counter({
      name: opts.name,
      help: opts.help,
      labelNames: this.labelNames as L[],
      registers: opts.registers,
      collect() {
        this.reset();
        if (!hasLabels) {
          this.inc(unlabelled.n);
          return;
        }
        for (const c of cells.values()) if (c.n > 0) this.inc(c.labels as Partial<Record<L, string>>, c.n);
      },
    });
  }

  /** The cell for these label values (in labelNames order); bind it once and keep it. No labels: the counter's own. */
  labels(...values: string[]): CounterCell {
    if (this.labelNames.length === 0) return this.unlabelled;
    const key = values.join('\u0000');
    let c = this.cells.get(key);
    if (c === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
      c = new Cell(labels);
      this.cells.set(key, c);
    }
    return c;
  }

  /** Increment a counter without labels. */
  inc(n = 1): void {
    this.unlabelled.n += n;
  }

  /** The values as prom-client reports them (after collect): `{ values: [{ labels, value }] }`. */
  get(): ReturnType<Counter<L>['get']> {
    return this.prom.get();
  }

  /** Current total over all label sets (tests and benchmarks). */
  total(): number {
    let t = this.unlabelled.n;
    for (const c of this.cells.values()) t += c.n;
    return t;
  }
}
