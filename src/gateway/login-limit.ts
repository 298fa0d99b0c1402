// Login rate limits over the shared LockoutStore (so every node counts together): failures per identifier
// (the resolved extension, or the unknown name as typed) and per client IP; 429 with Retry-After while blocked.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { LockoutPolicy, LockoutStore } from '../store/types.ts';
import { rateLimited } from './api-error.ts';

const idKey = (id: string): string => `gw-login:${id}`;
const ipKey = (ip: string): string => `gw-login-ip:${ip}`;

export class LoginLimiter {
  private readonly idPolicy: LockoutPolicy;
  private readonly ipPolicy: LockoutPolicy;

  constructor(
    private readonly lockouts: LockoutStore,
    cfg: Config['gateway']['loginLimit'],
    private readonly clock: Clock,
  ) {
    this.idPolicy = { maxFailures: cfg.maxFailures, windowMs: cfg.windowSeconds * 1000, lockMs: cfg.lockSeconds * 1000 };
    this.ipPolicy = { maxFailures: cfg.ipMaxFailures, windowMs: cfg.ipWindowSeconds * 1000, lockMs: cfg.ipLockSeconds * 1000 };
  }

  /** Seconds until `id` (if given) and `ip` may try again; 0 when neither is blocked. */
  async retryAfter(id: string | undefined, ip: string): Promise<number> {
    const now = this.clock.now();
    const [a, b] = await Promise.all([
      id === undefined ? 0 : this.lockouts.lockedUntil(idKey(id), now),
      this.lockouts.lockedUntil(ipKey(ip), now),
    ]);
    const until = Math.max(a, b);
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  /** Throws the 429 (with Retry-After) while `id` (if given) or `ip` is blocked. */
  async assertOpen(id: string | undefined, ip: string): Promise<void> {
    const wait = await this.retryAfter(id, ip);
    if (wait > 0) throw rateLimited(wait);
  }

  /** Counts one failure for `id` (if given) and `ip`. */
  async fail(id: string | undefined, ip: string): Promise<void> {
    const now = this.clock.now();
    await Promise.all([
      id === undefined ? undefined : this.lockouts.recordFailure(idKey(id), now, this.idPolicy),
      this.lockouts.recordFailure(ipKey(ip), now, this.ipPolicy),
    ]);
  }

  /** A proven password (or reset) clears the identifier's count; the IP's count stays. */
  async succeed(id: string): Promise<void> {
    await this.lockouts.unlock(idKey(id));
  }
}
