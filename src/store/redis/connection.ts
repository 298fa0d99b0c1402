// The Redis connections: options that fail fast instead of queueing or waiting, connect at open, and the mapping of
// client errors to StoreUnavailable. What is stored where is the store files' concern; outages are health.ts's.
import { Redis, type RedisOptions } from 'ioredis';
import { SipedgeError, StoreUnavailable } from '../../errors.ts';
import { defineMarkerScripts } from './marker.ts';
import { defineScripts } from './scripts.ts';
import { TurnBatch } from './turn-batch.ts';

/** Where the Redis store lives. */
export interface RedisStoreConfig {
  /** redis:// or rediss:// URL (config key redis.url). */
  url: string;
  /** Prefix of every key (config key redis.keyPrefix), e.g. "sipedge:". */
  keyPrefix: string;
  /** How long one command may take before it fails with StoreUnavailable (redis.commandTimeoutMs); default 1000. */
  commandTimeoutMs?: number;
  /** How long reads stay usable during an outage (redis.outageCacheSeconds); default 300. */
  outageCacheSeconds?: number;
  /** How long the first connection may take; ms, default 3000. */
  connectTimeoutMs?: number;
  /** Sentinel addresses "host:port" (redis.sentinels); empty or absent: redis.url is the server. */
  sentinels?: readonly string[];
  /** The primary's name at the sentinels (redis.name). */
  name?: string;
  /** Replicas a durable write must reach before it is done (redis.waitReplicas, WriteAcks); default 0. */
  waitReplicas?: number;
}

/** What a connection is for (clientOptions). */
export type ConnectionRole = 'main' | 'probe' | 'subscriber';

/**
 * The main connection (every store's commands), the probe (health.ts) or the unban subscriber (index.ts; it reconnects
 * by itself as the probe does, and ioredis subscribes it again). All fail fast: no offline queue, so a
 * command issued while disconnected rejects at once; every command times out after commandTimeoutMs; nothing
 * unanswered is sent again after a reconnect (the request that issued it has been answered 503 by then). The main
 * connection never reconnects by itself: health.ts reopens it once the probe finds this store's marker again.
 * The main connection writes once per event-loop turn (writePerTurn): the commands issued in one turn leave in one
 * write and are answered together (one round trip), which is how the REGISTER path's reads cost one (README
 * "Stores"). Its command timeout is watchCommands' (one timer per connection); the probe's is ioredis' own (one timer
 * per command).
 */
function clientOptions(cfg: RedisStoreConfig, role: ConnectionRole): RedisOptions {
  return {
    keyPrefix: cfg.keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: role === 'main' ? undefined : (cfg.commandTimeoutMs ?? 1_000),
    connectTimeout: cfg.connectTimeoutMs ?? 3_000,
    retryStrategy: role === 'main' ? () => null : (times) => Math.min(times * 100, 1_000),
    ...sentinelOptions(cfg),
  };
}

/**
 * With redis.sentinels: ioredis asks them for the primary of redis.name at each connect (health.ts reconnects after a
 * failover closed the connection) and, with failoverDetector, drops the connection as soon as they announce a new
 * primary (+switch-master) instead of writing on into a demoted one.
 */
function sentinelOptions(cfg: RedisStoreConfig): Partial<RedisOptions> {
  if (cfg.sentinels === undefined || cfg.sentinels.length === 0) return {};
  return {
    sentinels: cfg.sentinels.map((s) => {
      const colon = s.lastIndexOf(':');
      return { host: s.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(s.slice(colon + 1)) };
    }),
    name: cfg.name ?? 'mymaster',
    role: 'master',
    failoverDetector: true,
    sentinelRetryStrategy: () => null,
  };
}

/**
 * Opens a connected client with the scripts defined. Commands issued while disconnected reject at once
 * (StoreUnavailable) so services answer 503 instead of piling up work. Rejects with SIPEDGE_ERR_STORE_UNAVAILABLE
 * when the first connection fails.
 */
