// Reads samples out of Prometheus text exposition (the edge's GET /metrics) for e2e assertions and load reports.
// Metric names and labels are defined by src/observability/metrics.ts; this only parses the text.

/** One sample line: name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample in the text (comments and blank lines skipped). */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    let name: string;
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      name = line.slice(0, brace);
      const end = line.lastIndexOf('}');
      for (const m of line.slice(brace + 1, end).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    } else {
      name = line.slice(0, line.indexOf(' '));
    }
    samples.push({ name, labels, value: Number(line.slice(space + 1)) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `labels` (0 when there is none, as for a counter never incremented). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of parseSamples(text)) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** `name{a="b"} 12` lines for every sample of the given metric names, for printing. */
export function formatSamples(text: string, names: string[]): string[] {
  const wanted = new Set(names);
  return parseSamples(text)
    .filter((s) => wanted.has(s.name))
    .map((s) => {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(',');
      return `${s.name}${labels ? `{${labels}}` : ''} ${s.value}`;
    });
}

/**
 * What the edge's memory holds, from its gauges (src/observability/metrics.ts): V8 heap used and total, live server
 * transactions with the responses they keep for retransmissions (and those bytes), live client transactions. Undefined
 * when the text has none of them (a server other than sipedge).
 */
export function memoryComposition(text: string): string | undefined {
  const samples = parseSamples(text);
  const value = (name: string): number | undefined => samples.find((s) => s.name === name)?.value;
  const serverTx = value('sipedge_transactions');
  if (serverTx === undefined) return undefined;
  const mb = (v: number | undefined): string => (v === undefined ? '?' : (v / 2 ** 20).toFixed(0));
  const n = (v: number | undefined): string => (v === undefined ? '?' : v.toLocaleString('en-US'));
  return (
    `edge memory: heap ${mb(value('sipedge_nodejs_heap_size_used_bytes'))} MB used of ${mb(value('sipedge_nodejs_heap_size_total_bytes'))} MB; ` +
    `${n(serverTx)} server transactions keeping ${n(value('sipedge_transaction_kept_responses'))} responses ` +
    `(${mb(value('sipedge_transaction_kept_response_bytes'))} MB); ${n(value('sipedge_client_transactions'))} client transactions`
  );
}

/** Cumulative garbage-collection pauses by kind (major, minor, incremental, weakcb) from prom-client's default metrics. */
export type GcTotals = Map<string, { count: number; seconds: number }>;

export function gcTotals(text: string): GcTotals {
  const totals: GcTotals = new Map();
  for (const s of parseSamples(text)) {
    const kind = s.labels.kind;
    if (kind === undefined) continue;
    const t = totals.get(kind) ?? { count: 0, seconds: 0 };
    if (s.name === 'sipedge_nodejs_gc_duration_seconds_count') t.count = s.value;
    else if (s.name === 'sipedge_nodejs_gc_duration_seconds_sum') t.seconds = s.value;
    else continue;
    totals.set(kind, t);
  }
  return totals;
}

/**
 * The event loop's health over one step: GC pauses between two scrapes (count and total by kind) and the loop lag
 * prom-client sampled since its last reset (p99 and max). Undefined when the text has no GC metrics.
 */
export function loopHealth(before: GcTotals, text: string): string | undefined {
  const after = gcTotals(text);
  if (after.size === 0) return undefined;
  const gcs = [...after]
    .map(([kind, t]) => {
      const b = before.get(kind) ?? { count: 0, seconds: 0 };
      return `${kind} ${t.count - b.count} (${((t.seconds - b.seconds) * 1000).toFixed(0)} ms)`;
    })
    .join(', ');
  const ms = (name: string): string => {
    const v = parseSamples(text).find((s) => s.name === name)?.value;
    return v === undefined ? '?' : (v * 1000).toFixed(1);
  };
  return `edge loop: GC pauses ${gcs}; event-loop lag p99 ${ms('sipedge_nodejs_eventloop_lag_p99_seconds')} ms, max ${ms('sipedge_nodejs_eventloop_lag_max_seconds')} ms`;
}
