// The operator's kit in ops/: the Grafana dashboard and the Prometheus alert rules name only metrics a running edge
// exposes, and Prometheus's own promtool accepts the rules, the scrape example and the edge's /metrics text.
// The edge is a real `sipedge start` (load-tests/lib/edge-process.ts), with the default Node metrics it serves.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type RunningEdge } from '../../load-tests/lib/edge-process.ts';

const DASHBOARD = 'ops/grafana/sipedge.json';
const RULES = 'ops/prometheus/alerts.yml';
const SCRAPE = 'ops/prometheus/prometheus.yml';

let edge: RunningEdge;
let exposition: string;

/** One REGISTER without credentials over UDP; resolves with the edge's answer (a 401 challenge). */
async function registerOnce(port: number): Promise<string> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const local = socket.address().port;
  const answer = new Promise<string>((r) => socket.once('message', (m) => r(m.toString('latin1'))));
  socket.send(
    `REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-ops-kit;rport\r\nMax-Forwards: 70\r\n` +
      `From: <sip:1001@acme.example.com>;tag=ops\r\nTo: <sip:1001@acme.example.com>\r\nCall-ID: ops-kit@127.0.0.1\r\nCSeq: 1 REGISTER\r\n` +
      `Contact: <sip:1001@127.0.0.1:${local}>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n`,
    port,
    '127.0.0.1',
  );
  try {
    return await answer;
  } finally {
    socket.close();
  }
}

beforeAll(async () => {
  edge = await startEdge({ tenants: [{ code: 'acme', domain: 'acme.example.com' }] });
  // Samples in the latency histograms (a SIP answer, an HTTP request) so that their lines are linted too.
  expect(await registerOnce(edge.sipPort)).toMatch(/^SIP\/2\.0 401 /);
  await edge.metrics();
  exposition = await edge.metrics();
  expect(exposition).toMatch(/^sipedge_sip_response_seconds_count\{method="REGISTER",status_class="4xx"\} 1$/m);
  expect(exposition).toMatch(/^sipedge_http_request_duration_seconds_count\{method="GET",route="\/metrics",status_class="2xx"\} 1$/m);
}, 120_000);
afterAll(async () => {
  await edge?.stop();
});

/** promtool with `args`, `stdin` written to it: its exit code and output. */
function promtool(args: string[], stdin?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

/** Every sipedge_* series name in `text`. */
function metricNames(text: string): string[] {
  return [...new Set(text.match(/\bsipedge_[a-z0-9_]+/g) ?? [])].sort();
}

/** True when /metrics declares the family of `name` (a histogram's _bucket/_sum/_count series by its base name). */
function exposed(name: string): boolean {
  if (exposition.includes(`# TYPE ${name} `)) return true;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  return base !== undefined && exposition.includes(`# TYPE ${base} histogram`);
}

describe('ops kit', () => {
  it('names in the dashboard only metrics the edge exposes, in every panel of the promised rows', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { type: string; title: string; targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const names = metricNames(exprs.join('\n'));
    expect(names.filter((n) => !exposed(n))).toEqual([]);
    // What an operator looks for first: registrations, auth, lockouts, upstreams, latency percentiles, hold music, lag, memory.
    for (const must of ['sipedge_registrations_active', 'sipedge_auth_failures_total', 'sipedge_auth_lockouts_total', 'sipedge_upstream_up', 'sipedge_sip_response_seconds_bucket', 'sipedge_proxy_invite_final_seconds_count', 'sipedge_moh_late_ticks_total', 'sipedge_nodejs_eventloop_lag_p99_seconds', 'sipedge_process_resident_memory_bytes']) {
      expect(names, must).toContain(must);
    }
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
  });

  it('names in the alert rules only metrics the edge exposes, and promtool accepts the rules and the scrape example', async () => {
    const names = metricNames(readFileSync(RULES, 'utf8'));
    expect(names.length).toBeGreaterThan(5);
    expect(names.filter((n) => !exposed(n))).toEqual([]);
    const rules = await promtool(['check', 'rules', RULES]);
    expect(rules.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(rules.code).toBe(0);
    const config = await promtool(['check', 'config', SCRAPE]);
    expect(config.code, config.output).toBe(0);
  });

  it("passes promtool's metric lint (names, units, _total only on counters)", async () => {
    const lint = await promtool(['check', 'metrics'], exposition);
    expect(lint.output.trim()).toBe('');
    expect(lint.code).toBe(0);
  });

  it('has no two metrics in one OpenMetrics family (a counter X_total is the family X)', () => {
    const families = [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => (type === 'counter' ? name!.replace(/_total$/, '') : name!));
    expect(families.filter((f, i) => families.indexOf(f) !== i)).toEqual([]);
  });
});
