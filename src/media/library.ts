// Hold-music uploads and status per tenant and class: size limit, transcode, store as pending, activate; refused
// uploads are recorded as failed with their reason. Used by the CLI and the HTTP API; playing is hold-cache.ts's.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { SipedgeError, type ErrorCode } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { AccountStore, MediaStore, MediaVersion, MohClass } from '../store/types.ts';
import type { ConversionPool } from './conversion-pool.ts';
import { UploadRefused, type RefusalReason } from './decoded-audio.ts';
import { transcode, type TranscodeOptions, type Transcoded } from './transcode.ts';

/** An upload the library refused; `reason` is the closed-set code (API field and metric label). */
export class UploadError extends SipedgeError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly reason: RefusalReason,
  ) {
    super(code, message);
    this.name = 'UploadError';
  }
}

/** Seconds an upload turned away by a full conversion pool is asked to wait (Retry-After, RFC 9110 §10.2.3). */
const BUSY_RETRY_AFTER_SECONDS = 2;

/** An upload turned away because every conversion slot and queue place is taken; nothing is recorded. */
export class UploadBusy extends SipedgeError {
  readonly retryAfterSeconds = BUSY_RETRY_AFTER_SECONDS;
  constructor(pool: ConversionPool) {
    super(
      'SIPEDGE_ERR_UPLOAD_BUSY',
      `${pool.running} conversion(s) are running and ${pool.queued} upload(s) wait (media.conversions, media.conversionQueue); try again in ${BUSY_RETRY_AFTER_SECONDS} s`,
    );
    this.name = 'UploadBusy';
  }
}

export interface UploadInput {
  tenant: string;
  cls: MohClass;
  /** File name as given (display only; the format comes from the bytes). */
  sourceName: string;
  bytes: Buffer;
}

export interface MediaLibraryDeps {
  config: Config['media'];
  media: MediaStore;
  accounts: AccountStore;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** Runs the pipeline; default in this thread (the CLI). The edge passes transcodeInWorker (never blocks RTP). */
  transcoder?: (bytes: Buffer, opts: TranscodeOptions) => Promise<Transcoded>;
  /** Bounds the conversions running and waiting (the edge's); none: each upload converts at once (the CLI's one). */
  pool?: ConversionPool;
}

/** Validates, converts, stores and activates uploads; reports status. */
export class MediaLibrary {
  constructor(private readonly d: MediaLibraryDeps) {}

  /** Upload limit of a class; bytes. */
  maxBytes(cls: MohClass): number {
    return cls === 'hold' ? this.d.config.holdMaxBytes : this.d.config.queueMaxBytes;
  }

  /** Throws SIPEDGE_ERR_CLI_USAGE-style errors for a bad class or an unknown tenant (nothing is recorded). */
  async checkTarget(tenant: string, cls: string): Promise<MohClass> {
    const c = mohClass(cls);
    if ((await this.d.accounts.getTenant(tenant)) === undefined) {
      throw new SipedgeError('SIPEDGE_ERR_TENANT_UNKNOWN', `tenant "${tenant}" does not exist`);
    }
    return c;
  }

  /** The refusal for an upload of `bytes` (or more) bytes over the class limit; records it as failed. */
  async refuseTooLarge(tenant: string, cls: MohClass, sourceName: string, bytes: number, atLeast: boolean): Promise<UploadError> {
    const limit = this.maxBytes(cls);
    const msg = `${sourceName} is ${atLeast ? 'over ' : ''}${mb(bytes)}; ${cls} music may be at most ${mb(limit)} (media.${cls}MaxBytes)`;
    const err = new UploadError('SIPEDGE_ERR_UPLOAD_TOO_LARGE', msg, 'too-large');
    await this.recordFailure({ tenant, cls, sourceName, bytes: Buffer.alloc(0) }, bytes, err);
    return err;
  }

