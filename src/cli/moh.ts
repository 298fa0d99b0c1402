// `sipedge moh upload` and `sipedge moh status`: argument handling and printing only; the pipeline, limits and
// status live in media/library.ts.
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../clock.ts';
import { SipedgeError, type ErrorCode } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../observability/logger.ts';
import { MediaLibrary, mb, mohClass } from '../media/library.ts';
import { openStores } from '../store/open.ts';
import type { MediaVersion, MohClass } from '../store/types.ts';
import { edgeUrl } from './health.ts';

type Out = (s: string) => void;

async function withLibrary<T>(config: Readonly<Config>, fn: (lib: MediaLibrary) => Promise<T>): Promise<T> {
  const stores = await openStores(config, { role: 'cli', clock: systemClock });
  try {
    const lib = new MediaLibrary({ config: config.media, media: stores.media, accounts: stores.accounts, clock: systemClock, logger: createLogger('silent') });
    return await fn(lib);
  } finally {
    await stores.close();
  }
}

/** Reads at most limit+1 bytes, so a huge file is refused without reading it whole. */
async function readBounded(file: string, limit: number): Promise<{ bytes: Buffer; size: number }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `moh upload: cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`);
  }
  try {
    const { size } = await fh.stat();
    const want = Math.min(size, limit + 1);
    const bytes = Buffer.alloc(want);
    let done = 0;
    while (done < want) {
      const { bytesRead } = await fh.read(bytes, done, want - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return { bytes: bytes.subarray(0, done), size };
  } finally {
    await fh.close();
  }
}

export async function mohUpload(config: Readonly<Config>, file: string, tenant: string, cls: string, out: Out, err: Out): Promise<number> {
  const c = mohClass(cls);
  const name = basename(file);
  const api = edgeApi(config);
  if (api !== undefined) {
    const limit = c === 'hold' ? config.media.holdMaxBytes : config.media.queueMaxBytes;
    const { bytes, size } = await readBounded(file, limit);
    const started = performance.now();
    const v = await uploadThroughEdge(api, { tenant, cls: c, name, bytes }, err);
    if (v !== undefined) {
      out(activatedLine(name, v, size, started));
      return 0;
    }
    err(`moh upload: no edge answers at ${api.url}: converting here`);
  }
  return withLibrary(config, async (lib) => {
    await lib.checkTarget(tenant, c);
    const { bytes, size } = await readBounded(file, lib.maxBytes(c));
    if (size > lib.maxBytes(c)) throw await lib.refuseTooLarge(tenant, c, name, size, false);
    const started = performance.now();
    const v = await lib.upload({ tenant, cls: c, sourceName: name, bytes });
    out(activatedLine(name, v, size, started));
    return 0;
  });
}

/** What the CLI prints of an activated version, whoever converted it. */
type Activated = Pick<MediaVersion, 'id' | 'cls' | 'tenant' | 'description' | 'durationMs'>;

function activatedLine(name: string, v: Activated, size: number, started: number): string {
  return `${name}: active ${v.cls} music of ${v.tenant} (version ${v.id}, ${v.description}, ${((v.durationMs ?? 0) / 1000).toFixed(1)} s; ${mb(size)}; activated in ${Math.round(performance.now() - started)} ms)`;
}

/**
 * The running edge's POST /api/moh, which the CLI uses when it can (media.apiToken set, http.listen on): the edge's
 * conversion pool then bounds this upload too. Otherwise the CLI converts in its own process.
 */
function edgeApi(config: Readonly<Config>): { url: string; token: string } | undefined {
  const url = edgeUrl(config.http.listen, '/api/moh');
  return config.media.apiToken === '' || url === undefined ? undefined : { url, token: config.media.apiToken };
}

/** Longest the CLI waits in all for a busy edge (503 + Retry-After) before it gives up; seconds. */
const BUSY_WAIT_LIMIT_SECONDS = 300;
/** Wait when a 503 names no usable Retry-After, and the longest single wait honoured; seconds. */
const DEFAULT_RETRY_SECONDS = 2;
const MAX_RETRY_SECONDS = 60;

interface EdgeVersion {
  id: string;
  tenant: string;
  class: MohClass;
  description?: string;
  durationMs?: number;
}

/**
 * Posts the file to the edge; waits out 503s as their Retry-After asks (saying so on stderr), up to
 * BUSY_WAIT_LIMIT_SECONDS in all. Undefined when nothing answers at the address (the edge is not running).
 */
async function uploadThroughEdge(
  api: { url: string; token: string },
  u: { tenant: string; cls: MohClass; name: string; bytes: Buffer },
  err: Out,
): Promise<Activated | undefined> {
  let waited = 0;
  for (;;) {
    const form = new FormData();
    form.append('tenant', u.tenant);
    form.append('class', u.cls);
    form.append('file', new Blob([new Uint8Array(u.bytes)]), u.name);
    let res: Response;
    try {
      res = await fetch(api.url, { method: 'POST', body: form, headers: { authorization: `Bearer ${api.token}` } });
    } catch (e) {
      if (waited === 0 && (e as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') return undefined;
      throw new SipedgeError('SIPEDGE_ERR_UPLOAD_REFUSED', `moh upload: ${api.url}: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string; version?: EdgeVersion };
    if (res.status === 201 && body.version !== undefined) {
      const v = body.version;
      return { id: v.id, tenant: v.tenant, cls: v.class, description: v.description, durationMs: v.durationMs };
    }
    const message = body.message ?? `HTTP ${res.status}`;
    if (res.status === 401) throw new SipedgeError('SIPEDGE_ERR_UNAUTHORIZED', `the edge at ${api.url} refused media.apiToken`);
    if (res.status !== 503) {
      // The edge's codes are the CLI's own (README "Error codes").
      throw new SipedgeError((body.error ?? 'SIPEDGE_ERR_UPLOAD_REFUSED') as ErrorCode, message);
    }
    const asked = Number(res.headers.get('retry-after'));
    const seconds = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_RETRY_SECONDS) : DEFAULT_RETRY_SECONDS;
    if (waited + seconds > BUSY_WAIT_LIMIT_SECONDS) {
      throw new SipedgeError('SIPEDGE_ERR_UPLOAD_BUSY', `the edge stayed busy for ${waited} s, giving up: ${message}`);
    }
    err(`moh upload: the edge is busy (${message}); waiting ${seconds} s before trying again`);
    await sleep(seconds * 1000);
    waited += seconds;
  }
}

/** Recent versions (retired, failed) shown per tenant and class beside the active and pending ones, without --all. */
const RECENT_SHOWN = 5;

export async function mohStatus(config: Readonly<Config>, tenant: string | undefined, all: boolean, json: boolean, out: Out): Promise<number> {
  return withLibrary(config, async (lib) => {
    // Per tenant and class (in the store's listing order): what plays (active) and what is about to (pending) first,
    // then the recent ones, newest first.
    // (Array sort is stable: the store's newest-first order holds within each group.)
    const versions = await lib.status(tenant, all ? Infinity : RECENT_SHOWN);
    const slots = new Map<string, number>();
    for (const v of versions) if (!slots.has(`${v.tenant}|${v.cls}`)) slots.set(`${v.tenant}|${v.cls}`, slots.size);
    const slot = (v: MediaVersion) => slots.get(`${v.tenant}|${v.cls}`)!;
    const recent = (v: MediaVersion) => (v.status === 'active' || v.status === 'pending' ? 0 : 1);
    versions.sort((a, b) => slot(a) - slot(b) || recent(a) - recent(b));
    if (json) {
      out(JSON.stringify(versions, null, 2));
      return 0;
    }
    if (versions.length === 0) {
      out(tenant === undefined ? 'no uploads yet: every tenant plays the default music' : `${tenant}: no uploads yet, the default music plays`);
      return 0;
    }
    for (const v of versions) out(line(v));
    return 0;
  });
}

function line(v: MediaVersion): string {
  const at = (t: number | undefined) => (t === undefined ? '' : new Date(t).toISOString());
  const when = v.status === 'active' ? at(v.activatedAt) : v.status === 'retired' ? at(v.retiredAt) : v.status === 'failed' ? at(v.failedAt) : at(v.createdAt);
  const what = v.status === 'failed' ? `failed: ${v.reason ?? ''}` : `${v.status} ${v.description ?? ''} ${((v.durationMs ?? 0) / 1000).toFixed(1)} s`;
  return `${v.tenant}\t${v.cls}\t${v.id}\t${when}\t${v.sourceName}\t${what}`;
}
