// MediaStore on Redis: version records as JSON in one hash, the active id per tenant/class in another, artifacts as
// binary strings, and an activation counter; activation is one Lua script. Connection handling is connection.ts's.
import type { ClientContext, Redis, Result } from 'ioredis';
import { SipedgeError } from '../../errors.ts';
import type { MediaStore, MediaVersion, MohClass } from '../types.ts';
import { guarded, NO_ACKS } from './connection.ts';
import { limitPerSlot, newestFirst, RETIRED_ARTIFACTS_KEPT, VERSIONS_KEPT } from '../media-order.ts';

const VERSIONS = 'moh:versions';
const ACTIVE = 'moh:active';
const REV = 'moh:rev';
const artifactKey = (id: string): string => `moh:artifact:${id}`;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    /** KEYS versions, active, rev; ARGV id, now. 1 = activated, 0 = not a pending version. */
    sipedgeMohActivate(versions: string, active: string, rev: string, id: string, now: number): Result<number, Context>;
  }
}

// cjson re-encodes the version records; epoch milliseconds (13 digits) survive its %.14g number format.
const ACTIVATE = `
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
local v = cjson.decode(json)
if v.status ~= 'pending' then return 0 end
local now = tonumber(ARGV[2])
local slot = v.tenant .. '|' .. v.cls
local old = redis.call('HGET', KEYS[2], slot)
if old then
  local oj = redis.call('HGET', KEYS[1], old)
  if oj then
    local o = cjson.decode(oj)
    o.status = 'retired'
    o.retiredAt = now
    redis.call('HSET', KEYS[1], old, cjson.encode(o))
  end
end
v.status = 'active'
v.activatedAt = now
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(v))
redis.call('HSET', KEYS[2], slot, ARGV[1])
redis.call('INCR', KEYS[3])
return 1
`;

export class RedisMediaStore implements MediaStore {
  constructor(
    private readonly redis: Redis,
    private readonly acks = NO_ACKS,
  ) {
    if (typeof (redis as Partial<Redis>).sipedgeMohActivate !== 'function') {
      redis.defineCommand('sipedgeMohActivate', { numberOfKeys: 3, lua: ACTIVATE });
    }
  }

  async putPending(v: MediaVersion, artifact: Buffer): Promise<void> {
    // Artifact first: a pending record always has its bytes (MULTI keeps both in one round trip anyway).
    const r = await guarded(
      this.redis.multi().set(artifactKey(v.id), artifact).hset(VERSIONS, v.id, JSON.stringify({ ...v, status: 'pending' })).exec(),
    );
    for (const [err] of r ?? []) if (err) throw err;
    await this.acks.wait();
    await this.trim(v.tenant, v.cls);
  }

  async putFailed(v: MediaVersion): Promise<void> {
    await guarded(this.redis.hset(VERSIONS, v.id, JSON.stringify({ ...v, status: 'failed' })));
    await this.trim(v.tenant, v.cls);
  }

  async activate(id: string, now: number): Promise<void> {
    const ok = await guarded(this.redis.sipedgeMohActivate(VERSIONS, ACTIVE, REV, id, now));
    if (ok !== 1) throw new SipedgeError('SIPEDGE_ERR_MEDIA_UNKNOWN', `media: version ${id} is not a pending version`);
    await this.acks.wait();
    const v = await this.get(id);
    if (v === undefined) return;
    const retired = (await this.of(v.tenant, v.cls)).filter((o) => o.status === 'retired').slice(RETIRED_ARTIFACTS_KEPT);
    if (retired.length > 0) await guarded(this.redis.del(...retired.map((o) => artifactKey(o.id))));
  }

  async active(tenant: string, cls: MohClass): Promise<MediaVersion | undefined> {
    const id = await guarded(this.redis.hget(ACTIVE, `${tenant}|${cls}`));
    return id === null ? undefined : this.get(id);
  }

  async list(tenant?: string, limit = 10): Promise<MediaVersion[]> {
    return limitPerSlot((await this.all()).filter((v) => tenant === undefined || v.tenant === tenant), limit);
  }

  async getArtifact(id: string): Promise<Buffer | undefined> {
    const b = await guarded(this.redis.getBuffer(artifactKey(id)));
    return b ?? undefined;
  }

  async revision(): Promise<number> {
    return Number((await guarded(this.redis.get(REV))) ?? 0);
  }

  private async get(id: string): Promise<MediaVersion | undefined> {
    const json = await guarded(this.redis.hget(VERSIONS, id));
    return json === null ? undefined : (JSON.parse(json) as MediaVersion);
  }

  private async all(): Promise<MediaVersion[]> {
    return (await guarded(this.redis.hvals(VERSIONS))).map((j) => JSON.parse(j) as MediaVersion);
  }

  private async of(tenant: string, cls: MohClass): Promise<MediaVersion[]> {
    return (await this.all()).filter((v) => v.tenant === tenant && v.cls === cls).sort(newestFirst);
  }

  /** Drops records past VERSIONS_KEPT (never the active one) with their artifacts. */
  private async trim(tenant: string, cls: MohClass): Promise<void> {
    const old = (await this.of(tenant, cls)).slice(VERSIONS_KEPT).filter((v) => v.status !== 'active');
    if (old.length === 0) return;
    await guarded(this.redis.multi().hdel(VERSIONS, ...old.map((v) => v.id)).del(...old.map((v) => artifactKey(v.id))).exec());
  }
}
