// `sipedge upstream status` and the chosen upstream of `sipedge ext show`: the configured set, each upstream's state as
// the running edge sees it (its /metrics), and how many extensions each holds (the shared store). Probing is proxy/'s.
import type { Config } from '../config/schema.ts';
import { edgeUrl } from './health.ts';
import type { NodeStore, UpstreamChoiceStore } from '../store/types.ts';

export interface UpstreamStatusRow {
  uri: string;
  priority: number;
  weight: number;
  transport: string;
  /** 'up' | 'down' from the edge's sipedge_upstream_up gauge; 'unknown' when the edge cannot be asked. */
  state: 'up' | 'down' | 'unknown';
  /** Extensions bound to it; undefined with the embedded store (the choices live in the edge's memory). */
  extensions: number | undefined;
  /** Every node's view (Redis store: the node registry), node id -> up / down / unknown; absent with the embedded store. */
  nodes?: Record<string, string>;
}

/** The running edge's sipedge_upstream_up values by upstream uri, from its /metrics; undefined when not reachable. */
async function upStates(config: Readonly<Config>): Promise<Map<string, number> | undefined> {
  // /metrics lives on http.metricsListen when that is set, else on http.listen; with the token when one is set.
  const url = edgeUrl(config.http.metricsListen === '' ? config.http.listen : config.http.metricsListen, '/metrics');
  if (url === undefined) return undefined;
  let text: string;
  try {
    const headers: Record<string, string> = config.http.metricsToken === '' ? {} : { authorization: `Bearer ${config.http.metricsToken}` };
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    text = await res.text();
  } catch {
    return undefined;
  }
  const out = new Map<string, number>();
  const prefix = 'sipedge_upstream_up{upstream="';
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const end = line.indexOf('"}', prefix.length);
    if (end < 0) continue;
    out.set(line.slice(prefix.length, end).replace(/\\"/g, '"').replace(/\\\\/g, '\\'), Number(line.slice(end + 2).trim()));
  }
  return out;
}

export async function upstreamStatus(
  config: Readonly<Config>,
  choices: UpstreamChoiceStore | undefined,
  nodes: NodeStore | undefined,
): Promise<UpstreamStatusRow[]> {
  const states = await upStates(config);
  const counts = choices === undefined ? undefined : await choices.countByUpstream();
  const views = nodes === undefined ? undefined : await nodes.list();
  return config.upstreams.map((u) => {
    const v = states?.get(u.uri);
    const row: UpstreamStatusRow = {
      uri: u.uri,
      priority: u.priority,
      weight: u.weight,
      transport: u.transport,
      state: v === undefined ? 'unknown' : v === 1 ? 'up' : 'down',
      extensions: counts === undefined ? undefined : (counts.get(u.uri) ?? 0),
    };
    if (views !== undefined) row.nodes = Object.fromEntries(views.map((n) => [n.id, n.upstreams[u.uri] ?? 'unknown']));
    return row;
  });
}

export function formatUpstreamStatus(rows: UpstreamStatusRow[]): string[] {
  if (rows.length === 0) return ['no upstreams configured (upstreams / SIPEDGE_UPSTREAMS): calls are routed between registered users'];
  const lines = [['uri', 'priority', 'weight', 'transport', 'state', 'extensions', 'nodes'].join('\t')];
  for (const r of rows) {
    const nodes = r.nodes === undefined ? '-' : Object.entries(r.nodes).map(([id, s]) => `${id}=${s}`).join(',') || '-';
    lines.push([r.uri, r.priority, r.weight, r.transport, r.state, r.extensions ?? '-', nodes].join('\t'));
  }
  if (rows.some((r) => r.state === 'unknown')) lines.push('(state unknown: the running edge did not answer on /metrics: http.metricsListen, else http.listen)');
  if (rows.some((r) => r.extensions === undefined)) lines.push('(extensions per upstream: held by the running edge with the embedded store)');
  return lines;
}
