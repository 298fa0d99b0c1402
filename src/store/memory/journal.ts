// The crash-safe journal under <dataDir>/store/: generation files of checksummed JSON lines, appends under the
// cross-process lock with fsync, torn-tail handling, atomic compaction, and tailing what other processes wrote.
// What records mean is the handler's business (account-state.ts and index.ts); the lock itself is file-lock.ts.
import fs from 'node:fs';
import path from 'node:path';
import { SipedgeError } from '../../errors.ts';
import { FileLock, isCode } from './file-lock.ts';
import { encodeRecords, scanLines, type JournalRecord, type SnapshotRecord } from './journal-record.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../private-files.ts';

/** Where a record came from: history read at open, another process's append seen later, or our own append. */
export type RecordSource = 'replay' | 'tail' | 'own';

/** Durable state as a snapshot holds it (without the record header). */
export type SnapshotBody = Omit<SnapshotRecord, 't' | 'gen'>;

/** What the journal calls back into. */
export interface JournalHandler {
  /** Replaces all durable state with a snapshot (first line of a generation file). */
  load(snapshot: SnapshotBody): void;
  /** Applies one non-snapshot record. */
  apply(record: JournalRecord, source: RecordSource): void;
  /** The current durable state, for compaction. */
  dump(): SnapshotBody;
}

/** Journal knobs; defaults suit production. */
export interface JournalTuning {
  /** Compact once the current generation file passes this size (and twice its snapshot); bytes, default 8 MiB. */
  compactAtBytes?: number;
  /** How long a write waits for another process's lock before SIPEDGE_ERR_STORE_LOCKED; ms, default 5000. */
  lockWaitMs?: number;
}

const FILE_RE = /^journal-(\d{10})\.jsonl$/;
const fileName = (gen: number): string => `journal-${String(gen).padStart(10, '0')}.jsonl`;

/**
 * One process's view of the journal: an open fd on the newest generation file and the offset up to which its
 * records have been applied. Every write takes the lock, first applies what other processes appended (so
 * validation sees their writes), then appends whole records with one write and fsyncs before returning.
 */
export class Journal {
  private fd = -1;
  private gen = 0;
  private offset = 0;
  private snapshotBytes = 0;
  private readonly lock: FileLock;
  private readonly compactAtBytes: number;
  private readonly lockWaitMs: number | undefined;

  constructor(
    readonly dir: string,
    private readonly handler: JournalHandler,
    tuning: JournalTuning = {},
  ) {
    this.lock = new FileLock(path.join(dir, 'lock'));
    this.compactAtBytes = tuning.compactAtBytes ?? 8 * 1024 * 1024;
    this.lockWaitMs = tuning.lockWaitMs;
  }

  /** Current generation number (grows by one per compaction). */
  get generation(): number {
    return this.gen;
  }

  /** Creates the directory and the first generation if needed, then replays history (commands are not acted on). */
  async open(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    for (;;) {
      const latest = this.latestGen();
      if (latest === 0) {
        await this.lock.withLock(() => {
          if (this.latestGen() === 0) this.writeGeneration(1, { tenants: [], extensions: [], meta: {} });
        }, this.lockWaitMs);
        continue;
      }
      if (this.openGeneration(latest, 'replay')) break;
    }
    this.readNew('replay', true);
  }

  /** Applies records other processes appended since the last look (including a switch to a newer generation). */
  catchUp(): void {
    this.readNew('tail', false);
  }

  /**
   * Under the lock: catches up, calls `build` (which validates against the now-current state and may throw, in
   * which case nothing is written), appends its records in one write, fsyncs, applies them, maybe compacts.
   * `compactNow`: compact after this write whatever the size (a secret must leave the file history, e.g. a taken token).
   */
  async append(build: () => JournalRecord[], compactNow = false): Promise<void> {
    await this.lock.withLock(() => {
      this.readNew('tail', true);
      const size = fs.fstatSync(this.fd).size;
      // Bytes past the last valid line while we hold the lock can only be a torn write of a writer that died.
      if (size > this.offset) fs.ftruncateSync(this.fd, this.offset);
      const records = build();
      if (records.length === 0) return;
      const buf = encodeRecords(records);
      writeAll(this.fd, buf, this.offset);
      fs.fsyncSync(this.fd);
      this.offset += buf.length;
      // Apply what was written, decoded, so this process holds exactly what every other process will read.
      for (const r of scanLines(buf).records) this.handler.apply(r, 'own');
      if (compactNow || (this.offset > this.compactAtBytes && this.offset > 2 * this.snapshotBytes)) this.compact();
    }, this.lockWaitMs);
  }