export async function connectRedis(cfg: RedisStoreConfig, role: ConnectionRole = 'main'): Promise<Redis> {
  const redis = new Redis(cfg.url, clientOptions(cfg, role));
  // Without a listener an 'error' event would crash the process; the failures reach callers as rejections.
  redis.on('error', () => {});
  defineScripts(redis);
  defineMarkerScripts(redis);
  if (role === 'main') {
    turnBatches.set(redis, writePerTurn(redis));
    watchCommands(redis, cfg.commandTimeoutMs ?? 1_000);
  }
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

/**
 * The commands one event-loop turn issues leave in one write: the turn's first command corks the socket and a
 * setImmediate uncorks it (Node writes what was corked in one writev). This is what ioredis' enableAutoPipelining
 * does, without its cost per command (a Pipeline per turn, and a promise, a closure and a process.nextTick per
 * command) and without its wait: it sends a turn's commands only once the previous turn's are answered (one
 * auto-pipeline in flight per connection), so a request's commands waited for the round trip of the requests before
 * it as well as their own. With watchCommands: 13.4-15.9 -> 5.1-5.8 µs of edge CPU per command
 * (load-tests/micro/redis-client.bench.ts). The commands issued through the connection's TurnBatch join the write as
 * two script calls, sent just before the uncork.
 */
function writePerTurn(redis: Redis): TurnBatch {
  const send = redis.sendCommand.bind(redis);
  let corked: Redis['stream'] | undefined;
  let scheduled = false;
  const endTurn = (): void => {
    batch.flush();
    corked?.uncork();
    corked = undefined;
    scheduled = false;
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(endTurn);
  };
  const batch = new TurnBatch(redis, schedule);
  redis.sendCommand = (command, stream) => {
    if (corked === undefined && redis.status === 'ready') {
      corked = redis.stream;
      corked.cork();
      schedule();
    }
    return send(command, stream);
  };
  return batch;
}

/** The main connections' TurnBatch (writePerTurn). */
const turnBatches = new WeakMap<Redis, TurnBatch>();

/** The turn batch of a main connection opened by connectRedis. */
export function batchOf(redis: Redis): TurnBatch {
  const batch = turnBatches.get(redis);
  if (batch === undefined) throw new Error('store: batchOf() on a connection connectRedis did not open as main');
  return batch;
}

/** The event a main connection emits when a command got no reply within redis.commandTimeoutMs (watchCommands). */
export const STALLED = 'sipedge:stalled';

/** The main connections' watchdog timers (watchCommands), stopped by closeRedis. */
const watchdogs = new WeakMap<Redis, NodeJS.Timeout>();

/**
 * The main connection's command timeout, one timer per connection instead of ioredis' commandTimeout, which sets and
 * clears a timer for every command (about a quarter of a command's edge CPU before writePerTurn). Redis answers in
 * order, so the oldest unanswered command is the front of ioredis' commandQueue; when the same command has stayed at
 * the front for `timeoutMs`, the server is not answering: the connection emits STALLED (health.ts starts an outage)
 * and is dropped, which rejects every command on it at once (StoreUnavailable). Checked every quarter of `timeoutMs`,
 * so a command fails between 1 and 1.25 times `timeoutMs` after it reached the front.
 */
function watchCommands(redis: Redis, timeoutMs: number): void {
  let oldest: unknown;
  let since = 0;
  const timer = setInterval(() => {
    const front = redis.commandQueue.peekFront();
    const now = performance.now();
    if (front !== oldest) {
      oldest = front;
      since = now;
    } else if (front !== undefined && now - since >= timeoutMs) {
      oldest = undefined;
      redis.emit(STALLED);
      dropConnection(redis);
    }
  }, Math.max(10, Math.floor(timeoutMs / 4)));
  timer.unref();
  watchdogs.set(redis, timer);
}

/** Closes politely, or drops the socket when Redis is not answering. */
export async function closeRedis(redis: Redis): Promise<void> {
  clearInterval(watchdogs.get(redis));
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

/**
 * Replication acknowledgement of durable writes (accounts, credentials, logins, hold music, generated secrets): with
 * redis.waitReplicas > 0 such a write is reported done only once that many replicas have it (WAIT), so a Sentinel
 * failover to one of them cannot lose it; otherwise the caller gets StoreUnavailable (the write may or may not survive).
 */
export class WriteAcks {
  constructor(
    private readonly redis: Redis | undefined,
    private readonly replicas = 0,
    /** WAIT's own timeout; ms (half of redis.commandTimeoutMs, so the answer comes before the command times out). */
    private readonly timeoutMs = 500,
  ) {}

  /** Resolves once every write this connection made so far has reached the replicas asked for. */
  async wait(): Promise<void> {
    if (this.replicas === 0 || this.redis === undefined) return;
    const acked = await guarded(this.redis.wait(this.replicas, this.timeoutMs));
    if (acked < this.replicas) {
      throw new StoreUnavailable(`redis: the write reached ${acked} of ${this.replicas} replicas within ${this.timeoutMs} ms (redis.waitReplicas)`);
    }
  }
}

/** No replica acknowledgement (redis.waitReplicas 0). */
export const NO_ACKS = new WriteAcks(undefined);

/**
 * Closes the connection at once, so that commands reject at once from here on (no offline queue) instead of waiting
 * for a frozen server. The socket is destroyed, not ended: a half-closed socket to a frozen server would report its
 * close only once the server wakes, and ioredis would apply that late close to the connection opened since.
 */
export function dropConnection(redis: Redis): void {
  if (redis.status === 'ready' || redis.status === 'connect') redis.stream.destroy();
  else redis.disconnect();
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
