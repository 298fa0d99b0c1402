// Lua scripts of the Redis store (one atomic script per state change) and their typing on ioredis's Redis.
// Which keys and arguments each store passes is decided in the store files; connection handling in connection.ts.
import type { Redis, Result, ClientContext } from 'ioredis';

type Arg = string | number;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    /** KEYS aor hash, index zset, version counter; ARGV expected, now, aor, json, n, expiresAt×n. 1 = replaced. */
    sipedgeBindingsReplace(...args: Arg[]): Result<number, Context>;
    /** KEYS aor hash, index zset; ARGV aor. */
    sipedgeBindingsRemove(aorKey: string, indexKey: string, aor: string): Result<number, Context>;
    /** KEYS failures zset, lock; ARGV now, maxFailures, windowMs, lockMs, member. -> [failures, lockedUntil]. */
    sipedgeRecordFailure(
      failKey: string, lockKey: string, now: number, max: number, windowMs: number, lockMs: number, member: string,
    ): Result<[number, number], Context>;
    /** KEYS keys zset, ban; ARGV now, maxExtensions, windowMs, banMs, key. -> [distinct, bannedUntil]. */
    sipedgeRecordSourceFailure(
      keysKey: string, banKey: string, now: number, max: number, windowMs: number, banMs: number, key: string,
    ): Result<[number, number], Context>;
    /** KEYS nc; ARGV nc, now, ttlMs, expiresAt. 1 = accepted. */
    sipedgeNonceCheck(ncKey: string, nc: number, now: number, ttlMs: number, expiresAt: number): Result<number, Context>;
    /** PROVEN_COMMITS: numkeys, KEYS, then each commit's key count, argument count and arguments. -> 0/1/2 each. */
    sipedgeProvenCommits(...args: Arg[]): Result<(number | Error)[], Context>;
    /** KEYS tenants, domains; ARGV code, lower-cased domain, json. '' = added, 'code', or 'domain:<owner>'. */
    sipedgeAddTenant(tenantsKey: string, domainsKey: string, code: string, domain: string, json: string): Result<string, Context>;
    /** TURN_READS: numkeys, KEYS, then each read's code and arguments. -> one answer (or error) per read. */
    sipedgeTurnReads(...args: Arg[]): Result<(string | null | (string | null)[] | Error)[], Context>;
  }
}

// Numbers go back to Redis through string.format('%d'): tostring() would switch to exponent form for big values.
/**
 * The bindings compare-and-set as a Lua function (also part of PROVEN_COMMIT): keys aor hash, index zset, version
 * counter; `a` is ARGV from `i` on: expected, now, aor, json, n, expiresAt×n. 1 = replaced, 0 = the version moved.
 */
const REPLACE_BINDINGS_FN = `
local function replaceBindings(aorKey, indexKey, versionKey, a, i)
  local cur = tonumber(redis.call('HGET', aorKey, 'v') or '0')
  if cur ~= tonumber(a[i]) then return 0 end
  local old = tonumber(redis.call('HGET', aorKey, 'n') or '0')
  local aor = a[i + 2]
  for j = 1, old do redis.call('ZREM', indexKey, aor .. '#' .. j) end
  local now = tonumber(a[i + 1])
  local n = tonumber(a[i + 4])
  local latest = 0
  for j = 1, n do
    local e = tonumber(a[i + 4 + j])
    if e > latest then latest = e end
  end
  if n == 0 or latest <= now then
    redis.call('DEL', aorKey)
  else
    local v = redis.call('INCR', versionKey)
    redis.call('HSET', aorKey, 'v', v, 'n', n, 'b', a[i + 3])
    redis.call('PEXPIRE', aorKey, string.format('%d', latest - now))
    for j = 1, n do redis.call('ZADD', indexKey, a[i + 4 + j], aor .. '#' .. j) end
  end
  redis.call('ZREMRANGEBYSCORE', indexKey, '-inf', a[i + 1])
  return 1
end
`;

const BINDINGS_REPLACE = `${REPLACE_BINDINGS_FN}
return replaceBindings(KEYS[1], KEYS[2], KEYS[3], ARGV, 1)
`;

const BINDINGS_REMOVE = `
local old = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
for i = 1, old do redis.call('ZREM', KEYS[2], ARGV[1] .. '#' .. i) end
redis.call('DEL', KEYS[1])
return 1
`;

/** Sliding window: a ZSET of failure times; reaching max sets the lock (value = until) and restarts the count. */
const RECORD_FAILURE = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
local n = redis.call('ZCARD', KEYS[1])
local untilMs = tonumber(redis.call('GET', KEYS[2]) or '0')
if n >= tonumber(ARGV[2]) then
  local candidate = now + tonumber(ARGV[4])
  if candidate > untilMs then untilMs = candidate end
  redis.call('SET', KEYS[2], string.format('%d', untilMs), 'PX', string.format('%d', untilMs - now))
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if untilMs <= now then untilMs = 0 end
return {n, untilMs}
`;

/**
 * Distinct keys per source in a ZSET scored by last failure; reaching max bans the source. The same window-count-
 * and-lock script as RECORD_FAILURE: there each failure is its own member, here each extension key (so a repeat only
 * refreshes its score).
 */
const RECORD_SOURCE_FAILURE = RECORD_FAILURE;

/**
 * The nonce-count check as a Lua function (also part of PROVEN_COMMIT). Value "nc:expiresAt": expiry is judged by the
 * caller's clock, PX only frees the memory. 1 = accepted (and stored).
 */
const NONCE_CHECK_FN = `
local function checkNonce(key, nc, now, ttlMs, expiresAt)
  local cur = redis.call('GET', key)
  if cur then
    local sep = string.find(cur, ':', 1, true)
    local seen = tonumber(string.sub(cur, 1, sep - 1))
    local expires = tonumber(string.sub(cur, sep + 1))
    if expires > tonumber(now) and tonumber(nc) <= seen then return 0 end
  end
  redis.call('SET', key, nc .. ':' .. expiresAt, 'PX', ttlMs)
  return 1
