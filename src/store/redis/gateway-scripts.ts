// Lua scripts of the Redis store's gateway concerns (tenant removal, TOTP replay guard, sessions) and their typing.
// Which keys each store passes is decided in accounts.ts and logins.ts; connection handling in connection.ts.
import type { ClientContext, Redis, Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    /** KEYS tenants, domains, ext hash; ARGV code. -> 'ok' | 'unknown' | 'not-empty'. */
    sipedgeRemoveTenant(tenantsKey: string, domainsKey: string, extKey: string, code: string): Result<string, Context>;
    /** KEYS step; ARGV step. 1 = accepted (step above the stored one). */
    sipedgeUseTotpStep(stepKey: string, step: number): Result<number, Context>;
    /** KEYS session hash; ARGV now, slideMs. -> session json or null (expired ones are deleted). */
    sipedgeSessionTouch(sessionKey: string, now: number, slideMs: number): Result<string | null, Context>;
    /** KEYS token; ARGV now. -> value or null; deletes the token either way. */
    sipedgeTokenTake(tokenKey: string, now: number): Result<string | null, Context>;
  }
}

const REMOVE_TENANT = `
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 'unknown' end
if redis.call('HLEN', KEYS[3]) > 0 then return 'not-empty' end
local t = cjson.decode(json)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], string.lower(t.domain))
return 'ok'
`;

const USE_TOTP_STEP = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

/** Hash fields d (session json without expiresAt) and e (expiresAt); expiry judged by the caller's clock. */
const SESSION_TOUCH = `
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return false end
local now = tonumber(ARGV[1])
local untilMs = tonumber(e)
if untilMs <= now then
  redis.call('DEL', KEYS[1])
  return false
end
local slide = tonumber(ARGV[2])
if slide > 0 then
  untilMs = now + slide
  redis.call('HSET', KEYS[1], 'e', string.format('%d', untilMs))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return string.format('%d', untilMs) .. ' ' .. redis.call('HGET', KEYS[1], 'd')
`;

/** Value "expiresAt value". */
const TOKEN_TAKE = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('DEL', KEYS[1])
local sep = string.find(v, ' ', 1, true)
if tonumber(string.sub(v, 1, sep - 1)) <= tonumber(ARGV[1]) then return false end
return string.sub(v, sep + 1)
`;

/** Registers the gateway scripts on `redis`. */
export function defineGatewayScripts(redis: Redis): void {
  redis.defineCommand('sipedgeRemoveTenant', { numberOfKeys: 3, lua: REMOVE_TENANT });
  redis.defineCommand('sipedgeUseTotpStep', { numberOfKeys: 1, lua: USE_TOTP_STEP });
  redis.defineCommand('sipedgeSessionTouch', { numberOfKeys: 1, lua: SESSION_TOUCH });
  redis.defineCommand('sipedgeTokenTake', { numberOfKeys: 1, lua: TOKEN_TAKE });
}
