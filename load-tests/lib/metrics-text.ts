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
