// BindingStore on Redis: each AOR's bindings as one JSON value with a version in a hash, plus a ZSET index of
// binding expiries for countActive. The compare-and-set is one Lua script (scripts.ts).
import type { Redis } from 'ioredis';
import type { Binding, BindingSet, BindingStore } from '../types.ts';
import { guarded } from './connection.ts';
import { LastKnown, type LastKnownOptions } from './last-known.ts';

const INDEX = 'bindings:index';
const VERSION = 'bindings:version';
const aorKey = (aor: string): string => `aor:${aor}`;

/**
 * The keys and arguments of a bindings compare-and-set (scripts.ts replaceBindings), appended to `keys` and `args`;
 * the bindings passed on are the ones still live at `now`.
 */
export function replaceArgs(aor: string, bindings: Binding[], expectedVersion: number, now: number, keys: (string | number)[], args: (string | number)[]): Binding[] {
  const live = bindings.filter((x) => x.expiresAt > now);
  keys.push(aorKey(aor), INDEX, VERSION);
  args.push(expectedVersion, now, aor, JSON.stringify(live), live.length);
  for (const x of live) args.push(x.expiresAt);
  return live;
}

/**
 * Shared location service. Versions come from one INCR counter, so they never repeat for an AOR even after its
 * key expired or was removed (no ABA). The hash expires (PEXPIRE) at its latest binding's expiry; reads also
 * filter by the caller's `now`. While Redis cannot be reached, get() answers what this node last read or wrote for
 * the AOR (last-known.ts), with version 0.
 */
export class RedisBindingStore implements BindingStore {
  /** Each AOR's bindings as last read or written here, for calls to registered phones during an outage. */
  private readonly known: LastKnown<Binding[]>;

  constructor(
    private readonly redis: Redis,
    outageCache?: LastKnownOptions,
  ) {
    this.known = new LastKnown(outageCache);
  }

  async get(aor: string, now: number): Promise<BindingSet> {
    let version = 0;
    const all = await this.known.read(
      aor,
      now,
      async () => {
        const [v, b] = await guarded(this.redis.hmget(aorKey(aor), 'v', 'b'));
        if (v === null || v === undefined || b === null || b === undefined) return [];
        version = Number(v);
        return JSON.parse(b) as Binding[];
      },
      latestExpiry,
    );
    return { bindings: all.filter((x) => x.expiresAt > now), version };
  }

  async replace(aor: string, bindings: Binding[], expectedVersion: number, now: number): Promise<boolean> {
    const keys: (string | number)[] = [];
    const args: (string | number)[] = [];
    const live = replaceArgs(aor, bindings, expectedVersion, now, keys, args);
    const replaced = (await guarded(this.redis.sipedgeBindingsReplace(...keys, ...args))) === 1;
    if (replaced) this.stored(aor, live, now);
    return replaced;
  }

  /** `live` was just written for `aor` (here or by a ProvenStore commit): the outage cache's copy. */
  stored(aor: string, live: Binding[], now: number): void {
    this.known.remember(aor, live, now, latestExpiry(live));
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
