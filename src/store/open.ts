// Chooses and opens the configured store (embedded memory+journal, or Redis) for the app and the CLI.
// The implementations live in memory/ and redis/; the interfaces in types.ts.
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import type { RedisStoreConfig } from './redis/index.ts';
import type { StoreOptions, Stores } from './types.ts';

/** The config keys the store reads; the redis keys other than url and keyPrefix have defaults (connection.ts). */
export type StoreConfig = Pick<Config, 'store' | 'dataDir'> & { redis: RedisStoreConfig };

/**
 * Opens the store named by `config.store`: "memory" keeps its journal in `<dataDir>/store/`, "redis" connects to
 * `redis.url` with keys under `redis.keyPrefix`. Rejects with a SipedgeError (SIPEDGE_ERR_STORE_UNAVAILABLE,
 * SIPEDGE_ERR_STORE_EMPTY, SIPEDGE_ERR_STORE_LOCKED, SIPEDGE_ERR_STORE_CORRUPT) when the store cannot be opened.
 */
export async function openStores(config: StoreConfig, opts: StoreOptions): Promise<Stores> {
  // Each implementation loads when chosen: a CLI command on the embedded store never loads ioredis, nor the edge on
  // Redis the journal code.
  if (config.store === 'redis') {
    const { openRedisStores } = await import('./redis/index.ts');
    return openRedisStores(config.redis, opts);
  }
  const { openMemoryStores } = await import('./memory/index.ts');
  return openMemoryStores(path.join(config.dataDir, 'store'), opts);
}
