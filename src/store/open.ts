// Chooses and opens the configured store (embedded memory+journal, or Redis) for the app and the CLI.
// The implementations live in memory/ and redis/; the interfaces in types.ts.
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { openMemoryStores } from './memory/index.ts';
import { openRedisStores, type RedisStoreConfig } from './redis/index.ts';
import type { StoreOptions, Stores } from './types.ts';

/** The config keys the store reads; the redis keys other than url and keyPrefix have defaults (connection.ts). */
export type StoreConfig = Pick<Config, 'store' | 'dataDir'> & { redis: RedisStoreConfig };

/**
 * Opens the store named by `config.store`: "memory" keeps its journal in `<dataDir>/store/`, "redis" connects to
 * `redis.url` with keys under `redis.keyPrefix`. Rejects with a SipedgeError (SIPEDGE_ERR_STORE_UNAVAILABLE,
 * SIPEDGE_ERR_STORE_EMPTY, SIPEDGE_ERR_STORE_LOCKED, SIPEDGE_ERR_STORE_CORRUPT) when the store cannot be opened.
 */
export async function openStores(config: StoreConfig, opts: StoreOptions): Promise<Stores> {
  if (config.store === 'redis') return openRedisStores(config.redis, opts);
  return openMemoryStores(path.join(config.dataDir, 'store'), opts);
}
