// The many-WebSocket-phones load tool (load-tests/run-ws-clients.ts, `npm run bench -- --ws-clients N`) against a real
// `sipedge start`: its phones from several 127.0.0.x sources all register, refresh, and the edge counts what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
  }, 180_000);
});
