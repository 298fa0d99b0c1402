// Merged-request detection (RFC 3261 §8.2.2.2): the same request (From tag, Call-ID, CSeq) on a second branch.
// Retransmissions (same branch) never get here: the transaction layer absorbs them.
import type { Clock } from '../clock.ts';

/** How long a request is remembered: a client transaction's lifetime, 64*T1; ms. */
const WINDOW_MS = 32_000;

interface Seen {
  branch: string;
  at: number;
}

/**
 * Out-of-dialog requests seen in the last 32 s, keyed by From tag, Call-ID and CSeq, in arrival order: the sweep
 * only looks at the oldest entries, so the cost per request is one Map set plus amortised O(1) expiry (no scan of
 * open transactions, as STYLE §9 asks).
 */
export class MergedRequests {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly clock: Clock) {}

  /**
   * Records the request and tells whether it is merged: true when a request with the same key arrived earlier on a
   * different top-Via branch (a second upstream, or a PBX forking to the edge twice). The caller answers 482.
   */
  isMerged(fromTag: string, callId: string, cseq: number, method: string, branch: string): boolean {
    const now = this.clock.now();
    this.expire(now);
    const key = fromTag + '\n' + callId + '\n' + cseq + ' ' + method;
    const prev = this.seen.get(key);
    if (prev !== undefined) return prev.branch !== branch;
    // Flattened copies: slices of the message would keep the whole message alive for the window (see transaction-key.ts).
    this.seen.set((' ' + key).slice(1), { branch: (' ' + branch).slice(1), at: now });
    return false;
  }

  get size(): number {
    return this.seen.size;
  }

  private expire(now: number): void {
    for (const [key, s] of this.seen) {
      if (now - s.at < WINDOW_MS) return;
      this.seen.delete(key);
    }
  }
}
