// Journal line format: "<crc32 as 8 hex> <json>\n", one record per line, and the record types it carries.
// Reading, appending, locking and compaction live in journal.ts; what a record does to state lives in account-state.ts.
import { crc32 } from 'node:zlib';
import type { Extension, LoginRecord, MediaVersion, Tenant } from '../types.ts';

/** Full durable state; always the first line of a generation file. */
export interface SnapshotRecord {
  t: 'snapshot';
  gen: number;
  tenants: Tenant[];
  extensions: Extension[];
  meta: Record<string, string>;
  /** Gateway logins (absent in snapshots written before the gateway's logins existed). */
  logins?: LoginRecord[];
  /** "tenant/ext" -> last TOTP step used. */
  totpSteps?: Record<string, number>;
  /** Unexpired single-use tokens. */
  tokens?: StoredToken[];
  /** Hold-music versions (absent in journals written before hold music existed). */
  media?: MediaVersion[];
  /** Hold-music activation counter. */
  mediaRev?: number;
}

/** A single-use token as the journal keeps it. */
export interface StoredToken {
  id: string;
  value: string;
  expiresAt: number;
}

/**
 * One journal record. Durable records (tenant, extensions, meta) are state; command records (unlock, unban,
 * remove-bindings) are messages from a CLI process to the running edge and are ignored when history is replayed.
 */
export type JournalRecord =
  | SnapshotRecord
  | { t: 'tenant'; tenant: Tenant }
  | { t: 'extensions'; extensions: Extension[] }
  | { t: 'meta'; name: string; value: string }
  | { t: 'unlock'; key: string; all?: boolean }
  | { t: 'unban'; source: string }
  | { t: 'remove-bindings'; aor: string }
  | { t: 'extension-remove'; tenant: string; ext: string }
  | { t: 'tenant-remove'; code: string }
  | { t: 'login'; login: LoginRecord }
  | { t: 'login-remove'; tenant: string; ext: string }
  | { t: 'totp-step'; key: string; step: number }
  | ({ t: 'token' } & StoredToken)
  | { t: 'token-take'; id: string }
  | { t: 'media-version'; version: MediaVersion }
  | { t: 'media-activate'; id: string; at: number };

const RECORD_TYPES: ReadonlySet<string> = new Set([
  'snapshot', 'tenant', 'extensions', 'meta', 'unlock', 'unban', 'remove-bindings',
  'extension-remove', 'tenant-remove', 'login', 'login-remove', 'totp-step', 'token', 'token-take',
  'media-version', 'media-activate',
]);

const NEWLINE = 0x0a;
const SPACE = 0x20;
const HEX_LEN = 8;

/** Encodes records as whole lines in one buffer, so one writeSync appends them all. */
export function encodeRecords(records: readonly JournalRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const json = Buffer.from(JSON.stringify(r), 'utf8');
    const head = Buffer.from(crc32(json).toString(16).padStart(HEX_LEN, '0') + ' ', 'latin1');
    parts.push(head, json, Buffer.from([NEWLINE]));
  }
  return Buffer.concat(parts);
}

/**
 * Decodes one line (without its newline). Returns undefined when the checksum, the JSON or the record type is
 * wrong: that is what a torn write (kill -9, power loss) leaves behind.
 */
function decodeLine(line: Buffer): JournalRecord | undefined {
  if (line.length < HEX_LEN + 3 || line[HEX_LEN] !== SPACE) return undefined;
  const want = Number.parseInt(line.toString('latin1', 0, HEX_LEN), 16);
  if (!Number.isInteger(want)) return undefined;
  const json = line.subarray(HEX_LEN + 1);
  if (crc32(json) !== want) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const t = (value as { t?: unknown }).t;
  if (typeof t !== 'string' || !RECORD_TYPES.has(t)) return undefined;
  return value as JournalRecord;
}

/** Result of scanning a byte range for complete lines. */
export interface ScanResult {
  records: JournalRecord[];
  /** Bytes consumed: the end of the last valid, newline-terminated line. */
  consumed: number;
  /** True when an invalid complete line stopped the scan (as opposed to running out of complete lines). */
  hitInvalid: boolean;
  /** True when some valid line follows the invalid one: the damage is not a torn tail, the file is corrupt. */
  validAfterInvalid: boolean;
}

/** Splits `buf` into records, stopping at the first incomplete or invalid line. */
export function scanLines(buf: Buffer): ScanResult {
  const records: JournalRecord[] = [];
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf(NEWLINE, pos);
    if (nl < 0) return { records, consumed: pos, hitInvalid: false, validAfterInvalid: false };
    const rec = decodeLine(buf.subarray(pos, nl));
    if (rec === undefined) {
      return { records, consumed: pos, hitInvalid: true, validAfterInvalid: hasValidLine(buf, nl + 1) };
    }
    records.push(rec);
    pos = nl + 1;
  }
}

function hasValidLine(buf: Buffer, from: number): boolean {
  let pos = from;
  for (;;) {
    const nl = buf.indexOf(NEWLINE, pos);
    if (nl < 0) return false;
    if (decodeLine(buf.subarray(pos, nl)) !== undefined) return true;
    pos = nl + 1;
  }
}
