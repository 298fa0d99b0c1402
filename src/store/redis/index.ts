// The Redis store: one connection shared by every concern, for multi-node deployments.
// Each concern's keys and scripts live in its own file; connection handling in connection.ts.
import type { StoreOptions, Stores } from '../types.ts';
import { RedisAccountStore, RedisMetaStore } from './accounts.ts';
import { RedisBindingStore } from './bindings.ts';
import { closeRedis, connectRedis, type RedisStoreConfig } from './connection.ts';
import { RedisLockoutStore } from './lockouts.ts';
import { RedisNonceCountStore } from './nonce-counts.ts';
import { defineGatewayScripts } from './gateway-scripts.ts';
import { RedisLoginStore, RedisSessionStore, RedisTokenStore } from './logins.ts';
import { RedisMediaStore } from './media.ts';
import { RedisNodeStore } from './nodes.ts';
import { RedisUpstreamChoiceStore } from './upstream-choices.ts';

export type { RedisStoreConfig } from './connection.ts';

/**
 * Connects and returns the Redis-backed Stores. Every state lives in Redis, so the role makes no difference:
 * a CLI's unlock or removeAll is seen by every edge at once. Rejects with SIPEDGE_ERR_STORE_UNAVAILABLE when
 * Redis does not answer at open; later outages reject individual calls with StoreUnavailable.
 */
export async function openRedisStores(cfg: RedisStoreConfig, opts: StoreOptions): Promise<Stores> {
  const redis = await connectRedis(cfg);
  defineGatewayScripts(redis);
  return {
    accounts: new RedisAccountStore(redis),
    bindings: new RedisBindingStore(redis),
    nodes: new RedisNodeStore(redis),
    lockouts: new RedisLockoutStore(redis, cfg.keyPrefix),
    nonces: new RedisNonceCountStore(redis),
    upstreamChoices: new RedisUpstreamChoiceStore(redis),
    meta: new RedisMetaStore(redis),
    logins: new RedisLoginStore(redis),
    sessions: new RedisSessionStore(redis),
    tokens: new RedisTokenStore(redis, () => opts.clock.now()),
    media: new RedisMediaStore(redis),
    close: () => closeRedis(redis),
  };
}
