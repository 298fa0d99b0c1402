// UpstreamChoiceStore on Redis: one hash per AOR (u = upstream uri, s = since) and a hash of counts per upstream.
// The compare-and-set is one Lua script, so two edge nodes racing for one AOR agree on the first writer's choice.
import type { ClientContext, Redis, Result } from 'ioredis';
import type { UpstreamChoice, UpstreamChoiceStore } from '../types.ts';
import { guarded } from './connection.ts';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    /** KEYS choice hash, counts hash; ARGV expected ('' = none), upstream, since. -> [upstream, since] in force. */
    sipedgeUpstreamCas(choiceKey: string, countsKey: string, expected: string, upstream: string, since: number): Result<[string, string], Context>;
    /** KEYS choice hash, counts hash. */
    sipedgeUpstreamRemove(choiceKey: string, countsKey: string): Result<number, Context>;
  }
}

const COUNTS = 'upstream:counts';
const choiceKey = (aor: string): string => `upstream:aor:${aor}`;

const CAS = `
local cur = redis.call('HGET', KEYS[1], 'u')
if (cur or '') ~= ARGV[1] then
  if cur then return {cur, redis.call('HGET', KEYS[1], 's')} end
  return {ARGV[2], ARGV[3]}
end
if cur then redis.call('HINCRBY', KEYS[2], cur, -1) end
redis.call('HSET', KEYS[1], 'u', ARGV[2], 's', ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return {ARGV[2], ARGV[3]}
`;

const REMOVE = `
local cur = redis.call('HGET', KEYS[1], 'u')
if cur then redis.call('HINCRBY', KEYS[2], cur, -1) end
redis.call('DEL', KEYS[1])
return 1
`;

/** Shared chosen upstreams; kept until removed (an extension keeps its upstream across registrations). */
export class RedisUpstreamChoiceStore implements UpstreamChoiceStore {
  constructor(private readonly redis: Redis) {
    redis.defineCommand('sipedgeUpstreamCas', { numberOfKeys: 2, lua: CAS });
    redis.defineCommand('sipedgeUpstreamRemove', { numberOfKeys: 2, lua: REMOVE });
  }

  async get(aor: string): Promise<UpstreamChoice | undefined> {
    const [u, s] = await guarded(this.redis.hmget(choiceKey(aor), 'u', 's'));
    if (u === null || u === undefined) return undefined;
    return { upstream: u, since: Number(s ?? 0) };
  }

  async compareAndSet(aor: string, expected: string | undefined, next: UpstreamChoice): Promise<UpstreamChoice> {
    const [u, s] = await guarded(this.redis.sipedgeUpstreamCas(choiceKey(aor), COUNTS, expected ?? '', next.upstream, next.since));
    return { upstream: u, since: Number(s) };
  }

  async remove(aor: string): Promise<void> {
    await guarded(this.redis.sipedgeUpstreamRemove(choiceKey(aor), COUNTS));
  }

  async countByUpstream(): Promise<Map<string, number>> {
    const all = await guarded(this.redis.hgetall(COUNTS));
    const out = new Map<string, number>();
    for (const [k, v] of Object.entries(all)) if (Number(v) > 0) out.set(k, Number(v));
    return out;
  }
}