end
`;

const NONCE_CHECK = `${NONCE_CHECK_FN}
return checkNonce(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`;

/**
 * A proven digest's writes (types.ts ProvenWrites) in one step, as a Lua function of its keys K and arguments A:
 * K nc, trust, own lock, own failures, then (with bindings) aor hash, index zset, version counter; A nc, now, ncTtlMs,
 * ncExpiresAt, trustUntil, trustMs, then the bindings' ARGV of BINDINGS_REPLACE. 0 = replay (nothing written),
 * 1 = stored, 2 = stored but the bindings' version moved.
 */
const PROVEN_COMMIT_FN = `${NONCE_CHECK_FN}${REPLACE_BINDINGS_FN}
local function provenCommit(K, A)
  if checkNonce(K[1], A[1], A[2], A[3], A[4]) == 0 then return 0 end
  redis.call('SET', K[2], A[5], 'PX', A[6])
  redis.call('DEL', K[3], K[4])
  if #K == 4 then return 1 end
  if replaceBindings(K[5], K[6], K[7], A, 7) == 0 then return 2 end
  return 1
end
`;

/**
 * A turn's proven commits (turn-batch.ts) one after the other in one call, answered in order. Each commit in ARGV is
 * its key count, its argument count and its arguments, taking its keys from KEYS in turn. A commit that Redis refuses
 * (wrong type) answers its error in its place, with what it wrote before the error kept, as a script of its own would.
 */
const PROVEN_COMMITS = `${PROVEN_COMMIT_FN}
local out = {}
local k, a, i = 1, 1, 0
while a <= #ARGV do
  local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  i = i + 1
  local ok, r = pcall(provenCommit, {unpack(KEYS, k, k + nk - 1)}, {unpack(ARGV, a + 2, a + 1 + na)})
  if ok then out[i] = r else out[i] = redis.error_reply(type(r) == 'table' and r.err or tostring(r)) end
  k, a = k + nk, a + 2 + na
end
return out
`;

const ADD_TENANT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'code' end
local owner = redis.call('HGET', KEYS[2], ARGV[2])
if owner then return 'domain:' .. owner end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return ''
`;

/**
 * A turn's reads (turn-batch.ts) in one call, answered in order. Each read is a code in ARGV with its arguments,
 * taking its keys from KEYS in turn: g GET key; h HGET key field; H HMGET key (n, field×n); m MGET (n, key×n);
 * v HGET outer (HGET inner field), false when the inner field is missing. pcall: a refused read (wrong type) answers
 * its error in its place and the others their values. no-writes: Redis refuses a write in it.
 */
const TURN_READS = `#!lua flags=no-writes
local out = {}
local k, a, i = 1, 1, 0
while a <= #ARGV do
  local op = ARGV[a]
  i = i + 1
  if op == 'g' then
    out[i] = redis.pcall('GET', KEYS[k])
    k, a = k + 1, a + 1
  elseif op == 'h' then
    out[i] = redis.pcall('HGET', KEYS[k], ARGV[a + 1])
    k, a = k + 1, a + 2
  elseif op == 'H' then
    local n = tonumber(ARGV[a + 1])
    out[i] = redis.pcall('HMGET', KEYS[k], unpack(ARGV, a + 2, a + 1 + n))
    k, a = k + 1, a + 2 + n
  elseif op == 'm' then
    local n = tonumber(ARGV[a + 1])
    out[i] = redis.pcall('MGET', unpack(KEYS, k, k + n - 1))
    k, a = k + n, a + 2
  elseif op == 'v' then
    local inner = redis.pcall('HGET', KEYS[k + 1], ARGV[a + 1])
    if type(inner) == 'string' then out[i] = redis.pcall('HGET', KEYS[k], inner) else out[i] = inner end
    k, a = k + 2, a + 2
  else
    return redis.error_reply('TURN_READS: unknown read ' .. tostring(op))
  end
end
return out
`;

/** Registers every script on `redis` (ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT). */
export function defineScripts(redis: Redis): void {
  redis.defineCommand('sipedgeBindingsReplace', { numberOfKeys: 3, lua: BINDINGS_REPLACE });
  redis.defineCommand('sipedgeBindingsRemove', { numberOfKeys: 2, lua: BINDINGS_REMOVE });
  redis.defineCommand('sipedgeRecordFailure', { numberOfKeys: 2, lua: RECORD_FAILURE });
  redis.defineCommand('sipedgeRecordSourceFailure', { numberOfKeys: 2, lua: RECORD_SOURCE_FAILURE });
  redis.defineCommand('sipedgeNonceCheck', { numberOfKeys: 1, lua: NONCE_CHECK });
  // Their key counts vary: given first, as EVALSHA takes it.
  redis.defineCommand('sipedgeProvenCommits', { lua: PROVEN_COMMITS });
  redis.defineCommand('sipedgeAddTenant', { numberOfKeys: 2, lua: ADD_TENANT });
  redis.defineCommand('sipedgeTurnReads', { lua: TURN_READS, readOnly: true });
}