  /**
   * Converts and activates an upload. Resolves with the active version; rejects with UploadError (recorded as a
   * failed version, the previous music still active), UploadBusy (the pool is full; nothing recorded) or a store error.
   */
  async upload(u: UploadInput): Promise<MediaVersion> {
    const cls = await this.checkTarget(u.tenant, u.cls);
    if (u.bytes.length > this.maxBytes(cls)) throw await this.refuseTooLarge(u.tenant, cls, u.sourceName, u.bytes.length, false);
    const started = performance.now();
    const opts: TranscodeOptions = {
      maxSeconds: this.d.config.maxDurationSeconds,
      maxSecondsKey: 'media.maxDurationSeconds',
      targetDbfs: this.d.config.loudnessDbfs,
      peakDbfs: this.d.config.peakDbfs,
    };
    const convert = () => (this.d.transcoder ?? transcode)(u.bytes, opts);
    const pool = this.d.pool;
    const converting = pool === undefined ? convert() : pool.run(convert);
    if (converting === undefined) {
      this.d.metrics?.mohActivations.labels('busy').inc();
      this.d.logger.info({ event: 'moh.busy', tenant: u.tenant, cls, running: pool?.running, queued: pool?.queued });
      throw new UploadBusy(pool!);
    }
    let out;
    try {
      out = await converting;
    } catch (e) {
      if (!(e instanceof UploadRefused)) throw e;
      const err = new UploadError('SIPEDGE_ERR_UPLOAD_REFUSED', `${u.sourceName}: ${e.message}`, e.reason);
      await this.recordFailure(u, u.bytes.length, err);
      throw err;
    }
    const now = this.d.clock.now();
    const v: MediaVersion = {
      id: newVersionId(now),
      tenant: u.tenant,
      cls,
      status: 'pending',
      sourceName: u.sourceName,
      sourceBytes: u.bytes.length,
      description: out.description,
      durationMs: out.durationMs,
      createdAt: now,
    };
    await this.d.media.putPending(v, out.artifact);
    await this.d.media.activate(v.id, this.d.clock.now());
    this.d.metrics?.mohActivations.labels('activated').inc();
    const active = (await this.d.media.active(u.tenant, cls)) ?? v;
    this.d.logger.info({
      event: 'moh.activated',
      tenant: u.tenant,
      cls,
      version: v.id,
      format: out.format,
      durationMs: out.durationMs,
      ms: Math.round(performance.now() - started),
    });
    return active;
  }

  /** Versions newest first per tenant/class (at most `limit` each); all tenants when `tenant` is undefined. */
  /** Per tenant/class: the active and pending versions, then at most `limit` recent others. */
  async status(tenant?: string, limit = 5): Promise<MediaVersion[]> {
    if (tenant !== undefined && (await this.d.accounts.getTenant(tenant)) === undefined) {
      throw new SipedgeError('SIPEDGE_ERR_TENANT_UNKNOWN', `tenant "${tenant}" does not exist`);
    }
    return this.d.media.list(tenant, limit);
  }

  private async recordFailure(u: Omit<UploadInput, 'bytes'> & { bytes: Buffer }, size: number, err: UploadError): Promise<void> {
    const now = this.d.clock.now();
    this.d.metrics?.mohActivations.labels(err.reason).inc();
    this.d.logger.info({ event: 'moh.refused', tenant: u.tenant, cls: u.cls, reason: err.reason });
    await this.d.media.putFailed({
      id: newVersionId(now),
      tenant: u.tenant,
      cls: u.cls,
      status: 'failed',
      reason: err.message,
      reasonCode: err.reason,
      sourceName: u.sourceName,
      sourceBytes: size,
      createdAt: now,
      failedAt: now,
    });
  }
}

/** The class named, or SIPEDGE_ERR_CLI_USAGE for anything but hold and queue. */
export function mohClass(cls: string): MohClass {
  if (cls !== 'hold' && cls !== 'queue') throw new SipedgeError('SIPEDGE_ERR_CLI_USAGE', `class "${cls}" is not hold or queue`);
  return cls;
}

/** Sortable and unique: base-36 time plus 48 random bits. */
function newVersionId(now: number): string {
  return `${now.toString(36)}-${randomBytes(6).toString('hex')}`;
}

/** "1.5 MB" (decimal megabytes, as the limits are written). */
export function mb(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(bytes >= 10_000_000 ? 0 : bytes % 100_000 === 0 ? 1 : 2)} MB`;
}
