// The activated cache: per tenant and class one decoded artifact in memory, shared by every call, plus the default
// piece; follows the store's activation counter so a CLI's or another node's activation shows up within a second.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../observability/logger.ts';
import type { MediaStore, MohClass } from '../store/types.ts';
import { decodeArtifact, FRAME_SAMPLES, type Artifact } from './artifact.ts';
import { transcode } from './transcode.ts';

/** One playable version: the artifact cut into 20 ms frame views (made once, shared by every stream). */
export class CachedVersion {
  readonly pcmuFrames: Buffer[];
  readonly pcmaFrames: Buffer[];
  /** Streams playing this version now; a replaced version is freed when this reaches 0. */
  refs = 0;

  constructor(
    readonly id: string,
    readonly artifact: Artifact,
  ) {
    this.pcmuFrames = [];
    this.pcmaFrames = [];
    for (let i = 0; i < artifact.frames; i++) {
      this.pcmuFrames.push(artifact.pcmu.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
      this.pcmaFrames.push(artifact.pcma.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
    }
  }

  get frames(): number {
    return this.artifact.frames;
  }
}

export interface HoldCacheOptions {
  store: MediaStore;
  logger: Logger;
  /** The default piece (a file the pipeline accepts); plays for tenants that uploaded nothing. */
  defaultFile: string;
  /** How often the store's activation counter is read; ms, default 250. */
  pollMs?: number;
}

/** Default piece path shipped with the product. */
export const DEFAULT_MOH_FILE = new URL('./assets/default-moh.wav', import.meta.url);

export class HoldCache {
  private readonly active = new Map<string, CachedVersion>();
  private fallback: CachedVersion | undefined;
  private rev = -1;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  /** Called after a refresh changed some tenant's version (tests wait on it). */
  onChange: (() => void) | undefined;

  constructor(private readonly o: HoldCacheOptions) {}

  /** Loads the default piece and every active version, then follows activations. */
  async start(): Promise<void> {
    const bytes = await readFile(this.o.defaultFile);
    const t = await transcode(bytes, { maxSeconds: 3600 });
    this.fallback = new CachedVersion('default', decodeArtifact(t.artifact)!);
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.pollMs ?? 250);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The version a new stream (or a stream at its loop end) plays for tenant/class: its active one, else the default. */
  current(tenant: string, cls: MohClass): CachedVersion {
    const v = this.active.get(`${tenant}|${cls}`) ?? this.fallback;
    if (v === undefined) throw new Error('hold cache used before start()');
    return v;
  }

  /** Re-reads the store when its activation counter moved; never throws (errors are logged, the old versions stay). */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    try {
      const rev = await this.o.store.revision();
      if (rev === this.rev) return;
      const versions = (await this.o.store.list(undefined, 20)).filter((v) => v.status === 'active');
      let changed = false;
      for (const v of versions) {
        const key = `${v.tenant}|${v.cls}`;
        if (this.active.get(key)?.id === v.id) continue;
        const bytes = await this.o.store.getArtifact(v.id);
        const artifact = bytes === undefined ? undefined : decodeArtifact(bytes);
        if (artifact === undefined) {
          this.o.logger.error({ event: 'moh.artifact.unreadable', tenant: v.tenant, cls: v.cls, version: v.id });
          continue;
        }
        // Streams holding the previous version keep it (they switch at their loop end); it is freed after them.
        this.active.set(key, new CachedVersion(v.id, artifact));
        changed = true;
        this.o.logger.info({ event: 'moh.cache.loaded', tenant: v.tenant, cls: v.cls, version: v.id });
      }
      this.rev = rev;
      if (changed) this.onChange?.();
    } catch (err) {
      this.o.logger.warn({ event: 'moh.cache.refresh-failed', err: err instanceof Error ? err.message : String(err) });
    }
  }
}
