// A real load runner writes its report: load-tests/run-register.ts, two short low-rate SIPp steps against a real edge,
// must leave SIPp's raw files, a summary.json with the figures it printed, an index.html with one chart per figure
// and a PNG of each (Debian's Chromium), and a progress line per step on stderr (load-tests/lib/report.ts).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const RATES = [40, 80];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Summary {
  machine: { cores: number; node: string; commit: string; loadAverageBefore: number[] };
  steps: Array<{
    x: string;
    offered: number;
    achieved: number;
    failedPct: number;
    cpuUs?: number;
    memoryMb?: number;
    held: boolean;
    latencyMs: { samples: number; p50: number; p90: number; p99: number; max: number };
    sipp: string[];
    row: { successful: number };
  }>;
  figures: { highestHeld: { targetTx: number } | null };
  charts: Array<{ id: string; png: string; points: number }>;
}

describe('load-test report of a real run (run-register.ts)', () => {
  let dir: string;
  let out = '';
  let err = '';
  let code: number | null = null;
  let summary: Summary;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-report-test-'));
    const args = ['--users', '20', '--rates', RATES.join(','), '--step-seconds', '2', '--all-steps', '--edge-cpus', '', '--sipp-cpus', ''];
    const child = spawn(process.execPath, ['--import', 'tsx', 'load-tests/run-register.ts', ...args, '--report-dir', join(dir, 'report')], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    code = await new Promise((r) => child.once('close', r));
    try {
      summary = JSON.parse(readFileSync(join(dir, 'report', 'summary.json'), 'utf8')) as Summary;
    } catch (e) {
      throw new Error(`run-register.ts (exit ${code}) left no summary.json (${(e as Error).message}):\n${out}\n${err}`);
    }
  }, 180_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs, prints a progress line per step on stderr and the report path last', () => {
    expect(code, `${out}\n${err}`).toBe(0);
    expect(err).toContain('[register-sipedge] step 1/2: 40 tx/s offered');
    expect(err).toContain('[register-sipedge] step 2/2: 80 tx/s offered');
    expect(out.trim().split('\n').at(-1)).toBe(`report: ${join(dir, 'report')}`);
  });

  it("keeps SIPp's own statistics and response times per step", () => {
    for (const [i, step] of summary.steps.entries()) {
      expect(step.sipp).toEqual([`sipp/step${i + 1}-${RATES[i]}tx-stat.csv`, `sipp/step${i + 1}-${RATES[i]}tx-rtt.csv`]);
      const stat = readFileSync(join(dir, 'report', step.sipp[0]!), 'latin1').split('\n');
      expect(stat[0]).toMatch(/^StartTime;LastResetTime;CurrentTime;/);
      // SIPp's last line counts the step's successful calls, as the printed row does.
      const header = stat[0]!.split(';');
      const last = stat.filter((l) => l.trim() !== '').at(-1)!.split(';');
      expect(Number(last[header.indexOf('SuccessfulCall(C)')])).toBe(step.row.successful);
      const rtt = readFileSync(join(dir, 'report', step.sipp[1]!), 'latin1').trim().split('\n');
      expect(rtt[0]).toBe('Date_ms;response_time_ms;rtd_no');
      // The percentiles are computed from exactly these rows.
      expect(step.latencyMs.samples).toBe(rtt.length - 1);
      expect(step.latencyMs.samples).toBeGreaterThan(0);
      expect(step.latencyMs.p50).toBeLessThanOrEqual(step.latencyMs.p99);
      expect(step.latencyMs.p99).toBeLessThanOrEqual(step.latencyMs.max);
    }
  });

  it('summary.json holds the figures the run printed, and the machine', () => {
    // The printed table: one row per step, starting with the target tx/s and SIPp's calls/s.
    const rows = out.split('\n').filter((l) => RATES.some((r) => new RegExp(`^\\s+${r}\\s+${r / 2}\\s`).test(l)));
    expect(rows).toHaveLength(RATES.length);
    expect(summary.steps).toHaveLength(RATES.length);
    for (const [i, line] of rows.entries()) {
      const c = line.trim().split(/\s+/);
      const s = summary.steps[i]!;
      expect(s.x).toBe(c[0]);
      expect(s.offered).toBe(Number(c[0]));
      expect(String(s.row.successful)).toBe(c[3]);
      expect(s.failedPct.toFixed(2)).toBe(c[5]);
      expect(s.achieved.toFixed(0)).toBe(c[8]);
      expect(s.cpuUs?.toFixed(1) ?? '-').toBe(c[12]);
      expect(s.memoryMb?.toFixed(0) ?? '-').toBe(c[13]);
      expect(s.held ? 'yes' : 'no').toBe(c[16]);
    }
    const best = /highest rate held .*?: (\d+) REGISTER tx\/s/.exec(out);
    expect(summary.figures.highestHeld?.targetTx ?? null).toBe(best ? Number(best[1]) : null);
    expect(summary.machine.cores).toBe(cpus().length);
    expect(summary.machine.node).toBe(process.version);
    expect(summary.machine.commit).toBe(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim());
    expect(summary.machine.loadAverageBefore).toHaveLength(3);
  });

  it('index.html has one SVG chart per figure, each with a point per step', () => {
    const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
    expect(summary.charts.map((c) => c.id)).toEqual(['rate', 'latency', 'cpu', 'memory']);
    const svgs = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    expect(svgs).toHaveLength(summary.charts.length);
    for (const [i, svg] of svgs.entries()) {
      expect(svg).toContain(`id="chart-${summary.charts[i]!.id}"`);
      const series = [...svg.matchAll(/<g class="series"[^>]*>([\s\S]*?)<\/g>/g)];
      expect(series.length).toBeGreaterThan(0);
      for (const s of series) expect(s[1]!.match(/<circle class="point"/g)).toHaveLength(RATES.length);
    }
    // The achieved rate is drawn at the printed value.
    const achieved = [...svgs[0]!.matchAll(/data-value="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(achieved).toEqual(summary.steps.map((s) => s.achieved));
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // nothing fetched: no script, no remote URL
  });

  it('writes a PNG of each chart at twice the SVG size', () => {
    for (const c of summary.charts) {
      const png = readFileSync(join(dir, 'report', c.png));
      expect(png.subarray(0, 8).equals(PNG_SIGNATURE), c.png).toBe(true);
      // IHDR: width and height, big-endian, at bytes 16 and 20.
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1520, 800]);
      expect(png.length).toBeGreaterThan(10_000);
    }
  });
});
