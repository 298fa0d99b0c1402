// AccountStore and MetaStore on Redis: tenants and domains in two hashes, extensions in one hash per tenant.
// Connection and error mapping are connection.ts's; the Lua sources are scripts.ts's.
import type { Redis } from 'ioredis';
import { SipedgeError } from '../../errors.ts';
import type { AccountStore, Extension, MetaStore, Tenant } from '../types.ts';
import type { Clock } from '../../clock.ts';
import { guarded, NO_ACKS, toStoreError } from './connection.ts';
import { LastKnown, type LastKnownOptions } from './last-known.ts';
import { MARKER_KEY, META_KEY } from './marker.ts';
import type { TurnBatch } from './turn-batch.ts';

const TENANTS = 'tenants';
const DOMAINS = 'tenant-domains';
const extKey = (tenant: string): string => `ext:${tenant}`;
/** Set of "tenant/ext" per lower-cased email; checked against the extension on read (stale members are removed). */
const emailKey = (email: string): string => `ext-email:${email.toLowerCase()}`;
const MAX_PARSED_TENANTS = 10_000;
/** Field-value arguments of one HSET in putExtensions (an even number: pairs). */
const HSET_SLICE = 2_000;

/** Accounts as JSON values in hashes; tenant uniqueness in one script, batch upserts in one MULTI. */
export class RedisAccountStore implements AccountStore {
  /** Tenants (their JSON) as last read here by code and by domain, for calls to registered phones during an outage. */
  private readonly byCode: LastKnown<string | null>;
  private readonly byDomain: LastKnown<string | null>;
  /** Each tenant JSON read, parsed once: a tenant is read with every request, and changes rarely if ever. */
  private readonly tenants = new Map<string, Tenant>();
  private readonly clock: Clock | undefined;

  constructor(
    private readonly redis: Redis,
    /** Tenants and extensions are read with the turn's other reads. */
    private readonly batch: TurnBatch,
    outageCache?: LastKnownOptions & { clock: Clock },
    private readonly acks = NO_ACKS,
  ) {
    this.byCode = new LastKnown(outageCache);
    this.byDomain = new LastKnown(outageCache);
    this.clock = outageCache?.clock;
  }

  async addTenant(t: Tenant): Promise<void> {
    const tenant: Tenant = { code: t.code, domain: t.domain, createdAt: t.createdAt };
    const verdict = await guarded(
      this.redis.sipedgeAddTenant(TENANTS, DOMAINS, tenant.code, tenant.domain.toLowerCase(), JSON.stringify(tenant)),
    );
    if (verdict === 'code') throw new SipedgeError('SIPEDGE_ERR_TENANT_EXISTS', `tenant: tenant code "${t.code}" is already taken`);
    await this.acks.wait();
    if (verdict.startsWith('domain:')) {
      throw new SipedgeError('SIPEDGE_ERR_TENANT_EXISTS', `tenant: domain "${t.domain}" already belongs to tenant "${verdict.slice(7)}"`);
    }
  }

  async getTenant(code: string): Promise<Tenant | undefined> {
    const json = await this.byCode.read(code, this.clock?.now() ?? 0, () => guarded(this.batch.hget(TENANTS, code)));
    return this.tenantOf(json);
  }

  async findTenantByDomain(domain: string): Promise<Tenant | undefined> {
    const lower = domain.toLowerCase();
    const json = await this.byDomain.read(lower, this.clock?.now() ?? 0, () => guarded(this.batch.hgetVia(TENANTS, DOMAINS, lower)));
    return this.tenantOf(json);
  }

  private tenantOf(json: string | null): Tenant | undefined {
    if (json === null) return undefined;
    let tenant = this.tenants.get(json);
    if (tenant === undefined) {
      // One entry per tenant version seen; the cap only bounds what renamed or removed tenants leave behind.
      if (this.tenants.size >= MAX_PARSED_TENANTS) this.tenants.clear();
      tenant = Object.freeze(JSON.parse(json) as Tenant);
      this.tenants.set(json, tenant);
    }
    return tenant;
  }

  async listTenants(): Promise<Tenant[]> {
    const all = await guarded(this.redis.hvals(TENANTS));
    return all.map((j) => JSON.parse(j) as Tenant).sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  }

  async getExtension(tenant: string, ext: string): Promise<Extension | undefined> {
    const json = await guarded(this.batch.hget(extKey(tenant), ext));
    return json === null ? undefined : (JSON.parse(json) as Extension);
  }

