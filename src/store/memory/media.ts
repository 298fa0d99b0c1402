// MediaStore of the embedded store: version records in the journal (media-version, media-activate), artifacts as
// files under <store>/media/ written temp + fsync + rename + fsync dir before the record that names them.
import fs from 'node:fs';
import path from 'node:path';
import { SipedgeError } from '../../errors.ts';
import { limitPerSlot, newestFirst, RETIRED_ARTIFACTS_KEPT, VERSIONS_KEPT } from '../media-order.ts';
import type { MediaStore, MediaVersion, MohClass } from '../types.ts';
import type { JournalRecord } from './journal-record.ts';
import { fsyncDir, type Journal } from './journal.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../private-files.ts';


const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Versions as of the last applied record, and the activation counter. */
export class MediaState {
  readonly versions = new Map<string, MediaVersion>();
  rev = 0;

  load(media: MediaVersion[] | undefined, rev: number | undefined): void {
    this.versions.clear();
    for (const v of media ?? []) this.versions.set(v.id, v);
    this.rev = rev ?? 0;
  }

  apply(r: JournalRecord): void {
    if (r.t === 'media-version') {
      this.versions.set(r.version.id, r.version);
      this.trim(r.version.tenant, r.version.cls);
    } else if (r.t === 'media-activate') {
      const v = this.versions.get(r.id);
      if (v === undefined || v.status !== 'pending') return;
      for (const o of this.versions.values()) {
        if (o.tenant === v.tenant && o.cls === v.cls && o.status === 'active') this.versions.set(o.id, { ...o, status: 'retired', retiredAt: r.at });
      }
      this.versions.set(v.id, { ...v, status: 'active', activatedAt: r.at });
      this.rev++;
    }
  }

  dump(): { media: MediaVersion[]; mediaRev: number } {
    return { media: [...this.versions.values()], mediaRev: this.rev };
  }

  /** Versions of one tenant/class, newest first. */
  of(tenant: string, cls: MohClass): MediaVersion[] {
    return [...this.versions.values()].filter((v) => v.tenant === tenant && v.cls === cls).sort(newestFirst);
  }

  private trim(tenant: string, cls: MohClass): void {
    const list = this.of(tenant, cls);
    // Never drop the active version, however old.
    for (const v of list.slice(VERSIONS_KEPT)) if (v.status !== 'active') this.versions.delete(v.id);
  }
}

export class MemoryMediaStore implements MediaStore {
  private readonly dir: string;

  constructor(
    private readonly state: MediaState,
    private readonly journal: Journal,
    storeDir: string,
    private readonly freshen: () => void,
  ) {
    this.dir = path.join(storeDir, 'media');
  }

  async putPending(v: MediaVersion, artifact: Buffer): Promise<void> {
    checkId(v.id);
    fs.mkdirSync(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const file = this.file(v.id);
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      let done = 0;
      while (done < artifact.length) done += fs.writeSync(fd, artifact, done, artifact.length - done, done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(this.dir);
    // The record is written only after the file is durable: a replayed pending/active version always has its bytes.
    await this.journal.append(() => [{ t: 'media-version', version: { ...v, status: 'pending' } }]);
  }

  async putFailed(v: MediaVersion): Promise<void> {
    checkId(v.id);
    await this.journal.append(() => [{ t: 'media-version', version: { ...v, status: 'failed' } }]);
  }

  async activate(id: string, now: number): Promise<void> {
    let pruned: string[] = [];
    await this.journal.append(() => {
      const v = this.state.versions.get(id);
      if (v === undefined || v.status !== 'pending') {
        throw new SipedgeError('SIPEDGE_ERR_MEDIA_UNKNOWN', `media: version ${id} is not a pending version`);
      }
      pruned = this.state
        .of(v.tenant, v.cls)
        .filter((o) => o.status === 'retired')
        .slice(RETIRED_ARTIFACTS_KEPT - 1)
        .map((o) => o.id);
      return [{ t: 'media-activate', id, at: now }];
    });
    // Best effort: a running edge keeps what it plays in memory, so a deleted file never stops a stream.
    for (const old of pruned) fs.rmSync(this.file(old), { force: true });
  }

  async active(tenant: string, cls: MohClass): Promise<MediaVersion | undefined> {
    this.freshen();
    return this.state.of(tenant, cls).find((v) => v.status === 'active');
  }

  async list(tenant?: string, limit = 10): Promise<MediaVersion[]> {
    this.freshen();
    return limitPerSlot([...this.state.versions.values()].filter((v) => tenant === undefined || v.tenant === tenant), limit);
  }

  async getArtifact(id: string): Promise<Buffer | undefined> {
    if (!ID_RE.test(id)) return undefined;
    try {
      return await fs.promises.readFile(this.file(id));
    } catch {
      return undefined;
    }
  }

  async revision(): Promise<number> {
    this.freshen();
    return this.state.rev;
  }

  private file(id: string): string {
    return path.join(this.dir, `${id}.moh`);
  }
}

function checkId(id: string): void {
  if (!ID_RE.test(id)) throw new Error(`media: version id "${id}" is not [A-Za-z0-9_-]{1,64}`);
}

