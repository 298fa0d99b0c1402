// Durable gateway state held in memory: login records, the last TOTP step per extension, single-use tokens.
// It only applies journal records and answers lookups; the journal orders and persists them (journal.ts).
import type { Clock } from '../../clock.ts';
import type { LoginRecord } from '../types.ts';
import type { JournalRecord, StoredToken } from './journal-record.ts';
import type { SnapshotBody } from './journal.ts';

/** "tenant/ext": extensions never contain '/' (auth/provisioning.ts EXTENSION). */
export const loginKey = (tenant: string, ext: string): string => `${tenant}/${ext}`;

/** Logins, TOTP steps and tokens as of the last applied record. Stored login objects are frozen and shared. */
export class GatewayState {
  readonly logins = new Map<string, LoginRecord>();
  readonly totpSteps = new Map<string, number>();
  readonly tokens = new Map<string, StoredToken>();

  constructor(private readonly clock: Clock) {}

  load(s: SnapshotBody): void {
    this.logins.clear();
    this.totpSteps.clear();
    this.tokens.clear();
    for (const l of s.logins ?? []) this.logins.set(loginKey(l.tenant, l.ext), Object.freeze(l));
    for (const [k, v] of Object.entries(s.totpSteps ?? {})) this.totpSteps.set(k, v);
    for (const t of s.tokens ?? []) this.tokens.set(t.id, t);
  }

  apply(r: JournalRecord): void {
    switch (r.t) {
      case 'login':
        this.logins.set(loginKey(r.login.tenant, r.login.ext), Object.freeze(r.login));
        return;
      case 'login-remove':
        this.logins.delete(loginKey(r.tenant, r.ext));
        return;
      case 'extension-remove':
        // The extension is gone; so is its login (its TOTP step stays: steps only grow, and a re-created
        // extension must not accept a code seen before).
        this.logins.delete(loginKey(r.tenant, r.ext));
        return;
      case 'totp-step':
        if (r.step > (this.totpSteps.get(r.key) ?? 0)) this.totpSteps.set(r.key, r.step);
        return;
      case 'token':
        this.tokens.set(r.id, { id: r.id, value: r.value, expiresAt: r.expiresAt });
        return;
      case 'token-take':
        this.tokens.delete(r.id);
        return;
      default:
        return;
    }
  }

  /** Frees expired tokens (state derived from the journal: take() refuses them anyway). */
  sweep(now: number): void {
    for (const [id, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(id);
  }

  /** Snapshot fields; expired tokens are left out (compaction frees them). */
  dump(): Pick<SnapshotBody, 'logins' | 'totpSteps' | 'tokens'> {
    const now = this.clock.now();
    return {
      logins: [...this.logins.values()],
      totpSteps: Object.fromEntries(this.totpSteps),
      tokens: [...this.tokens.values()].filter((t) => t.expiresAt > now),
    };
  }
}