  async listExtensions(tenant: string): Promise<Extension[]> {
    const all = await guarded(this.redis.hvals(extKey(tenant)));
    return all.map((j) => JSON.parse(j) as Extension).sort((a, b) => (a.ext < b.ext ? -1 : a.ext > b.ext ? 1 : 0));
  }

  /**
   * Checks every tenant exists, then writes all in one MULTI. A tenant is removed only while it has no extensions;
   * a putExtensions racing that removal (check before, MULTI after) could leave extensions of a removed tenant.
   * TODO: one Lua script for check-and-write would close that window; admin removal of tenants is rare and manual.
   */
  async putExtensions(exts: Extension[]): Promise<void> {
    if (exts.length === 0) return;
    const byTenant = new Map<string, string[]>();
    for (const e of exts) {
      let fields = byTenant.get(e.tenant);
      if (fields === undefined) {
        fields = [];
        byTenant.set(e.tenant, fields);
      }
      fields.push(e.ext, JSON.stringify(e));
    }
    const codes = [...byTenant.keys()];
    const found = await guarded(this.redis.hmget(TENANTS, ...codes));
    const missing = codes.find((_, i) => found[i] === null);
    if (missing !== undefined) {
      throw new SipedgeError('SIPEDGE_ERR_TENANT_UNKNOWN', `extensions: tenant "${missing}" does not exist; nothing was written`);
    }
    const multi = this.redis.multi();
    // HSET in slices: one call's arguments are spread onto the stack (100,000 extensions overflowed it); one MULTI still.
    for (const [tenant, fields] of byTenant) {
      for (let i = 0; i < fields.length; i += HSET_SLICE) multi.hset(extKey(tenant), ...fields.slice(i, i + HSET_SLICE));
    }
    for (const e of exts) if (e.email) multi.sadd(emailKey(e.email), `${e.tenant}/${e.ext}`);
    const results = await guarded(multi.exec());
    if (results === null) throw new Error('extensions: MULTI was aborted');
    for (const [err] of results) if (err !== null) throw toStoreError(err);
    await this.acks.wait();
  }

  async removeExtension(tenant: string, ext: string): Promise<boolean> {
    const e = await this.getExtension(tenant, ext);
    if (e === undefined) return false;
    const multi = this.redis.multi().hdel(extKey(tenant), ext);
    if (e.email) multi.srem(emailKey(e.email), `${tenant}/${ext}`);
    await guarded(multi.exec());
    await this.acks.wait();
    return true;
  }

  async removeTenant(code: string): Promise<boolean> {
    const verdict = await guarded(this.redis.sipedgeRemoveTenant(TENANTS, DOMAINS, extKey(code), code));
    if (verdict === 'not-empty') {
      throw new SipedgeError('SIPEDGE_ERR_TENANT_NOT_EMPTY', `tenant "${code}" still has extensions; remove them first`);
    }
    await this.acks.wait();
    return verdict === 'ok';
  }

  async findExtensionsByEmail(email: string): Promise<Extension[]> {
    const members = await guarded(this.redis.smembers(emailKey(email)));
    const out: Extension[] = [];
    const want = email.toLowerCase();
    for (const m of members.sort()) {
      const slash = m.indexOf('/');
      const e = await this.getExtension(m.slice(0, slash), m.slice(slash + 1));
      if (e?.email?.toLowerCase() === want) out.push(e);
      else await guarded(this.redis.srem(emailKey(email), m));
    }
    return out;
  }
}

/**
 * MetaStore on Redis: HSETNX then HGET in one script, so the first value written wins across nodes, and only while
 * the store has its marker (marker.ts): a store that lost its data never gets a new secret from this node.
 */
export class RedisMetaStore implements MetaStore {
  /** Every value this node got, put back by health.ts should Redis lose its data. */
  readonly held = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly acks = NO_ACKS,
  ) {}

  async getOrSet(name: string, candidate: string): Promise<string> {
    const value = await guarded(this.redis.sipedgeMetaGetOrSet(MARKER_KEY, META_KEY, name, candidate));
    if (value === null) {
      throw new SipedgeError(
        'SIPEDGE_ERR_STORE_EMPTY',
        `store: Redis lost its data (key ${MARKER_KEY} missing); no new ${name} is made while other nodes may hold the old one (README "Redis outages")`,
      );
    }
    await this.acks.wait();
    this.held.set(name, value);
    return value;
  }
}
