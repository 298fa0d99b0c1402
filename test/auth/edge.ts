// Test fixture: a DigestAuthenticator on a real store (memory in a temp dir, or Redis), a FakeClock, a log sink.
// One tenant "acme" (realm acme.example.com) with extensions 1001..1020; shared domain sip.example.net.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { DigestAuthenticator } from '../../src/auth/authenticator.ts';
import { makeCredentialSet } from '../../src/auth/credentials.ts';
import { FakeClock } from '../../src/clock.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { REDACT_PATHS } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openStores } from '../../src/store/open.ts';
import type { Extension, Stores, Tenant } from '../../src/store/types.ts';
import type { TestRedis } from '../helpers/redis.ts';

export const acme: Tenant = { code: 'acme', domain: 'acme.example.com', createdAt: 0 };
export const sharedDomain = 'sip.example.net';
/** The password every seeded extension starts with. */
export const password = (ext: string): string => `pw-${ext}-Kx7mQ2rT9vLp`;

export interface Edge {
  auth: DigestAuthenticator;
  stores: Stores;
  clock: FakeClock;
  metrics: Metrics;
  config: Config['auth'];
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Raw log text, for "no secret appears" assertions. */
  logText: () => string;
  close(): Promise<void>;
}

export interface EdgeOptions {
  /** Overrides of the auth config slice. */
  auth?: Record<string, unknown>;
  /** Run on this file's slice of the test redis-server instead of the memory store (flushed by close()). */
  redis?: TestRedis;
}

export async function startEdge(opts: EdgeOptions = {}): Promise<Edge> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sipedge-auth-'));
  const redis = opts.redis;
  const config = configSchema.parse({
    dataDir,
    store: redis === undefined ? 'memory' : 'redis',
    redis: redis === undefined ? {} : { url: redis.url, keyPrefix: redis.keyPrefix },
    auth: { nonceSecret: 'test-nonce-secret-123456', sharedDomain, ...opts.auth },
  });
  const clock = new FakeClock();
  const stores = await openStores(config, { role: 'edge', clock });
  await stores.accounts.addTenant(acme);
  const exts: Extension[] = [];
  for (let n = 1001; n <= 1020; n++) {
    const ext = String(n);
    exts.push({
      tenant: 'acme',
      ext,
      cred: makeCredentialSet(ext, acme, password(ext), sharedDomain),
      credUpdatedAt: clock.now(),
      createdAt: clock.now(),
      updatedAt: clock.now(),
    });
  }
  await stores.accounts.putExtensions(exts);

  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } }, sink);
  const metrics = new Metrics();
  const authenticator = new DigestAuthenticator({
    config: config.auth,
    stores: { accounts: stores.accounts, lockouts: stores.lockouts, nonces: stores.nonces },
    clock,
    metrics,
    logger,
    nonceSecret: config.auth.nonceSecret,
  });
  return {
    auth: authenticator,
    stores,
    clock,
    metrics,
    config: config.auth,
    get logs() {
      return chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => chunks.join(''),
    async close() {
      await stores.close();
      await redis?.flush();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** sipedge_auth_failures_total{reason} as a number. */
export async function failures(metrics: Metrics, reason: string): Promise<number> {
  const m = await metrics.authFailures.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}
