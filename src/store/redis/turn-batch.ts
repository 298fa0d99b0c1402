// The REGISTER and call paths' commands gathered per event-loop turn: their reads (ban, tenant, lock state, account,
// bindings) into one read-only script call (scripts.ts TURN_READS), a proven digest's writes (PROVEN_COMMIT) into one
// more (PROVEN_COMMITS). Which keys each store uses is the store files' concern; when the turn's commands are written,
// connection.ts's.
import type { Redis } from 'ioredis';

/** One answer: a read's string, null for a missing key or field, a list of those (HMGET, MGET), or a commit's number. */
type Reply = string | number | null | (string | null)[];

/**
 * Keys and arguments one script call carries at most: a busy turn's commands leave in several calls (written together
 * all the same), so no call outgrows a JavaScript argument list (ioredis spreads them) or holds Redis for long.
 */
const MAX_CALL_ARGS = 4096;

/** One script call's worth of commands: their keys, their arguments and who waits for each answer. */
class Queue {
  keys: string[] = [];
  args: (string | number)[] = [];
  waiting: { resolve(reply: Reply): void; reject(err: unknown): void }[] = [];

  /** Sends what is queued through `call` (numkeys, keys, arguments), settling each waiter with its own answer. */
  send(call: (...args: (string | number)[]) => Promise<(Reply | Error)[]>): void {
    const waiting = this.waiting;
    if (waiting.length === 0) return;
    const keys = this.keys;
    const args = this.args;
    this.keys = [];
    this.args = [];
    this.waiting = [];
    let sent: Promise<(Reply | Error)[]>;
    try {
      sent = call(keys.length, ...keys, ...args);
    } catch (err) {
      // Called from the connection's end of turn: a throw here would end the process, not one request.
      for (const w of waiting) w.reject(err);
      return;
    }
    sent.then(
      (replies) => {
        for (let i = 0; i < waiting.length; i++) {
          const reply = replies[i];
          if (reply instanceof Error) waiting[i]!.reject(reply);
          else waiting[i]!.resolve(reply!);
        }
      },
      (err: unknown) => {
        for (const w of waiting) w.reject(err);
      },
    );
  }
}

/**
 * Every command issued through here in one event-loop turn, by every request, leaves in one of two script calls at
 * the turn's end (flush(), called by the connection before it writes the turn's commands): the commits first, then
 * the reads, and each command's promise settles with its own answer. ioredis' cost is per command (a Command object
 * with its promise, key prefixing, the reply's routing), and so is much of Redis's (an EVALSHA call), so a turn of 20
 * REGISTERs costs two commands instead of 20 x 6. A read sees every write issued before the turn ended, also one
 * issued after it in the same turn (commands issued in one turn without waiting for each other are concurrent).
 * A command that Redis refuses (wrong type) fails alone; a failed call fails all of its commands.
 */
export class TurnBatch {
  private readonly reads = new Queue();
  private readonly commits = new Queue();

  constructor(
    private readonly redis: Redis,
    /** Makes sure flush() runs at the end of this turn. */
    private readonly endOfTurn: () => void,
  ) {}

  get(key: string): Promise<string | null> {
    this.reads.keys.push(key);
    this.reads.args.push('g');
    return this.wait(this.reads);
  }

  hget(key: string, field: string): Promise<string | null> {
    this.reads.keys.push(key);
    this.reads.args.push('h', field);
    return this.wait(this.reads);
  }

  hmget(key: string, ...fields: string[]): Promise<(string | null)[]> {
    this.reads.keys.push(key);
    this.reads.args.push('H', fields.length, ...fields);
    return this.wait(this.reads);
  }

  mget(...keys: string[]): Promise<(string | null)[]> {
    this.reads.keys.push(...keys);
    this.reads.args.push('m', keys.length);
    return this.wait(this.reads);
  }

  /** HGET `outer` at the value of HGET `inner` `field` (the tenant of a domain), null when either is missing. */
  hgetVia(outer: string, inner: string, field: string): Promise<string | null> {
    this.reads.keys.push(outer, inner);
    this.reads.args.push('v', field);
    return this.wait(this.reads);
  }

  /** PROVEN_COMMIT with these keys and arguments (proven.ts): 0 replay, 1 stored, 2 stored but the bindings moved. */
  provenCommit(keys: readonly string[], args: readonly (string | number)[]): Promise<number> {
    this.commits.keys.push(...keys);
    this.commits.args.push(keys.length, args.length, ...args);
    return this.wait(this.commits);
  }

  /** Sends the commands issued since the last flush; nothing when there are none. */
  flush(): void {
    this.sendCommits();
    this.sendReads();
  }

  private sendCommits(): void {
    this.commits.send((...a) => this.redis.sipedgeProvenCommits(...a));
  }

  private sendReads(): void {
    this.reads.send((...a) => this.redis.sipedgeTurnReads(...a));
  }

  /**
   * The promise of the command just queued. Batched until the turn ends while the connection is ready; otherwise sent
   * at once, so it fails at once as every other command does then (no offline queue).
   */
  private wait<T extends Reply>(queue: Queue): Promise<T> {
    const p = new Promise<T>((resolve, reject) => queue.waiting.push({ resolve: resolve as (reply: Reply) => void, reject }));
    if (this.redis.status !== 'ready') this.flush();
    else if (queue.keys.length + queue.args.length >= MAX_CALL_ARGS) {
      // Commits before reads, as at the turn's end: a read issued after a commit sees it.
      this.sendCommits();
      if (queue === this.reads) this.sendReads();
    } else if (this.reads.waiting.length + this.commits.waiting.length === 1) this.endOfTurn();
    return p;
  }
}
