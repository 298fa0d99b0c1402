// LoginStore, TokenStore and SessionStore of the embedded store. Logins and tokens are durable (journal, read
// from GatewayState); sessions are volatile maps of this process (a restart of the embedded edge logs users out).
import type { LoginRecord, LoginStore, SessionRecord, SessionStore, TokenStore } from '../types.ts';
import { loginKey, type GatewayState } from './gateway-state.ts';
import type { Journal } from './journal.ts';

/** Login records in memory, every write journaled; the replay guard's check-and-set runs under the journal lock. */
export class MemoryLoginStore implements LoginStore {
  constructor(
    private readonly state: GatewayState,
    private readonly journal: Journal,
    private readonly freshen: () => void,
  ) {}

  async get(tenant: string, ext: string): Promise<LoginRecord | undefined> {
    this.freshen();
    return this.state.logins.get(loginKey(tenant, ext));
  }

  async put(rec: LoginRecord): Promise<void> {
    await this.journal.append(() => [{ t: 'login', login: { ...rec } }]);
  }

  async remove(tenant: string, ext: string): Promise<void> {
    await this.journal.append(() => (this.state.logins.has(loginKey(tenant, ext)) ? [{ t: 'login-remove', tenant, ext }] : []));
  }

  async lastTotpStep(tenant: string, ext: string): Promise<number> {
    this.freshen();
    return this.state.totpSteps.get(loginKey(tenant, ext)) ?? 0;
  }

  async useTotpStep(tenant: string, ext: string, step: number): Promise<boolean> {
    const key = loginKey(tenant, ext);
    let accepted = false;
    await this.journal.append(() => {
      // Under the lock and after other processes' records: two nodes cannot both accept the same step.
      accepted = step > (this.state.totpSteps.get(key) ?? 0);
      return accepted ? [{ t: 'totp-step', key, step }] : [];
    });
    return accepted;
  }
}

/** Single-use tokens in the journal; take() decides under the journal lock, so only one taker wins. */
export class MemoryTokenStore implements TokenStore {
  constructor(
    private readonly state: GatewayState,
    private readonly journal: Journal,
  ) {}

  async put(id: string, value: string, expiresAt: number): Promise<void> {
    await this.journal.append(() => [{ t: 'token', id, value, expiresAt }]);
  }

  async take(id: string, now: number): Promise<string | undefined> {
    let found: { value: string; expiresAt: number } | undefined;
    // Compacting right away drops the token's record (it may hold a sealed password) from the files on disk.
    await this.journal.append(() => {
      found = this.state.tokens.get(id);
      return found === undefined ? [] : [{ t: 'token-take', id }];
    }, true);
    return found !== undefined && found.expiresAt > now ? found.value : undefined;
  }
}

/** Volatile sessions of this edge process, freed by the store's periodic sweep. */
export class MemorySessionStore implements SessionStore {
  private readonly byId = new Map<string, SessionRecord>();

  async create(id: string, s: SessionRecord): Promise<void> {
    this.byId.set(id, { ...s });
  }

  async touch(id: string, now: number, slideMs: number): Promise<SessionRecord | undefined> {
    const s = this.byId.get(id);
    if (s === undefined) return undefined;
    if (s.expiresAt <= now) {
      this.byId.delete(id);
      return undefined;
    }
    if (slideMs > 0) s.expiresAt = now + slideMs;
    return { ...s };
  }

  async delete(id: string): Promise<void> {
    this.byId.delete(id);
  }

  sweep(now: number): void {
    for (const [id, s] of this.byId) if (s.expiresAt <= now) this.byId.delete(id);
  }
}
