// Per-file Redis access for tests against the run's one redis-server (started by global-setup.ts): a key prefix
// of the file's own and a flush of exactly those keys (plus the script cache) between tests.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** A test file's slice of the shared redis-server. */
export interface TestRedis {
  /** redis://127.0.0.1:<port> of the run's server. */
  readonly url: string;
  /** Key prefix owned by this file (unique per file and process). */
  readonly keyPrefix: string;
  /** Deletes every key under keyPrefix and flushes the script cache (so EVALSHA's EVAL fallback gets used too). */
  flush(): Promise<void>;
  /** Keys currently under keyPrefix (full names). */
  keys(): Promise<string[]>;
  /** Closes the admin connection. */
  close(): Promise<void>;
}

/** Gives a test file its own key prefix on the shared redis-server; call once per file. */
export function testRedis(fileTag: string): TestRedis {
  const port = inject('redisPort');
  const url = `redis://127.0.0.1:${port}`;
  const keyPrefix = `test:${fileTag}:${process.pid}:${randomBytes(3).toString('hex')}:`;
  let admin: Redis | undefined;
  const client = (): Redis => {
    admin ??= new Redis(url, { maxRetriesPerRequest: 1 });
    return admin;
  };
  const keys = async (): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client().scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  return {
    url,
    keyPrefix,
    keys,
    async flush(): Promise<void> {
      const all = await keys();
      for (let i = 0; i < all.length; i += 500) await client().unlink(...all.slice(i, i + 500));
      await client().script('FLUSH');
    },
    async close(): Promise<void> {
      await admin?.quit();
      admin = undefined;
    },
  };
}
