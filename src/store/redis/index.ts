// The Redis store: one connection shared by every concern, for multi-node deployments, plus a probe connection
// that watches the store's health. Each concern's keys and scripts live in its own file; connection handling in
// connection.ts, outages in health.ts, the marker key in marker.ts.
import { SipedgeError } from '../../errors.ts';
import type { StoreOptions, Stores } from '../types.ts';
import { RedisAccountStore, RedisMetaStore } from './accounts.ts';
import { RedisBindingStore } from './bindings.ts';
import { batchOf, closeRedis, connectRedis, WriteAcks, type RedisStoreConfig } from './connection.ts';
import { RedisHealth } from './health.ts';
import { RedisLockoutStore, unbanChannel } from './lockouts.ts';
import { RedisNonceCountStore } from './nonce-counts.ts';
import { defineGatewayScripts } from './gateway-scripts.ts';
import { LOST_KEY, MARKER_KEY, openMarker } from './marker.ts';
import { RedisLoginStore, RedisSessionStore, RedisTokenStore } from './logins.ts';
import { RedisMediaStore } from './media.ts';
import { RedisNodeStore } from './nodes.ts';
import { RedisProvenStore } from './proven.ts';
import { RedisUpstreamChoiceStore } from './upstream-choices.ts';

export type { RedisStoreConfig } from './connection.ts';

/**
 * Connects and returns the Redis-backed Stores. Every state lives in Redis, so the role makes no difference:
 * a CLI's unlock or removeAll is seen by every edge at once. Rejects with SIPEDGE_ERR_STORE_UNAVAILABLE when
 * Redis does not answer at open, and an edge with SIPEDGE_ERR_STORE_EMPTY when Redis lost the data other nodes
 * still serve from (marker.ts); later outages reject individual calls with StoreUnavailable (health.ts).
 */
export async function openRedisStores(cfg: RedisStoreConfig, opts: StoreOptions): Promise<Stores> {
  const redis = await connectRedis(cfg);
  const marker = await openMarker(redis).catch(async (e: unknown) => {
    await closeRedis(redis);
    throw e;
  });
  if (marker.state === 'lost' && opts.role === 'edge') {
    await closeRedis(redis);
    throw new SipedgeError(
      'SIPEDGE_ERR_STORE_EMPTY',
      `store: Redis at redis.url lost its data (key ${cfg.keyPrefix}${MARKER_KEY} missing, ${cfg.keyPrefix}${LOST_KEY} set by a node that ` +
        `still runs on it); restore the data, or re-import it and rename ${LOST_KEY} to ${MARKER_KEY} (README "Redis outages")`,
    );
  }
  defineGatewayScripts(redis);
  const acks = new WriteAcks(redis, cfg.waitReplicas ?? 0, Math.floor((cfg.commandTimeoutMs ?? 1_000) / 2));
  const meta = new RedisMetaStore(redis, acks);
  // The CLI is short-lived: it needs no probe; its commands fail with StoreUnavailable as they come.
  let health: RedisHealth | undefined;
  if (opts.role === 'edge') {
    const probe = await connectRedis(cfg, 'probe').catch(async (e: unknown) => {
      await closeRedis(redis);
      throw e;
    });
    health = new RedisHealth({ main: redis, probe, marker: marker.id, held: meta.held, clock: opts.clock, logger: opts.logger, metrics: opts.metrics });
    health.start();
  }
  const keepMs = (cfg.outageCacheSeconds ?? 300) * 1000;
  const cacheAnswers = opts.metrics?.storeCacheAnswers.labels();
  const batch = batchOf(redis);
  const bindings = new RedisBindingStore(redis, batch, { keepMs, answers: cacheAnswers });
  const lockouts = new RedisLockoutStore(redis, batch, cfg.keyPrefix, { keepMs, answers: cacheAnswers });
  // The edge hears every node's and CLI's unbans on a connection of its own (a subscribed connection takes no other
  // commands); it reconnects and subscribes again by itself after an outage.
  let unbans: Awaited<ReturnType<typeof connectRedis>> | undefined;
  if (opts.role === 'edge') {
    try {
      unbans = await connectRedis(cfg, 'subscriber');
      unbans.on('message', (_channel: string, source: string) => lockouts.unbanned(source));
      await unbans.subscribe(unbanChannel(cfg.keyPrefix));
    } catch (e) {
      await Promise.all([health?.close(), closeRedis(redis), unbans && closeRedis(unbans)]);
      throw e;
    }
  }
  return {
    accounts: new RedisAccountStore(redis, batch, { keepMs, answers: cacheAnswers, clock: opts.clock }, acks),
    bindings,
    proven: new RedisProvenStore(batch, bindings),
    nodes: new RedisNodeStore(redis),
    lockouts,
    nonces: new RedisNonceCountStore(redis),
    upstreamChoices: new RedisUpstreamChoiceStore(redis),
    meta,
    logins: new RedisLoginStore(redis, acks),
    sessions: new RedisSessionStore(redis),
    tokens: new RedisTokenStore(redis, () => opts.clock.now(), acks),
    media: new RedisMediaStore(redis, acks),
    status: () => health?.status() ?? { ok: true },
    close: async () => {
      await Promise.all([health?.close(), closeRedis(redis), unbans && closeRedis(unbans)]);
    },
  };
}