  /** Writes the current state as the next generation and drops older ones. Call only under the lock. */
  private compact(): void {
    const next = this.gen + 1;
    this.writeGeneration(next, this.handler.dump());
    const old = this.gen;
    fs.closeSync(this.fd);
    this.fd = -1;
    if (!this.openGeneration(next, 'own')) {
      throw new SipedgeError('SIPEDGE_ERR_STORE_CORRUPT', `store: ${this.file(next)} vanished right after compaction`);
    }
    for (const name of fs.readdirSync(this.dir)) {
      const m = FILE_RE.exec(name);
      if ((m !== null && Number(m[1]) <= old) || name.endsWith('.tmp')) {
        try {
          fs.unlinkSync(path.join(this.dir, name));
        } catch {
          // Another process cleaned up first.
        }
      }
    }
    fsyncDir(this.dir);
  }

  /** Atomically creates generation `gen` holding only a snapshot: temp file, fsync, rename, fsync dir. */
  private writeGeneration(gen: number, body: SnapshotBody): void {
    const snapshot: SnapshotRecord = { t: 'snapshot', gen, ...body };
    const buf = encodeRecords([snapshot]);
    const tmp = `${this.file(gen)}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      writeAll(fd, buf, 0);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file(gen));
    fsyncDir(this.dir);
  }

  /** Opens generation `gen` and loads its snapshot; false if the file was compacted away meanwhile. */
  private openGeneration(gen: number, source: RecordSource, strict = true): boolean {
    let fd: number;
    try {
      fd = fs.openSync(this.file(gen), 'r+');
    } catch (err) {
      if (isCode(err, 'ENOENT')) return false;
      throw err;
    }
    const size = fs.fstatSync(fd).size;
    const buf = readAt(fd, 0, size);
    const scan = scanLines(buf);
    const first = scan.records[0];
    if (first === undefined || first.t !== 'snapshot' || first.gen !== gen) {
      fs.closeSync(fd);
      throw new SipedgeError('SIPEDGE_ERR_STORE_CORRUPT', `store: ${this.file(gen)} does not start with its snapshot line`);
    }
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = fd;
    this.gen = gen;
    this.snapshotBytes = buf.indexOf(0x0a) + 1;
    this.handler.load(first);
    this.applyScanned(scan.records.slice(1), source, this.file(gen), strict && scan.validAfterInvalid);
    this.offset = scan.consumed;
    return true;
  }

  /** Reads and applies complete lines past `offset`, following compactions to newer generations. */
  private readNew(source: RecordSource, strict: boolean): void {
    for (;;) {
      // Look for a newer generation before reading to EOF: once it exists, nothing more is appended here.
      // nlink 0 means a compaction already deleted our file (maybe several generations ago).
      const nextExists = fs.existsSync(this.file(this.gen + 1));
      const st = fs.fstatSync(this.fd);
      const hasNewer = nextExists || st.nlink === 0;
      const size = st.size;
      if (size > this.offset) {
        const scan = scanLines(readAt(this.fd, this.offset, size - this.offset));
        // A tailer without the lock may catch a writer between truncating a torn tail and appending: not strict.
        this.applyScanned(scan.records, source, this.file(this.gen), strict && scan.validAfterInvalid);
        this.offset += scan.consumed;
      }
      if (!hasNewer) return;
      const latest = this.latestGen();
      if (latest <= this.gen) return; // our file was removed by hand; nothing newer to follow
      if (!this.openGeneration(latest, source, strict)) continue; // compacted again meanwhile: look again
    }
  }

  private applyScanned(records: JournalRecord[], source: RecordSource, file: string, validAfterInvalid: boolean): void {
    if (validAfterInvalid) {
      // A damaged line followed by good ones is not a torn tail: refuse rather than silently drop acknowledged data.
      throw new SipedgeError('SIPEDGE_ERR_STORE_CORRUPT', `store: ${file} has a damaged line before valid ones (after byte ${this.offset})`);
    }
    for (const r of records) {
      if (r.t === 'snapshot') {
        throw new SipedgeError('SIPEDGE_ERR_STORE_CORRUPT', `store: ${file} has a snapshot line in the middle`);
      }
      this.handler.apply(r, source);
    }
  }

  private latestGen(): number {
    let best = 0;
    for (const name of fs.readdirSync(this.dir)) {
      const m = FILE_RE.exec(name);
      if (m !== null) best = Math.max(best, Number(m[1]));
    }
    return best;
  }

  private file(gen: number): string {
    return path.join(this.dir, fileName(gen));
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** fsyncs a directory, so that a file created or renamed in it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
