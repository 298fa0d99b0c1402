// LoginStore, SessionStore and TokenStore on Redis: logins in one hash, the TOTP step, sessions and tokens in
// their own keys; every check-and-set is one Lua script (gateway-scripts.ts). Connection handling: connection.ts.
import type { Redis } from 'ioredis';
import type { LoginRecord, LoginStore, SessionRecord, SessionStore, TokenStore } from '../types.ts';
import { guarded, NO_ACKS } from './connection.ts';

const LOGINS = 'logins';
const field = (tenant: string, ext: string): string => `${tenant}/${ext}`;
const stepKey = (tenant: string, ext: string): string => `totp-step:${tenant}/${ext}`;
const sessionKey = (id: string): string => `session:${id}`;
const tokenKey = (id: string): string => `token:${id}`;

export class RedisLoginStore implements LoginStore {
  constructor(
    private readonly redis: Redis,
    private readonly acks = NO_ACKS,
  ) {}

  async get(tenant: string, ext: string): Promise<LoginRecord | undefined> {
    const json = await guarded(this.redis.hget(LOGINS, field(tenant, ext)));
    return json === null ? undefined : (JSON.parse(json) as LoginRecord);
  }

  async put(rec: LoginRecord): Promise<void> {
    await guarded(this.redis.hset(LOGINS, field(rec.tenant, rec.ext), JSON.stringify(rec)));
    await this.acks.wait();
  }

  async remove(tenant: string, ext: string): Promise<void> {
    await guarded(this.redis.hdel(LOGINS, field(tenant, ext)));
    await this.acks.wait();
  }

  async lastTotpStep(tenant: string, ext: string): Promise<number> {
    return Number((await guarded(this.redis.get(stepKey(tenant, ext)))) ?? 0);
  }

  async useTotpStep(tenant: string, ext: string, step: number): Promise<boolean> {
    const used = (await guarded(this.redis.sipedgeUseTotpStep(stepKey(tenant, ext), step))) === 1;
    await this.acks.wait();
    return used;
  }
}

/** Sessions as hashes with PX at their expiry; touch slides atomically, so a logout cannot be undone by a touch. */
export class RedisSessionStore implements SessionStore {
  constructor(private readonly redis: Redis) {}

  async create(id: string, s: SessionRecord): Promise<void> {
    const { expiresAt, ...rest } = s;
    const ttl = Math.max(1, expiresAt - s.createdAt);
    await guarded(this.redis.multi().hset(sessionKey(id), 'd', JSON.stringify(rest), 'e', String(expiresAt)).pexpire(sessionKey(id), ttl).exec());
  }

  async touch(id: string, now: number, slideMs: number): Promise<SessionRecord | undefined> {
    const reply = await guarded(this.redis.sipedgeSessionTouch(sessionKey(id), now, slideMs));
    if (reply === null) return undefined;
    const sep = reply.indexOf(' ');
    return { ...(JSON.parse(reply.slice(sep + 1)) as Omit<SessionRecord, 'expiresAt'>), expiresAt: Number(reply.slice(0, sep)) };
  }

  async delete(id: string): Promise<void> {
    await guarded(this.redis.del(sessionKey(id)));
  }
}

/** Tokens as "expiresAt value" strings with PX; take is GET+DEL in one script. */
export class RedisTokenStore implements TokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly clockNow: () => number,
    private readonly acks = NO_ACKS,
  ) {}

  async put(id: string, value: string, expiresAt: number): Promise<void> {
    const ttl = Math.max(1, expiresAt - this.clockNow());
    await guarded(this.redis.set(tokenKey(id), `${expiresAt} ${value}`, 'PX', ttl));
    await this.acks.wait();
  }

  async take(id: string, now: number): Promise<string | undefined> {
    return (await guarded(this.redis.sipedgeTokenTake(tokenKey(id), now))) ?? undefined;
  }
}
