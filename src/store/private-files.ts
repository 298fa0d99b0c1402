// The data directory's modes: 0700 for it and every directory below, 0600 for every file (journal, keys, hold-music
// artifacts, TLS key, outbox). Write sites create files with these modes; securePrivateFiles checks and fixes at start.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Mode of the data directory and every directory in it. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file in the data directory: the journal holds HA1s and keys, enough to register as any extension. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dataDir` (0700) when missing, then makes it and everything below it private: a directory with any group or
 * other bit gets 0700, a file 0600. Symbolic links are left alone (and not followed). Returns the paths it changed,
 * relative to `dataDir` ('.' for the directory itself), for the caller's warning. Synchronous: it runs once at start.
 */
export function securePrivateFiles(dataDir: string): string[] {
  fs.mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const fixed: string[] = [];
  const visit = (p: string): void => {
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      if ((st.mode & 0o077) !== 0) {
        fs.chmodSync(p, PRIVATE_DIR_MODE);
        fixed.push(path.relative(dataDir, p) || '.');
      }
      for (const name of fs.readdirSync(p)) visit(path.join(p, name));
    } else if (st.isFile() && (st.mode & 0o077) !== 0) {
      fs.chmodSync(p, PRIVATE_FILE_MODE);
      fixed.push(path.relative(dataDir, p));
    }
  };
  visit(dataDir);
  return fixed;
}
