// `sipedge nodes`: the nodes of a deployment from the shared registry (registrar/node-registry.ts writes it), with
// their age, last heartbeat, connections and registrations. The embedded store has one node: the running edge.
import type { Config } from '../config/schema.ts';
import type { Stores } from '../store/types.ts';

export interface NodeRow {
  id: string;
  address: string;
  /** 'live' while its heartbeat is younger than cluster.deadAfterSeconds, else 'dead' (a survivor removes it soon). */
  state: 'live' | 'dead';
  /** Seconds since it started, and since its last heartbeat. */
  ageSeconds: number;
  lastSeenSeconds: number;
  connections: number;
  /** Unexpired bindings whose flow it holds. */
  registrations: number;
  /** Its view of the upstreams: uri -> up / down / unknown. */
  upstreams: Record<string, string>;
}

export async function nodeRows(config: Readonly<Config>, stores: Stores, now: number): Promise<NodeRow[]> {
  const perNode = new Map<string, number>();
  for (const aor of await stores.bindings.aors(now)) {
    for (const b of (await stores.bindings.get(aor, now)).bindings) perNode.set(b.nodeId, (perNode.get(b.nodeId) ?? 0) + 1);
  }
  const deadMs = config.cluster.deadAfterSeconds * 1000;
  return (await stores.nodes.list())
    .sort((a, b) => a.startedAt - b.startedAt)
    .map((n) => ({
      id: n.id,
      address: n.address,
      state: now - n.seenAt > deadMs ? 'dead' : 'live',
      ageSeconds: Math.round((now - n.startedAt) / 1000),
      lastSeenSeconds: Math.round((now - n.seenAt) / 1000),
      connections: n.connections,
      registrations: perNode.get(n.id) ?? 0,
      upstreams: n.upstreams,
    }));
}

export function formatNodes(rows: NodeRow[]): string[] {
  if (rows.length === 0) return ['no nodes in the registry (none running on this store)'];
  const lines = [['node', 'address', 'state', 'age', 'last seen', 'connections', 'registrations', 'upstreams up'].join('\t')];
  for (const r of rows) {
    const states = Object.values(r.upstreams);
    const up = `${states.filter((s) => s === 'up').length}/${states.length}`;
    lines.push([r.id, r.address || '-', r.state, `${r.ageSeconds}s`, `${r.lastSeenSeconds}s ago`, r.connections, r.registrations, up].join('\t'));
  }
  return lines;
}
