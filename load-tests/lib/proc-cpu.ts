// CPU time of a running process (all its threads) from /proc/<pid>/stat, so load reports can say which side saturated.
// Linux only; elsewhere, and after the process has exited, readings are undefined.
import { readFileSync } from 'node:fs';

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
