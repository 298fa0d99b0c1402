// The Redis connection: options that fail fast instead of queueing, connect at open, and the mapping of client
// errors to StoreUnavailable. What is stored where is the store files' concern.
import { Redis } from 'ioredis';
import { SipedgeError, StoreUnavailable } from '../../errors.ts';
import { defineScripts } from './scripts.ts';

/** Where the Redis store lives. */
export interface RedisStoreConfig {
  /** redis:// or rediss:// URL (config key redis.url). */
  url: string;
  /** Prefix of every key (config key redis.keyPrefix), e.g. "sipedge:". */
  keyPrefix: string;
  /** How long the first connection may take; ms, default 3000. */
  connectTimeoutMs?: number;
}

/**
 * Opens a connected client with the scripts defined. Commands issued while disconnected reject at once
 * (enableOfflineQueue off, one retry per request) so services see StoreUnavailable instead of piling up work;
 * the client keeps reconnecting in the background. Rejects with SIPEDGE_ERR_STORE_UNAVAILABLE when the first
 * connection fails.
 */
export async function connectRedis(cfg: RedisStoreConfig): Promise<Redis> {
  const redis = new Redis(cfg.url, {
    keyPrefix: cfg.keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: cfg.connectTimeoutMs ?? 3_000,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
  });
  // Without a listener an 'error' event would crash the process; the failures reach callers as rejections.
  redis.on('error', () => {});
  defineScripts(redis);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new SipedgeError(
      'SIPEDGE_ERR_STORE_UNAVAILABLE',
      `store: redis.url ${redactUrl(cfg.url)} did not accept a connection (${errorText(err)}); start Redis or fix redis.url`,
    );
  }
  return redis;
}

/** Closes politely, or drops the socket when Redis is not answering. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await Promise.race([
      redis.quit(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('quit timed out')), 1_000).unref()),
    ]);
  } catch {
    // Not reachable: nothing to flush anyway.
  } finally {
    redis.disconnect();
  }
}

/** Reply errors that mean "Redis cannot serve right now" rather than "this command is wrong". */
const UNAVAILABLE_REPLIES = ['LOADING', 'MASTERDOWN', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN', 'READONLY', 'OOM', 'NOREPLICAS'];

/** Maps a client failure to StoreUnavailable; coded operator errors and genuine reply errors pass through. */
export function toStoreError(err: unknown): Error {
  if (err instanceof SipedgeError || err instanceof StoreUnavailable) return err;
  if (err instanceof Error && err.name === 'ReplyError' && !UNAVAILABLE_REPLIES.some((p) => err.message.startsWith(p))) {
    return err;
  }
  return new StoreUnavailable(`redis: ${errorText(err)}`);
}

/** Runs one store call, turning connection failures into StoreUnavailable rejections. */
export async function guarded<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw toStoreError(err);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
