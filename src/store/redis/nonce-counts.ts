// NonceCountStore on Redis: the highest nc per nonce with its expiry, compared and set in one script.
// Nonce issue and staleness are auth/'s; the Lua is in scripts.ts.
import type { Redis } from 'ioredis';
import type { NonceCountStore } from '../types.ts';
import { guarded } from './connection.ts';

export const ncKey = (nonce: string): string => `nc:${nonce}`;

/** Shared replay protection, so a captured Authorization header cannot be replayed against another node. */
export class RedisNonceCountStore implements NonceCountStore {
  constructor(private readonly redis: Redis) {}

  async checkAndSet(nonce: string, nc: number, now: number, ttlMs: number): Promise<boolean> {
    return (await guarded(this.redis.sipedgeNonceCheck(ncKey(nonce), nc, now, ttlMs, now + ttlMs))) === 1;
  }
}
