// The load-test report every runner writes: reports/<UTC stamp>-<name>/ with SIPp's raw files (sipp/), summary.json
// (machine, command, every step's figures and the runner's own rows), index.html with inline SVG charts and a PNG of
// each chart rendered by Debian's Chromium; plus the progress line on stderr. Charts are drawn by report-svg.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { renderLineChart, type ChartSpec } from './report-svg.ts';
import { median } from './stats.ts';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Debian's Chromium; playwright-core never downloads a browser of its own here. */
const CHROMIUM = '/usr/bin/chromium';

/** The parseArgs option every runner takes, and its usage lines (the description starting at `column`). */
export const REPORT_OPTION = { 'report-dir': { type: 'string' } } as const;
export function reportUsage(column: number): string {
  const pad = ' '.repeat(column);
  return `${'  --report-dir DIR'.padEnd(column)}write the report (SIPp files, summary.json, index.html, PNG charts)\n${pad}into DIR (default: reports/<UTC stamp>-<runner>/ in the repository)`;
}

export interface Latency {
  samples: number;
  p50: number;
  /** Absent where the measuring tool does not give it (the hold-music receiver: p50, p99, p99.9). */
  p90?: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of response times in ms; undefined without samples. */
export function latencySummary(ms: number[]): Latency | undefined {
  if (ms.length === 0) return undefined;
  const sorted = Float64Array.from(ms).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  return { samples: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

/** One step of a run as the charts read it; `row` keeps every figure the runner printed for it. */
export interface ReportStep {
  /** Which chart set it belongs to (run-against: 'register', 'invite'); '' for a runner with one. */
  group?: string;
  /** One line per series in each chart ('sipedge', 'kamailio', 'plain', 'bridged', 'tcp', 'tls'). */
  series: string;
  /** Its place on the x axis: the offered rate, a stream count, a phase; with xValue, its name in the tooltips. */
  x: string;
  /**
   * Its number on a linear x axis (phones registered when it was sampled): when every step of its group has one, the
   * group's charts place each step at its number instead of spacing the steps evenly.
   */
  xValue?: number;
  offered?: number;
  achieved?: number;
  failedPct?: number;
  latencyMs?: Latency;
  /** Server CPU per unit of work (the group's cpuLabel says which), µs. */
  cpuUs?: number;
  /** Server memory at the end of the step, MB (proportional set size: resident, shared pages counted once). */
  memoryMb?: number;
  held?: boolean;
  /** Figures drawn by the group's extraCharts, by name ('lag p99'). */
  extra?: Record<string, number>;
  /** SIPp's files of this step, relative to the report directory. */
  sipp?: string[];
  row?: Record<string, unknown>;
}

/** Axis words of one chart set. */
export interface ReportGroup {
  /** Prefix of the chart titles ('' for a runner with one group). */
  title: string;
  /** The x axis: 'offered REGISTER tx/s'. */
  xLabel: string;
  /** The unit of offered and achieved: 'REGISTER tx/s'. */
  rateUnit: string;
  /** What cpuUs is per: 'µs CPU per registration'. */
  cpuLabel: string;
  /** What latencyMs measures: 'first REGISTER to 200, ms'. */
  latencyLabel: string;
  /** What memoryMb is; default the runners' proportional set size. */
  memoryLabel?: string;
  /** The latency chart's title; default 'Response time percentiles'. */
  latencyTitle?: string;
  /** The memory chart's title; default 'Server memory at the end of each step'. */
  memoryTitle?: string;
  /** Charts of the steps' extra figures: one line per figure named in `figures` (per series when several). */
  extraCharts?: Array<{ id: string; title: string; yLabel: string; figures: string[] }>;
}

export interface Machine {
  hostname: string;
  cores: number;
  cpuModel: string;
  /** 1, 5 and 15 minute load averages when the report was opened, before the run started anything. */
  loadAverageBefore: number[];
  node: string;
  commit: string;
  /** True when the checkout had uncommitted changes. */
  dirty: boolean;
}

function gitOutput(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(): Machine {
  const status = gitOutput(['status', '--porcelain', '--untracked-files=no']);
  return {
    hostname: hostname(),
    // All the machine's CPUs: a runner may have pinned itself to fewer (run-moh.ts), which availableParallelism counts.
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverageBefore: loadavg().map((l) => Number(l.toFixed(2))),
    node: process.version,
    commit: gitOutput(['rev-parse', 'HEAD']) ?? 'unknown (not a git checkout)',
    dirty: status !== undefined && status !== '',
  };
}

/** 2026-12-07T18-40-12Z: sorts by time and is a valid file name everywhere. */
function stamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}


/**
 * Per group, series and x, the median over the rounds of each figure of the steps given (one per round): the charts'
 * point of a run of several rounds. It counts as held when more than half of its rounds held it; its SIPp files are
 * those of every round; its row says how many rounds ran and held it.
 */
export function medianOverRounds(steps: ReportStep[]): ReportStep[] {
  const byPoint = new Map<string, ReportStep[]>();
  for (const s of steps) {
    const key = JSON.stringify([s.group ?? '', s.series, s.x]);
    byPoint.set(key, [...(byPoint.get(key) ?? []), s]);
  }
  return [...byPoint.values()].map((at) => {
    const med = (pick: (s: ReportStep) => number | undefined) => median(at.map(pick).filter((v): v is number => v !== undefined));
    const q = (k: keyof Latency) => med((s) => s.latencyMs?.[k]);
    const extraNames = [...new Set(at.flatMap((s) => Object.keys(s.extra ?? {})))];
    const heldRounds = at.filter((s) => s.held).length;
    const first = at[0]!;
    return {
      ...(first.group === undefined ? {} : { group: first.group }),
      series: first.series,
      x: first.x,
      ...(first.xValue === undefined ? {} : { xValue: first.xValue }),
      offered: first.offered,
      achieved: med((s) => s.achieved),
      failedPct: med((s) => s.failedPct),
      latencyMs: q('p50') === undefined ? undefined : { samples: med((s) => s.latencyMs?.samples)!, p50: q('p50')!, p90: q('p90'), p99: q('p99')!, max: q('max')! },
      cpuUs: med((s) => s.cpuUs),
      memoryMb: med((s) => s.memoryMb),
      held: heldRounds * 2 > at.length,
      ...(extraNames.length === 0 ? {} : { extra: Object.fromEntries(extraNames.map((n) => [n, med((s) => s.extra?.[n])!])) }),
      sipp: at.flatMap((s) => s.sipp ?? []),
      row: { rounds: at.length, heldRounds },
    };
  });
}

/** The axes of a REGISTER run's charts (run-register.ts, run-against.ts); a runner adds its title. */
export const REGISTER_CHARTS = {
  xLabel: 'offered REGISTER transactions/s (2 per registration)',
  rateUnit: 'REGISTER tx/s',
  cpuLabel: 'server CPU µs per registration',
  latencyLabel: 'ms, first REGISTER to its 200',
} as const satisfies Omit<ReportGroup, 'title'>;

/** The axes of a call run's charts (run-invite.ts, run-against.ts); a runner adds its title. */
export const CALL_CHARTS = {
  xLabel: 'offered calls/s (INVITE/100/180/200/ACK/BYE/200)',
  rateUnit: 'calls/s',
  cpuLabel: 'server CPU µs per call',
  latencyLabel: 'ms, INVITE to its 200',
} as const satisfies Omit<ReportGroup, 'title'>;

export class LoadReport {
  readonly dir: string;
  private readonly started = new Date();
  private readonly machine = machineInfo();
  private readonly steps: ReportStep[] = [];
  private readonly groups = new Map<string, ReportGroup>();
  private readonly figures: Record<string, unknown> = {};

  /** Creates the report directory now, so that a run that crashes still leaves its SIPp files. */
  constructor(
    private readonly name: string,
    private readonly title: string,
    dir?: string,
  ) {
    this.dir = resolve(dir ?? join(REPO_ROOT, 'reports', `${stamp(this.started)}-${name}`));
    mkdirSync(join(this.dir, 'sipp'), { recursive: true });
  }

  /** Names the axes of a chart set; steps of a group never described get the runner's first group's words. */
  describe(group: string, words: ReportGroup): this {
    this.groups.set(group, words);
    return this;
  }

  /** The path prefix a runSipp call gets as traceTo: SIPp's files of this step land in sipp/<name>-*.csv. */
  sippTrace(name: string): string {
    return join(this.dir, 'sipp', name.replace(/[^\w.-]+/g, '_'));
  }

  /** The progress line on stderr: step i of n, what it offers, time since the run started. */
  progress(i: number, n: number, offered: string): void {
    const s = Math.round((Date.now() - this.started.getTime()) / 1000);
    const elapsed = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    process.stderr.write(`[${this.name}] step ${i}/${n}: ${offered} offered, ${elapsed} elapsed\n`);
  }

  /** Kept unrounded: the printed tables round the same numbers, and the charts draw exactly what summary.json says. */
  /**
   * Adds a step. The charts keep one point per group, series and x, so a step whose x that series already has (two
   * samples on the same second, a rate asked twice) gets its ordinal appended to its x instead of replacing the first.
   */
  addStep(step: ReportStep): void {
    const same = (s: ReportStep, x: string) => (s.group ?? '') === (step.group ?? '') && s.series === step.series && s.x === x;
    let x = step.x;
    for (let n = 2; this.steps.some((s) => same(s, x)); n++) x = `${step.x} (${n})`;
    this.steps.push(x === step.x ? step : { ...step, x });
  }

  /** A figure the run printed outside the step rows (highest rate held, counters, medians). */
  figure(key: string, value: unknown): void {
    this.figures[key] = value;
  }

  /** The charts of the steps so far: per group, achieved vs offered, latency percentiles, CPU per unit, memory. */
  charts(): ChartSpec[] {
    const byGroup = new Map<string, ReportStep[]>();
    for (const s of this.steps) byGroup.set(s.group ?? '', [...(byGroup.get(s.group ?? '') ?? []), s]);
    const charts: ChartSpec[] = [];
    for (const [group, steps] of byGroup) {
      const words = this.groups.get(group) ?? [...this.groups.values()][0] ?? { title: '', xLabel: 'step', rateUnit: '', cpuLabel: 'µs CPU', latencyLabel: 'ms' };
      const categories = [...new Set(steps.map((s) => s.x))];
      const numeric = steps.every((s) => s.xValue !== undefined);
      const seriesNames = [...new Set(steps.map((s) => s.series))];
      const valuesOf = (series: string, pick: (s: ReportStep) => number | undefined) =>
        categories.map((c) => {
          const s = steps.find((x) => x.series === series && x.x === c);
          return s ? pick(s) : undefined;
        });
      const subtitle = words.title || this.title;
      const id = (what: string) => (group ? `${group}-${what}` : what);
      const named = (series: string, what: string) => (seriesNames.length > 1 ? `${series} ${what}` : what);
      const has = (pick: (s: ReportStep) => unknown) => steps.some((s) => pick(s) !== undefined);
      const m = this.machine;
      const note = `${this.started.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${m.commit.slice(0, 10)}${m.dirty ? '+' : ''}, ${m.cores} cores, load ${m.loadAverageBefore[0]} before`;
      const base = { categories, xLabel: words.xLabel, note, subtitle, ...(numeric ? { xValues: categories.map((c) => steps.find((s) => s.x === c)!.xValue!) } : {}) };
      if (has((s) => s.achieved)) {
        const offered = categories.map((c) => steps.find((s) => s.x === c && s.offered !== undefined)?.offered);
        charts.push({
          ...base,
          id: id('rate'),
          title: 'Achieved against offered rate',
          yLabel: words.rateUnit,
          series: [
            { name: 'offered', values: offered, reference: true },
            ...seriesNames.map((n, i) => ({ name: named(n, 'achieved'), values: valuesOf(n, (s) => s.achieved), colour: i })),
          ],
        });
      }
      if (has((s) => s.latencyMs)) {
        const quantiles = ['p50', 'p90', 'p99'] as const;
        charts.push({
          ...base,
          id: id('latency'),
          title: `${words.latencyTitle ?? 'Response time percentiles'} (log scale)`,
          yLabel: words.latencyLabel,
          yScale: 'log',
          // With several series, p50 (solid) and p99 (dashed) in the series' colour; alone, p50, p90 and p99.
          series: seriesNames.flatMap((n, i) =>
            (seriesNames.length > 1 ? (['p50', 'p99'] as const) : quantiles).map((q, qi) => ({
              name: named(n, q),
              colour: seriesNames.length > 1 ? i : qi,
              dashed: seriesNames.length > 1 && q === 'p99',
              // SIPp's response times are whole ms: a 0 ms median is drawn at the axis floor of a log scale, 0.5 ms.
              values: valuesOf(n, (s) => (s.latencyMs?.[q] === undefined ? undefined : Math.max(0.5, s.latencyMs[q]))),
            })),
          ).filter((s) => s.values.some((v) => v !== undefined)),
        });
      }
      if (has((s) => s.cpuUs)) {
        charts.push({ ...base, id: id('cpu'), title: words.cpuLabel.charAt(0).toUpperCase() + words.cpuLabel.slice(1), yLabel: words.cpuLabel, series: seriesNames.map((n) => ({ name: n, values: valuesOf(n, (s) => s.cpuUs) })) });
      }
      if (has((s) => s.memoryMb)) {
        charts.push({ ...base, id: id('memory'), title: words.memoryTitle ?? 'Server memory at the end of each step', yLabel: words.memoryLabel ?? 'MB (PSS: resident, shared pages once)', series: seriesNames.map((n) => ({ name: n, values: valuesOf(n, (s) => s.memoryMb) })) });
      }
      for (const c of words.extraCharts ?? []) {
        if (!c.figures.some((f) => has((s) => s.extra?.[f]))) continue;
        const series = seriesNames.flatMap((n, i) =>
          c.figures.map((f, fi) => ({ name: named(n, f), colour: seriesNames.length > 1 ? i : fi, dashed: seriesNames.length > 1 && fi > 0, values: valuesOf(n, (s) => s.extra?.[f]) })),
        ).filter((s) => s.values.some((v) => v !== undefined));
        charts.push({ ...base, id: id(c.id), title: c.title, yLabel: c.yLabel, series });
      }
    }
    return charts;
  }

  /** Writes summary.json, index.html and the PNGs; prints the report's path on stdout and returns it. */
  async finish(): Promise<string> {
    const charts = this.charts();
    const summary = {
      name: this.name,
      title: this.title,
      startedAt: this.started.toISOString(),
      finishedAt: new Date().toISOString(),
      command: process.argv.slice(1).map((a) => (a.startsWith(REPO_ROOT) ? relative(REPO_ROOT, a) : a)),
      machine: this.machine,
      groups: Object.fromEntries(this.groups),
      steps: this.steps,
      figures: this.figures,
      charts: charts.map((c) => ({ id: c.id, title: c.title, png: `${c.id}.png`, points: c.categories.length })),
    };
    writeFileSync(join(this.dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    const svgs = charts.map((c) => renderLineChart(c));
    writeFileSync(join(this.dir, 'index.html'), this.html(svgs, summary.steps));
    await renderPngs(
      this.dir,
      charts.map((c, i) => ({ file: `${c.id}.png`, svg: svgs[i]! })),
    );
    console.log(`\nreport: ${this.dir}`);
    return this.dir;
  }

  private html(svgs: string[], steps: ReportStep[]): string {
    const m = this.machine;
    const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    // The table rounds for reading; summary.json keeps the unrounded figures.
    const cell = (v: unknown) => `<td>${v === undefined || v === '' ? '-' : esc(String(typeof v === 'number' ? Number(v.toFixed(2)) : v))}</td>`;
    const rows = steps
      .map((s) =>
        `<tr>${[s.group, s.series, s.x, s.offered, s.achieved, s.failedPct, s.latencyMs?.p50, s.latencyMs?.p99, s.cpuUs, s.memoryMb, s.held === undefined ? undefined : s.held ? 'yes' : 'no']
          .map(cell)
          .join('')}</tr>`,
      )
      .join('\n');
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(this.title)}</title>
<style>body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}.chart{display:block;margin:16px 0}
pre{background:#f7f7f7;padding:8px;overflow:auto}</style></head><body>
<h1>${esc(this.title)}</h1>
<p>${esc(this.started.toISOString())}: ${m.cores} cores (${esc(m.cpuModel)}), load average before ${m.loadAverageBefore.join(' ')},
node ${esc(m.node)}, commit ${esc(m.commit)}${m.dirty ? ' with uncommitted changes' : ''}, host ${esc(m.hostname)}.</p>
<p>Command: <code>${esc(process.argv.slice(1).join(' '))}</code>. Every figure is in <a href="summary.json">summary.json</a>;
SIPp's own statistics and response times are in <a href="sipp/">sipp/</a>.</p>
${svgs.join('\n')}
<h2>Steps</h2>
<table><tr><th>group</th><th>series</th><th>step</th><th>offered</th><th>achieved</th><th>failed %</th><th>p50 ms</th><th>p99 ms</th><th>CPU µs</th><th>memory MB</th><th>held</th></tr>
${rows}
</table>
<h2>Other figures</h2>
<pre>${esc(JSON.stringify(this.figures, null, 2))}</pre>
</body></html>
`;
  }
}

/** Each SVG as a PNG at twice its size (legible when a ticket scales it down), by one headless Chromium. */
async function renderPngs(dir: string, charts: Array<{ file: string; svg: string }>): Promise<void> {
  if (charts.length === 0) return;
  const browser = await chromium
    .launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    .catch((e: Error) => {
      throw new Error(`the report's PNG charts need Debian's Chromium at ${CHROMIUM} (bash scripts/install-deps.sh --bench): ${e.message.split('\n')[0]}`);
    });
  try {
    const page = await browser.newPage({ deviceScaleFactor: 2 });
    for (const c of charts) {
      await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${c.svg}</body></html>`);
      await page.locator('svg').screenshot({ path: join(dir, c.file) });
    }
  } finally {
    await browser.close();
  }
}
