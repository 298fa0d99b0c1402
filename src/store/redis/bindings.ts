// BindingStore on Redis: each AOR's bindings as one JSON value with a version in a hash, plus a ZSET index of
// binding expiries for countActive. The compare-and-set is one Lua script (scripts.ts).
import type { Redis } from 'ioredis';
import type { Binding, BindingSet, BindingStore } from '../types.ts';
import { guarded } from './connection.ts';
import { LastKnown, type LastKnownOptions } from './last-known.ts';
import type { TurnBatch } from './turn-batch.ts';

const INDEX = 'bindings:index';
const VERSION = 'bindings:version';
const aorKey = (aor: string): string => `aor:${aor}`;
/** An AOR without bindings, as the outage cache keeps it. */
const NONE = '[]';

/**
 * The keys and arguments of a bindings compare-and-set (scripts.ts replaceBindings), appended to `keys` and `args`;
 * the bindings passed on are the ones still live at `now`.
 */
export function replaceArgs(aor: string, bindings: Binding[], expectedVersion: number, now: number, keys: string[], args: (string | number)[]): Written {
  const live = bindings.filter((x) => x.expiresAt > now);
  const json = JSON.stringify(live);
  keys.push(aorKey(aor), INDEX, VERSION);
  args.push(expectedVersion, now, aor, json, live.length);
  for (const x of live) args.push(x.expiresAt);
  return { live, json };
}

/** The bindings a compare-and-set writes (the live ones) and their JSON as stored. */
export interface Written {
  live: Binding[];
  json: string;
}

/**
 * Shared location service. Versions come from one INCR counter, so they never repeat for an AOR even after its
 * key expired or was removed (no ABA). The hash expires (PEXPIRE) at its latest binding's expiry; reads also
 * filter by the caller's `now`. While Redis cannot be reached, get() answers what this node last read or wrote for
 * the AOR (last-known.ts), with version 0.
 */
export class RedisBindingStore implements BindingStore {
  /** Each AOR's bindings (their JSON) as last read or written here, for calls to registered phones during an outage. */
  private readonly known: LastKnown<string>;

  constructor(
    private readonly redis: Redis,
    /** get() reads with the turn's other reads. */
    private readonly batch: TurnBatch,
    outageCache?: LastKnownOptions,
  ) {
    this.known = new LastKnown(outageCache);
  }

  async get(aor: string, now: number): Promise<BindingSet> {
    let version = 0;
    let all: Binding[] | undefined;
    const json = await this.known.read(
      aor,
      now,
      async () => {
        const [v, b] = await guarded(this.batch.hmget(aorKey(aor), 'v', 'b'));
        if (v === null || v === undefined || b === null || b === undefined) {
          all = [];
          return NONE;
        }
        version = Number(v);
        all = JSON.parse(b) as Binding[];
        return b;
      },
      () => latestExpiry(all!),
    );
    // Parsed above, unless answered from the outage cache.
    all ??= JSON.parse(json) as Binding[];
    return { bindings: all.filter((x) => x.expiresAt > now), version };
  }

  async replace(aor: string, bindings: Binding[], expectedVersion: number, now: number): Promise<boolean> {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    const written = replaceArgs(aor, bindings, expectedVersion, now, keys, args);
    const replaced = (await guarded(this.redis.sipedgeBindingsReplace(...keys, ...args))) === 1;
    if (replaced) this.stored(aor, written, now);
    return replaced;
  }

  /** `written` was just stored for `aor` (here or by a ProvenStore commit): the outage cache's copy. */
  stored(aor: string, written: Written, now: number): void {
    this.known.remember(aor, written.json, now, latestExpiry(written.live));
  }

  async removeAll(aor: string): Promise<void> {
    await guarded(this.redis.sipedgeBindingsRemove(aorKey(aor), INDEX, aor));
    this.known.forget(aor);
  }

  async countActive(now: number): Promise<number> {
    return await guarded(this.redis.zcount(INDEX, `(${now}`, '+inf'));
  }

  async aors(now: number): Promise<string[]> {
    // Index members are `<aor>#<n>` (scripts.ts BINDINGS_REPLACE).
    const members = await guarded(this.redis.zrangebyscore(INDEX, `(${now}`, '+inf'));
    return [...new Set(members.map((m) => m.slice(0, m.lastIndexOf('#'))))];
  }
}

function latestExpiry(bindings: Binding[]): number {
  let latest = 0;
  for (const b of bindings) if (b.expiresAt > latest) latest = b.expiresAt;
  return latest;
}
