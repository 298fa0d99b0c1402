// `sipedge moh upload` and `sipedge moh status`: argument handling and printing only; the pipeline, limits and
// status live in media/library.ts.
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { systemClock } from '../clock.ts';
import { SipedgeError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../observability/logger.ts';
import { MediaLibrary, mb } from '../media/library.ts';
import { openStores } from '../store/open.ts';
import type { MediaVersion } from '../store/types.ts';

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

export async function mohUpload(config: Readonly<Config>, file: string, tenant: string, cls: string, out: Out): Promise<number> {
  return withLibrary(config, async (lib) => {
    const c = await lib.checkTarget(tenant, cls);
    const name = basename(file);
    const { bytes, size } = await readBounded(file, lib.maxBytes(c));
    if (size > lib.maxBytes(c)) throw await lib.refuseTooLarge(tenant, c, name, size, false);
    const started = performance.now();
    const v = await lib.upload({ tenant, cls: c, sourceName: name, bytes });
    out(`${name}: active ${c} music of ${tenant} (version ${v.id}, ${v.description}, ${((v.durationMs ?? 0) / 1000).toFixed(1)} s; ${mb(size)}; activated in ${Math.round(performance.now() - started)} ms)`);
    return 0;
  });
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
