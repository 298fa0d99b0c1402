// Takes a heap snapshot of a running edge (node --heapsnapshot-signal) and prints what its live objects are, by
// constructor: count and self size. The snapshot's full GC first leaves only what is retained. Format: V8's
// .heapsnapshot JSON (snapshot.meta names the node fields).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The node flags that let takeHeapSnapshot ask the edge for one (written to dir). */
export function heapSnapshotNodeArgs(dir: string): string[] {
  return ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`];
}

/** Signals pid and waits for the snapshot file in dir to be complete; returns its path. */
export async function takeHeapSnapshot(pid: number, dir: string, timeoutMs = 120_000): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file === undefined) continue;
    const path = join(dir, file);
    const size = statSync(path).size;
    // The file is written in one pass and ends with the strings table's closing brackets.
    if (size > 0 && size === last && readFileSync(path, 'latin1').trimEnd().endsWith(']}')) return path;
    last = size;
  }
  throw new Error(`no complete heap snapshot in ${dir} after ${timeoutMs} ms`);
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** The `top` constructors (objects, closures, strings, arrays...) by self size, with counts, and the total. */
export function summariseHeapSnapshot(path: string, top = 20): string {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    // Objects and closures by constructor name; strings, arrays, code and the rest by their type.
    const key = type === 'object' || type === 'closure' ? `${snap.strings[snap.nodes[i + nameAt]!]} (${type})` : `(${type})`;
    const bytes = snap.nodes[i + sizeAt]!;
    total += bytes;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { count: 1, bytes });
    else {
      g.count++;
      g.bytes += bytes;
    }
  }
  const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
  const rows = [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
  return [
    `live heap ${mb(total)} MB (self sizes after the snapshot's full GC); top ${top} by self size:`,
    ...rows.map(([name, g]) => `  ${mb(g.bytes).padStart(8)} MB ${String(g.count).padStart(9)}  ${name}`),
  ].join('\n');
}
