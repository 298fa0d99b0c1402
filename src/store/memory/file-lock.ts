// The writers' lock on a data dir: an O_EXCL lock file holding the owner's pid, stale-lock breaking, bounded retry.
// What happens while the lock is held (read tail, validate, append, fsync) is journal.ts's business.
import fs from 'node:fs';
import { SipedgeError } from '../../errors.ts';
import { PRIVATE_FILE_MODE } from '../private-files.ts';

/** How long a writer waits for the lock before giving up; ms. */
const LOCK_WAIT_MS = 5_000;
/** A lock older than this is stale even if its pid is alive (pid reuse); writes hold it for milliseconds. ms. */
const LOCK_MAX_AGE_MS = 30_000;

/** Lock paths this process holds right now (two stores on one dir in one process share them). */
const heldHere = new Set<string>();

/**
 * Exclusive cross-process lock, held only during a synchronous critical section (see withLock), so a lock file
 * naming our own pid while we are not inside that section is a leftover of an earlier process that had the
 * same pid (a container restart), hence stale.
 */
export class FileLock {
  private seq = 0;

  constructor(readonly path: string) {}

  /**
   * Runs `fn` holding the lock. `fn` must be synchronous: the lock is taken, `fn` runs and the lock is released
   * within one turn of the event loop. Waits (bounded, with backoff) while another process holds it; rejects with
   * SIPEDGE_ERR_STORE_LOCKED after `waitMs`. Whatever `fn` throws is rethrown after the release.
   */
  async withLock<T>(fn: () => T, waitMs = LOCK_WAIT_MS): Promise<T> {
    const deadline = Date.now() + waitMs;
    let pause = 1;
    for (;;) {
      if (this.tryAcquire()) {
        try {
          return fn();
        } finally {
          this.release();
        }
      }
      if (Date.now() > deadline) {
        throw new SipedgeError(
          'SIPEDGE_ERR_STORE_LOCKED',
          `store: lock file ${this.path} is held by pid ${this.readOwner() ?? '?'} for more than ${waitMs} ms; ` +
            'if no sipedge process is running, delete the lock file',
        );
      }
      await new Promise((r) => setTimeout(r, pause + Math.random() * pause));
      pause = Math.min(pause * 2, 20);
    }
  }

  /** One attempt: creates the lock file, breaking a stale one first. */
  tryAcquire(): boolean {
    if (heldHere.has(this.path)) return false;
    try {
      const fd = fs.openSync(this.path, 'wx', PRIVATE_FILE_MODE);
      try {
        fs.writeSync(fd, `${process.pid}\n`);
      } finally {
        fs.closeSync(fd);
      }
      heldHere.add(this.path);
      return true;
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw err;
    }
    if (this.isStale()) this.breakStale();
    return false;
  }

  private release(): void {
    if (!heldHere.delete(this.path)) return;
    try {
      fs.unlinkSync(this.path);
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err;
    }
  }

  private readOwner(): string | undefined {
    try {
      return fs.readFileSync(this.path, 'latin1').trim();
    } catch {
      return undefined;
    }
  }

  private isStale(): boolean {
    try {
      return judgeStale(this.path);
    } catch {
      return false; // gone already: the next attempt will just take it
    }
  }

  /**
   * Renames the stale file away before deleting it, so two processes breaking the same stale lock cannot delete
   * a fresh lock that a third one just took; if the renamed file turns out to be fresh, it is put back.
   */
  private breakStale(): void {
    const aside = `${this.path}.stale-${process.pid}-${++this.seq}`;
    try {
      fs.renameSync(this.path, aside);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      throw err;
    }
    let stillStale = true;
    try {
      stillStale = judgeStale(aside);
    } catch {
      stillStale = true;
    }
    if (!stillStale) {
      try {
        fs.linkSync(aside, this.path); // fails if someone already took the lock again; then theirs stands
      } catch {
        // Nothing to restore over: another writer holds a newer lock.
      }
    }
    try {
      fs.unlinkSync(aside);
    } catch {
      // Already removed.
    }
  }
}

/** Whether the lock file at `file` belongs to nobody alive. Throws if the file cannot be read. */
function judgeStale(file: string): boolean {
  const age = Date.now() - fs.statSync(file).mtimeMs;
  const text = fs.readFileSync(file, 'latin1').trim();
  if (age > LOCK_MAX_AGE_MS) return true;
  const pid = Number(text);
  // Created but pid not written yet (the owner is between open and write), or garbage: stale only once old.
  if (text === '' || !Number.isInteger(pid) || pid <= 0) return age > 2_000;
  // Our own pid while this process is not inside a critical section: left by an earlier process with our pid.
  if (pid === process.pid) return !heldHere.has(file);
  return !isAlive(pid);
}

/** Whether a process with this pid exists (one of another user's counts: EPERM). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isCode(err, 'EPERM');
  }
}

/** Whether `err` is a Node system error with this code. */
export function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
