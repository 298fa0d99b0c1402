// Chooses and opens the configured store (embedded memory+journal, or Redis) for the app and the CLI.
// The implementations live in memory/ and redis/; the interfaces in types.ts.
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { openMemoryStores } from './memory/index.ts';
import { openRedisStores } from './redis/index.ts';
import type { StoreOptions, Stores } from './types.ts';

/**
 * Opens the store named by `config.store`: "memory" keeps its journal in `<dataDir>/store/`, "redis" connects to
 * `redis.url` with keys under `redis.keyPrefix`. Rejects with a SipedgeError (SIPEDGE_ERR_STORE_UNAVAILABLE,
 * SIPEDGE_ERR_STORE_LOCKED, SIPEDGE_ERR_STORE_CORRUPT) when the store cannot be opened.
 */
export async function openStores(config: Pick<Config, 'store' | 'redis' | 'dataDir'>, opts: StoreOptions): Promise<Stores> {
  if (config.store === 'redis') {
    return openRedisStores({ url: config.redis.url, keyPrefix: config.redis.keyPrefix }, opts);
  }
  return openMemoryStores(path.join(config.dataDir, 'store'), opts);
}
