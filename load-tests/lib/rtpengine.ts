// A real rtpengine for tests and benchmarks: src/relay/local-rtpengine.ts's child process, on a media port block of its
// own. rtpengine binds its media ports with SO_REUSEADDR, so two of them given one range would share ports silently
// (found by trying: both answered offers on the same ports); blocks are handed out machine-wide through lock files, so
// parallel test files and suites in other checkouts never overlap.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRtpengine, type LocalRtpengine } from '../../src/relay/local-rtpengine.ts';
import { claimLock } from './lock-file.ts';

/**
 * Blocks of BLOCK ports from FIRST: below the kernel's ephemeral range (32768 on Linux), below the hold music's default
 * range (20000-29999) and the local production one (`sipedge start --local-rtpengine`: 16000-19999), and away from
 * the 30000-40000 of the Debian package's own rtpengine service, should one run on the machine.
 */
const FIRST = 12_000;
const BLOCK = 100;
const BLOCKS = 40;
const LOCK_DIR = join(tmpdir(), 'sipedge-rtpengine-ports');

export interface TestRtpengine extends LocalRtpengine {
  /** The NG port (the host is 127.0.0.1). */
  readonly ngPort: number;
  /** Its last log lines, for a failing test's message. */
  log(): string;
}

/** Takes a free port block (a lock file naming this process); stale locks of dead processes are taken over. */
function takeBlock(): { min: number; release(): void } {
  for (let i = 0; i < BLOCKS; i++) {
    const min = FIRST + i * BLOCK;
    const file = claimLock(LOCK_DIR, String(min));
    if (file !== undefined) return { min, release: () => rmSync(file, { force: true }) };
  }
  throw new Error(`no free rtpengine port block under ${LOCK_DIR} (${BLOCKS} in use)`);
}

/**
 * Starts rtpengine on 127.0.0.1 (NG on a free port, media on its own port block) with --delete-delay=0, so that a
 * deleted call is gone at once (a `query` then answers "Unknown call-id"), and --timeout as given (default 60 s).
 */
export async function startTestRtpengine(
  opts: { mediaAddress?: string; extraArgs?: string[]; logLevel?: number; ports?: { min: number; max: number } } = {},
): Promise<TestRtpengine> {
  // A benchmark names a wide range of its own (many calls at once); tests share the locked blocks.
  const block = opts.ports !== undefined ? { min: opts.ports.min, release: () => undefined } : takeBlock();
  const lines: string[] = [];
  let r: LocalRtpengine;
  try {
    r = await startLocalRtpengine({
      mediaAddress: opts.mediaAddress ?? '127.0.0.1',
      portMin: block.min,
      portMax: opts.ports?.max ?? block.min + BLOCK - 1,
      logLevel: opts.logLevel ?? 6,
      extraArgs: ['--delete-delay=0', ...(opts.extraArgs ?? [])],
      onLog: (l) => {
        lines.push(l);
        if (lines.length > 200) lines.shift();
      },
    });
  } catch (e) {
    block.release();
    throw e;
  }
  void r.exited.then(() => block.release());
  return {
    ...r,
    ngPort: Number(r.address.slice(r.address.lastIndexOf(':') + 1)),
    log: () => lines.join('\n'),
  };
}
