// The embedded store: wires the journal, account state and volatile maps into Stores, and runs the one interval
// (journal tail for the edge role, expiry sweep). Record formats, locking and each concern live in sibling files.
import fs from 'node:fs';
import type { StoreOptions, Stores } from '../types.ts';
import { AccountState } from './account-state.ts';
import { MemoryAccountStore, MemoryMetaStore } from './accounts.ts';
import { MemoryBindingStore } from './bindings.ts';
import { Journal, type JournalTuning, type RecordSource } from './journal.ts';
import type { JournalRecord } from './journal-record.ts';
import { MemoryLockoutStore } from './lockouts.ts';
import { MediaState, MemoryMediaStore } from './media.ts';
import { MemoryNonceCountStore } from './nonce-counts.ts';
import { MemoryNodeStore } from './nodes.ts';
import { GatewayState } from './gateway-state.ts';
import { MemoryLoginStore, MemorySessionStore, MemoryTokenStore } from './logins.ts';
import { MemoryUpstreamChoiceStore } from './upstream-choices.ts';
import { sequentialProven } from '../proven.ts';

/** Timing knobs of the embedded store; defaults suit production, tests shorten them. */
export interface MemoryStoreTuning extends JournalTuning {
  /** How often the edge role checks the journal for other processes' writes (fs.watch also wakes it); ms, default 250. */
  tailPollMs?: number;
  /** How often expired volatile entries are freed; ms, default 5000. */
  sweepMs?: number;
}

/** The embedded store's Stores, plus what tests and the wiring may want to look at. */
export interface MemoryStores extends Stores {
  /** Current journal generation (grows by one per compaction). */
  readonly journalGeneration: () => number;
  /** Applies other processes' journal records now instead of waiting for the tailer. */
  readonly catchUp: () => void;
  /** Last error the background tailer hit (undefined while healthy). */
  readonly tailError: () => Error | undefined;
}

/**
 * Opens the embedded store in `dir` (normally `<dataDir>/store`): replays the journal, then, in the edge role,
 * tails it so writes and commands from a CLI process show up within a second. Rejects with
 * SIPEDGE_ERR_STORE_CORRUPT when the journal is damaged beyond a torn last line.
 */
export async function openMemoryStores(dir: string, opts: StoreOptions, tuning: MemoryStoreTuning = {}): Promise<MemoryStores> {
  const isEdge = opts.role === 'edge';
  const state = new AccountState();
  const gateway = new GatewayState(opts.clock);
  const media = new MediaState();
  // Assigned below; the journal's handler needs them and they need the journal (to forward CLI commands).
  let bindings: MemoryBindingStore | undefined;
  let lockouts: MemoryLockoutStore | undefined;

  const journal = new Journal(
    dir,
    {
      load: (s) => {
        state.load(s);
        gateway.load(s);
        media.load(s.media, s.mediaRev);
      },
      dump: () => ({ ...state.dump(), ...gateway.dump(), ...media.dump() }),
      apply: (r: JournalRecord, source: RecordSource) => {
        state.apply(r);
        gateway.apply(r);
        media.apply(r);
        // Commands act only in a running edge and only when they arrive live: history is not replayed at start.
        if (!isEdge || source !== 'tail') return;
        if (r.t === 'unlock') {
          if (r.all) lockouts?.unlockAllNow(r.key);
          else lockouts?.unlockNow(r.key);
        }
        else if (r.t === 'unban') lockouts?.unbanNow(r.source);
        else if (r.t === 'remove-bindings') bindings?.removeNow(r.aor);
      },
    },
    tuning,
  );
  await journal.open();

  bindings = new MemoryBindingStore(isEdge ? undefined : (aor) => journal.append(() => [{ t: 'remove-bindings', aor }]));
  lockouts = new MemoryLockoutStore(
    isEdge
      ? undefined
      : {
          unlock: (key) => journal.append(() => [{ t: 'unlock', key }]),
          unlockAll: (key) => journal.append(() => [{ t: 'unlock', key, all: true }]),
          unban: (source) => journal.append(() => [{ t: 'unban', source }]),
        },
  );
  const nonces = new MemoryNonceCountStore();
  const sessions = new MemorySessionStore();

  let closed = false;
  let tailError: Error | undefined;
  const tail = (): void => {
    try {
      journal.catchUp();
      tailError = undefined;
    } catch (err) {
      // Never let a background read crash the edge; the next write (strict) or the next tick reports it again.
      tailError = err instanceof Error ? err : new Error(String(err));
    }
  };
  // The CLI role catches up before each account read; the edge relies on the tailer (no syscall on the hot path).
  const freshen = isEdge ? (): void => {} : tail;

  const sweepMs = tuning.sweepMs ?? 5_000;
  const tickMs = isEdge ? (tuning.tailPollMs ?? 250) : sweepMs;
  let lastSweep = 0;
  const timer = setInterval(() => {
    if (closed) return;
    if (isEdge) tail();
    const now = opts.clock.now();
    if (Math.abs(now - lastSweep) >= sweepMs) {
      lastSweep = now;
      bindings?.sweep(now);
      lockouts?.sweep(now);
      nonces.sweep(now);
      sessions.sweep(now);
      gateway.sweep(now);
    }
  }, Math.min(tickMs, sweepMs));
  timer.unref();

  let watcher: fs.FSWatcher | undefined;
  if (isEdge) {
    try {
      let queued = false;
      // One catch-up per burst of events (a write touches the lock file and the journal).
      watcher = fs.watch(dir, { persistent: false }, () => {
        if (queued || closed) return;
        queued = true;
        setImmediate(() => {
          queued = false;
          if (!closed) tail();
        });
      });
      watcher.on('error', () => {
        // The poll above still runs; a watcher is only a shortcut.
        watcher?.close();
      });
    } catch {
      watcher = undefined; // Filesystems without inotify: the poll alone keeps us within a second.
    }
  }

  return {
    accounts: new MemoryAccountStore(state, journal, freshen),
    bindings,
    nodes: new MemoryNodeStore(),
    lockouts,
    nonces,
    proven: sequentialProven(nonces, lockouts, bindings),
    upstreamChoices: new MemoryUpstreamChoiceStore(),
    meta: new MemoryMetaStore(state, journal),
    logins: new MemoryLoginStore(gateway, journal, freshen),
    sessions,
    tokens: new MemoryTokenStore(gateway, journal),
    media: new MemoryMediaStore(media, journal, dir, freshen),
    journalGeneration: () => journal.generation,
    catchUp: () => journal.catchUp(),
    tailError: () => tailError,
    status: () => ({ ok: true }),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      watcher?.close();
      journal.close();
    },
  };
}
