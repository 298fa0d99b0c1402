// Summarises a V8 .cpuprofile (node --cpu-prof): top functions by self time, and self time by file and by folder.
// Producing the profile is run-register.ts's job (--cpu-prof); usage: tsx load-tests/lib/cpu-profile-summary.ts FILE [--top 25]
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

/** The parts of the .cpuprofile format (Chrome DevTools Profiler.Profile) used here. */
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** One row of the summary: self time in microseconds. */
export interface Row {
  key: string;
  selfUs: number;
}

export interface Summary {
  totalUs: number;
  /** Self time of V8's "(idle)" node: the edge waiting for I/O. */
  idleUs: number;
  functions: Row[];
  files: Row[];
  folders: Row[];
}

/** Synthetic V8 nodes that have no source location. */
const SYNTHETIC = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** Repo-relative path for our files, "node:..." for Node's own, "(native)" for frames without a URL. */
function shortFile(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  let path = url;
  if (url.startsWith('file://')) {
    try {
      path = fileURLToPath(url);
    } catch {
      return url;
    }
  }
  const rel = relative(REPO_ROOT, path);
  return rel.startsWith('..') ? path : rel;
}

/** src/<layer>, node_modules/<package>, node:internal/<area>, or the file itself. */
function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'node_modules') return parts[1]?.startsWith('@') ? parts.slice(0, 3).join('/') : parts.slice(0, 2).join('/');
  if (parts[0] === 'src' && parts.length > 2) return parts.slice(0, 2).join('/');
  if (file.startsWith('node:internal/')) return parts.slice(0, 2).join('/');
  return file;
}

/** Self time per node from samples/timeDeltas (sample i lasts until sample i+1); hitCount x mean interval as a fallback. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    for (let i = 0; i < samples.length; i++) {
      const dt = i + 1 < deltas.length ? deltas[i + 1]! : 0;
      self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + Math.max(0, dt));
    }
    return self;
  }
  const hits = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  const interval = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
  for (const node of profile.nodes) self.set(node.id, (node.hitCount ?? 0) * interval);
  return self;
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

function sorted(map: Map<string, number>): Row[] {
  return [...map.entries()].map(([key, selfUs]) => ({ key, selfUs })).sort((a, b) => b.selfUs - a.selfUs);
}

export function summariseProfile(profile: CpuProfile): Summary {
  const self = selfTimes(profile);
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  const folders = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idleUs += us;
    if (SYNTHETIC.has(functionName)) {
      add(functions, functionName, us);
      add(files, functionName, us);
      add(folders, functionName, us);
      continue;
    }
    const file = shortFile(url);
    // Line numbers are 0-based in the profile; tsx-compiled files report lines of the transformed output.
    add(functions, `${functionName || '(anonymous)'}  ${file}${url ? `:${lineNumber + 1}` : ''}`, us);
    add(files, file, us);
    add(folders, folderOf(file), us);
  }
  return { totalUs, idleUs, functions: sorted(functions), files: sorted(files), folders: sorted(folders) };
}

/** The printable report: top `top` functions by self time, then by file and by folder, with % of total and of busy time. */
export function formatSummary(summary: Summary, top = 25, title = 'CPU profile'): string {
  const busyUs = summary.totalUs - summary.idleUs;
  const pct = (us: number, of: number) => (of > 0 ? ((100 * us) / of).toFixed(1).padStart(5) : '  n/a');
  const ms = (us: number) => (us / 1000).toFixed(1).padStart(9);
  const table = (heading: string, rows: Row[]) => [
    '',
    `${heading}`,
    `  ${'self ms'.padStart(9)}  ${'%total'.padStart(6)}  ${'%busy'.padStart(6)}  name`,
    ...rows.slice(0, top).map((r) => {
      const busy = r.key === '(idle)' ? '     -' : pct(r.selfUs, busyUs).padStart(6);
      return `  ${ms(r.selfUs)}  ${pct(r.selfUs, summary.totalUs).padStart(6)}  ${busy}  ${r.key}`;
    }),
  ];
  return [
    `${title}: ${(summary.totalUs / 1e6).toFixed(2)} s sampled, ${pct(summary.idleUs, summary.totalUs).trim()}% idle ` +
      `(busy ${(busyUs / 1e6).toFixed(2)} s)`,
    ...table(`Top ${top} functions by self time`, summary.functions),
    ...table(`Self time by file (top ${top})`, summary.files),
    ...table(`Self time by folder (top ${top})`, summary.folders),
  ].join('\n');
}

/** Reads and summarises one .cpuprofile file. */
export function summariseProfileFile(path: string, top = 25): string {
  let profile: CpuProfile;
  try {
    profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  } catch (e) {
    throw new Error(`cpu-profile-summary: cannot read ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(profile.nodes)) throw new Error(`cpu-profile-summary: ${path} has no "nodes" array; is it a .cpuprofile?`);
  return formatSummary(summariseProfile(profile), top, path);
}

function main(argv: string[]): number {
  const files: string[] = [];
  let top = 25;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  if (files.length === 0 || !Number.isInteger(top) || top < 1) {
    console.error('usage: tsx load-tests/lib/cpu-profile-summary.ts FILE.cpuprofile [...] [--top 25]');
    return 2;
  }
  try {
    for (const f of files) console.log(summariseProfileFile(f, top) + '\n');
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
