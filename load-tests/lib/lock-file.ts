// Machine-wide claims by lock file, for what parallel test files and suites in other checkouts hand out from one
// range (rtpengine port blocks, server ports): a file named for the thing, holding the claiming process's pid.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../../src/store/memory/file-lock.ts';

/**
 * Claims `name` under `dir` for this process: the path of its lock file, or undefined when a live process (this one
 * included) holds it. A claim whose process is gone is taken over. Release by removing the file.
 */
export function claimLock(dir: string, name: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return file;
    } catch {
      if (attempt > 0 || isAlive(Number(readText(file)))) return undefined;
      rmSync(file, { force: true });
    }
  }
  return undefined;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
