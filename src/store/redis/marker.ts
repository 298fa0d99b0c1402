// The store's marker key: a random id written once when a Redis store is first used, so that a Redis that restarted
// empty (or was flushed) is told apart from an outage, and the rule that generated secrets are minted only beside it.
// Watching for the marker is health.ts's job; the README ("Redis outages") gives the operator's recovery steps.
import { randomUUID } from 'node:crypto';
import type { Redis, Result, ClientContext } from 'ioredis';

/** The marker key: the id of the store this data belongs to. */
export const MARKER_KEY = 'store-id';
/** Written by a node that found the marker gone: the lost store's id (README: rename it back to recover). */
export const LOST_KEY = 'store-lost';
/** Generated secrets (nonce secret, gateway key), MetaStore's hash. */
export const META_KEY = 'meta';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    /** KEYS marker, lost; ARGV candidate id. -> ['ok'|'new', id] or ['lost', lost id]. */
    sipedgeStoreOpen(marker: string, lost: string, candidate: string): Result<[string, string], Context>;
    /** KEYS marker, lost, meta; ARGV id, then name/value pairs held. -> 'present' or 'lost'. */
    sipedgeStoreLost(marker: string, lost: string, meta: string, ...args: string[]): Result<string, Context>;
    /** KEYS marker, meta; ARGV name, candidate. -> the value, or false when the marker is missing. */
    sipedgeMetaGetOrSet(marker: string, meta: string, name: string, candidate: string): Result<string | null, Context>;
  }
}

/**
 * A marker: this store. No marker and no lost key: a store no running node knew (new, or written before markers
 * existed): it gets a marker. No marker but a lost key: the data is gone and some node still holds the old secrets.
 */
const STORE_OPEN = `
local id = redis.call('GET', KEYS[1])
if id then return {'ok', id} end
local lost = redis.call('GET', KEYS[2])
if lost then return {'lost', lost} end
redis.call('SET', KEYS[1], ARGV[1])
return {'new', ARGV[1]}
`;

/**
 * A running node found the marker gone: it records the lost id (first finder wins) and puts back the generated
 * secrets it holds (HSETNX: never over a value already there), so a node started now gets the same ones.
 */
const STORE_LOST = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'present' end
redis.call('SET', KEYS[2], ARGV[1], 'NX')
for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1]) end
return 'lost'
`;

/** A secret is minted only into a store with its marker: never into one that lost its data. */
const META_GET_OR_SET = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[2], ARGV[1])
`;

export function defineMarkerScripts(redis: Redis): void {
  redis.defineCommand('sipedgeStoreOpen', { numberOfKeys: 2, lua: STORE_OPEN });
  redis.defineCommand('sipedgeStoreLost', { numberOfKeys: 3, lua: STORE_LOST });
  redis.defineCommand('sipedgeMetaGetOrSet', { numberOfKeys: 2, lua: META_GET_OR_SET });
}

/** What open found: the marker (existing or just written), or the id of the store whose data is gone. */
export type MarkerAtOpen = { state: 'ok' | 'new'; id: string } | { state: 'lost'; id: string };

export async function openMarker(redis: Redis): Promise<MarkerAtOpen> {
  const [state, id] = await redis.sipedgeStoreOpen(MARKER_KEY, LOST_KEY, randomUUID());
  return { state: state as MarkerAtOpen['state'], id };
}

/** Records the loss of store `id` and puts back the secrets in `held`; false when the marker is there after all. */
export async function recordLoss(redis: Redis, id: string, held: ReadonlyMap<string, string>): Promise<boolean> {
  const pairs: string[] = [];
  for (const [name, value] of held) pairs.push(name, value);
  return (await redis.sipedgeStoreLost(MARKER_KEY, LOST_KEY, META_KEY, id, ...pairs)) === 'lost';
}
