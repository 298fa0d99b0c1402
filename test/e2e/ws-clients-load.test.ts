// The many-WebSocket-phones load tool (load-tests/run-ws-clients.ts, `npm run bench -- --ws-clients N`) against a real
// `sipedge start`: its phones from several 127.0.0.x sources all register, refresh, and the edge counts what it prints;
// its report (load-tests/lib/report.ts) holds that summary and draws the curve against phones registered.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startEdge, type RunningEdge } from '../../load-tests/lib/edge-process.ts';
import { metricValue } from '../../load-tests/lib/metrics-text.ts';
import { writeUserFiles, type UserFiles } from '../../load-tests/lib/users.ts';
import type { WsLoadSummary } from '../../load-tests/run-ws-clients.ts';

const TENANT = { code: 'wsload', domain: 'wsload.sipedge.test' };
const PHONES = 300;
const SOURCES = 6;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The report's summary.json, as far as this test reads it. */
interface Report {
  steps: Array<{ x: string; xValue: number; memoryMb: number; extra: Record<string, number>; row: { registered: number } }>;
  figures: { summary: WsLoadSummary };
  charts: Array<{ id: string; png: string; points: number }>;
}

/** The markers of each series of the chart with this id in the page: their x pixel and the value they carry. */
function chartPoints(html: string, id: string): Map<string, Array<{ cx: number; value: number }>> {
  const svg = new RegExp(`<svg[^>]*id="chart-${id}"[\\s\\S]*?</svg>`).exec(html);
  expect(svg, `chart ${id}`).not.toBeNull();
  const series = new Map<string, Array<{ cx: number; value: number }>>();
  for (const g of svg![0].matchAll(/<g class="series" data-name="([^"]+)"[^>]*>([\s\S]*?)<\/g>/g)) {
    series.set(g[1]!, [...g[2]!.matchAll(/<circle class="point" cx="([\d.]+)" cy="[\d.]+" r="4" data-value="([\d.e+-]+)">/g)].map((m) => ({ cx: Number(m[1]), value: Number(m[2]) })));
  }
  return series;
}

describe('the WebSocket phones load tool', () => {
  let dir: string;
  let users: UserFiles;
  let edge: RunningEdge | undefined;
  let tool: ChildProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-e2e-ws-load-'));
    users = writeUserFiles({ count: PHONES, tenant: TENANT.code, domain: TENANT.domain, outDir: dir });
    edge = await startEdge({ tenants: [TENANT], importCsv: users.importCsv, ws: true, tcp: false });
  }, 90_000);

  afterAll(async () => {
    if (tool?.exitCode === null) tool.kill('SIGKILL');
    await edge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers 300 phones from 6 sources, refreshes each, drops none, and the edge counts as many as it prints', async () => {
    // A 2 s refresh instead of 300 s, so that a refresh round happens within the run; --keep holds the phones
    // registered after the summary until stdin ends, while this test reads the edge.
    tool = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'load-tests/run-ws-clients.ts',
        ...['--clients', String(PHONES), '--sources', String(SOURCES), '--rate', '100', '--refresh-seconds', '2'],
        ...['--target', `ws://127.0.0.1:${edge!.wsPort}`, '--users', users.importCsv, '--domain', TENANT.domain],
        ...['--metrics', `${edge!.httpBase}/metrics`, '--edge-pid', String(edge!.pid), '--json', '--keep'],
        ...['--report-dir', join(dir, 'report')],
      ],
      { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    tool.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const summary = await new Promise<WsLoadSummary>((resolve, reject) => {
      tool!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const json = out.split('\n').find((l) => l.startsWith('{'));
        if (json !== undefined) resolve(JSON.parse(json) as WsLoadSummary);
      });
      tool!.once('exit', (code) => reject(new Error(`run-ws-clients exited (${code}) before its summary:\n${out}`)));
    });

    expect(summary, out).toMatchObject({ asked: PHONES, sources: SOURCES, registered: PHONES, failed: 0, dropped: 0, reasons: {} });
    expect(summary.refreshes, out).toBeGreaterThanOrEqual(PHONES);
    // The edge's own count, read here while the phones are still connected, is the tool's.
    const metrics = await edge!.metrics();
    expect(metricValue(metrics, 'sipedge_registrations_active')).toBe(summary.registered);
    expect(metricValue(metrics, 'sipedge_connections_open', { transport: 'ws' })).toBe(PHONES);
    expect(summary.edgeRegistrations).toBe(PHONES);
    // The flood guard holds a bucket (and a proven mark) per source: the phones came from 6 addresses, not one.
    expect(metricValue(metrics, 'sipedge_flood_sources')).toBeGreaterThanOrEqual(SOURCES);

    const exited = new Promise<number | null>((resolve) => tool!.once('exit', (code) => resolve(code)));
    tool.stdin!.end();
    expect(await exited, out).toBe(0);

    // The report, written after the phones left: its path printed last, the printed summary in its summary.json.
    expect(out.trim().split('\n').at(-1)).toBe(`report: ${join(dir, 'report')}`);
    expect(out).toMatch(/\[ws-clients\] step 1\/\d+: \d+ phones offered/);
    const report = JSON.parse(readFileSync(join(dir, 'report', 'summary.json'), 'utf8')) as Report;
    expect(report.figures.summary).toEqual(summary);
    expect(out).toContain(`phones: ${PHONES} asked, ${report.figures.summary.registered} registered at the end`);
    // The curve: one sample per printed row, the last with every phone registered.
    const rows = out.split('\n').filter((l) => /^\s+\d+ s\s+\d+\s+\d+ MB/.test(l));
    expect(report.steps.map((s) => s.row.registered)).toEqual(rows.map((l) => Number(l.trim().split(/\s+/)[2])));
    expect(report.steps.at(-1)!.xValue).toBe(PHONES);
    const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
    for (const [id, name, value] of [
      ['memory', 'edge', (s: Report['steps'][number]) => s.memoryMb],
      ['lag', 'lag p99', (s: Report['steps'][number]) => s.extra['lag p99']],
    ] as const) {
      // One point per sample, at its figure, placed along the x axis by phones registered (not evenly).
      const points = chartPoints(html, id).get(name)!;
      expect(points.map((p) => p.value), id).toEqual(report.steps.map(value));
      for (const [i, p] of points.entries()) {
        for (const [j, q] of points.entries()) {
          const [a, b] = [report.steps[i]!.xValue, report.steps[j]!.xValue];
          expect(Math.sign(Math.round(p.cx - q.cx)), `${id}: ${a} against ${b} phones`).toBe(Math.sign(a - b));
        }
      }
      const png = readFileSync(join(dir, 'report', report.charts.find((c) => c.id === id)!.png));
      expect(png.subarray(0, 8).equals(PNG_SIGNATURE), `${id}.png`).toBe(true);
    }
  }, 180_000);
});
