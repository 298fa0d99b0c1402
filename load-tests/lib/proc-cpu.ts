// CPU time of a running process (all its threads) from /proc/<pid>/stat, so load reports can say which side saturated.
// Linux only; elsewhere, and after the process has exited, readings are undefined.
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc times are in these ticks; 100 on every mainstream Linux build (`getconf CLK_TCK`). */
const TICKS_PER_SECOND = 100;

/** utime + stime of pid in seconds, or undefined when it cannot be read. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / TICKS_PER_SECOND;
}

/** Samples cpuSeconds(pid) every intervalMs; `last` is the latest reading taken while the process was alive. */
export class CpuSampler {
  last: number | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 200,
  ) {
    this.last = cpuSeconds(pid);
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const now = cpuSeconds(this.pid);
    if (now !== undefined) this.last = now;
  }

  stop(): number | undefined {
    clearInterval(this.timer);
    return this.last;
  }
}

/** Jiffies per core from /proc/stat: busy (everything but idle and iowait) and total. */
export interface CoreTimes {
  busy: number;
  total: number;
}

/** Per-core times keyed by core number; an empty map off Linux. */
export function readCoreTimes(): Map<number, CoreTimes> {
  const cores = new Map<number, CoreTimes>();
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return cores;
  }
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    cores.set(Number(m[1]), { busy: total - idle, total });
  }
  return cores;
}

/** Busy share (0-100) of the given cores between two readings, averaged over the cores; undefined without data. */
export function coreBusyPct(before: Map<number, CoreTimes>, after: Map<number, CoreTimes>, cores: number[]): number | undefined {
  let busy = 0;
  let total = 0;
  for (const c of cores) {
    const a = before.get(c);
    const b = after.get(c);
    if (!a || !b) return undefined;
    busy += b.busy - a.busy;
    total += b.total - a.total;
  }
  return total > 0 ? (100 * busy) / total : undefined;
}

/** Core numbers of a taskset-style list ("0", "0,1", "0-3"); an empty list for "". */
export function parseCpuList(list: string): number[] {
  const cores: number[] = [];
  for (const part of list.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [lo, hi] = part.split('-').map(Number);
    if (lo === undefined || !Number.isInteger(lo) || (hi !== undefined && !Number.isInteger(hi))) {
      throw new Error(`CPU list "${list}" is not like 0, 0,1 or 0-3`);
    }
    for (let c = lo; c <= (hi ?? lo); c++) cores.push(c);
  }
  return cores;
}

/** cpuSeconds summed over pid and every process whose parent is pid (a forking server such as Kamailio). */
export function treeCpuSeconds(pid: number): number | undefined {
  const own = cpuSeconds(pid);
  if (own === undefined) return undefined;
  let total = own;
  for (const child of childPids(pid)) total += cpuSeconds(child) ?? 0;
  return total;
}

/** A process's resident set in bytes (VmRSS in /proc/<pid>/status); NaN when it cannot be read (gone, no pid). */
export function rssBytes(pid: number | undefined): number {
  return procKb(pid, 'status', /^VmRSS:\s+(\d+) kB/m);
}

/**
 * A process's proportional set size in bytes (Pss in /proc/<pid>/smaps_rollup): its resident set with each page shared
 * with other processes (a forking server's shared memory, the node binary mapped by several edges) counted as its
 * share, so a sum over processes is the memory they hold together. NaN when it cannot be read.
 */
export function pssBytes(pid: number | undefined): number {
  return procKb(pid, 'smaps_rollup', /^Pss:\s+(\d+) kB/m);
}

function procKb(pid: number | undefined, file: string, field: RegExp): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = field.exec(readFileSync(`/proc/${pid}/${file}`, 'latin1'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Memory of pid plus its direct children in bytes: the sum of their proportional set sizes (pssBytes), so pages the
 * processes share (Kamailio's shared memory) count once, not once per process. For a single process it equals its
 * resident set.
 */
export function treeMemoryBytes(pid: number): number | undefined {
  const own = pssBytes(pid);
  if (Number.isNaN(own)) return undefined;
  let total = own;
  for (const c of childPids(pid)) {
    const child = pssBytes(c);
    if (!Number.isNaN(child)) total += child;
  }
  return total;
}

function childPids(pid: number): number[] {
  try {
    // Every thread's children file together lists the direct children (Linux >= 3.5, CONFIG_PROC_CHILDREN).
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}
