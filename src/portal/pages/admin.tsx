// Extensions (tenant admins: their tenant; operators: any): the list with SIP lock state, registrations and 2FA, the
// actions unlock / reset login password / reset 2FA, and a new extension whose VoIP password goes out by token.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, messageOf, type Me } from '../api.ts';
import { Alert, Field, OnceValue, Section, TableHead } from '../ui.tsx';

interface ExtensionRow {
  extension: string;
  email?: string;
  role: string;
  lockedUntil?: string;
  bindings?: Array<{ contact: string; transport: string; source: string; userAgent?: string }>;
  twoFactorEnabled: boolean;
  hasLoginPassword: boolean;
}

export function useTenants(me: Me): [string[], string, (t: string) => void] {
  const [tenants, setTenants] = useState<string[]>([me.tenant]);
  const [tenant, setTenant] = useState(me.tenant);
  useEffect(() => {
    api<{ tenants: Array<{ code: string }> }>('GET', '/api/admin/tenants')
      .then((r) => setTenants(r.tenants.map((t) => t.code)))
      .catch(() => undefined);
  }, []);
  return [tenants, tenant, setTenant];
}

export function TenantPicker(props: { tenants: string[]; tenant: string; onChange: (t: string) => void }): JSX.Element | null {
  if (props.tenants.length < 2) return null;
  return (
    <div class="field inline">
      <label for="tenant">Tenant</label>
      <select id="tenant" value={props.tenant} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
        {props.tenants.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
    </div>
  );
}

const time = (iso: string): string => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

export function AdminPage(props: { me: Me }): JSX.Element {
  const [tenants, tenant, setTenant] = useTenants(props.me);
  const [rows, setRows] = useState<ExtensionRow[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<JSX.Element | string | undefined>(undefined);
  const [ext, setExt] = useState('');
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('user');
  const base = `/api/admin/tenants/${encodeURIComponent(tenant)}/extensions`;

  const load = (): void => {
    api<{ extensions: ExtensionRow[] }>('GET', base)
      .then((r) => setRows(r.extensions))
      .catch((e: unknown) => setError(messageOf(e)));
  };
  useEffect(load, [tenant]);

  const act = async (work: () => Promise<void>): Promise<void> => {
    setError(undefined);
    setNotice(undefined);
    try {
      await work();
      load();
    } catch (e) {
      setError(messageOf(e));
    }
  };

  const unlock = (r: ExtensionRow): Promise<void> =>
    act(async () => {
      await api('POST', `${base}/${encodeURIComponent(r.extension)}/unlock`);
      setNotice(`Extension ${r.extension} is unlocked.`);
    });
  const resetPassword = (r: ExtensionRow): Promise<void> =>
    act(async () => {
      const out = await api<{ password?: string }>('POST', `${base}/${encodeURIComponent(r.extension)}/login-password`, {});
      setNotice(
        <>
          New login password for {r.extension} (shown once; their sessions were ended):
          <OnceValue label="Login password" value={out.password ?? ''} testId="new-login-password" />
        </>,
      );
    });
  const reset2fa = (r: ExtensionRow): Promise<void> =>
    act(async () => {
      await api('POST', `${base}/${encodeURIComponent(r.extension)}/reset-2fa`);
      setNotice(`Two-factor authentication of ${r.extension} was reset: the next sign-in needs only the password.`);
    });
  const create = (e: Event): void => {
    e.preventDefault();
    void act(async () => {
      const body: Record<string, string> = { ext: ext.trim(), role, delivery: 'token' };
      if (email.trim() !== '') body.email = email.trim();
      const out = await api<{ provisioningUrl: string; provisioningTokenExpiresAt: string }>('POST', base, body);
      setNotice(
        <>
          Extension {ext.trim()} was created. Send this one-time link to its user (it works once, until {time(out.provisioningTokenExpiresAt)}); it shows
          the VoIP password and the phone settings:
          <OnceValue label="Provisioning link" value={out.provisioningUrl} testId="provisioning-url" />
        </>,
      );
      setExt('');
      setEmail('');
    });
  };

  return (
    <div class="page wide">
      <h1>Extensions</h1>
      <TenantPicker tenants={tenants} tenant={tenant} onChange={setTenant} />
      {error && <Alert kind="error" testId="admin-error">{error}</Alert>}
      {notice && <Alert kind="success" testId="admin-notice">{notice}</Alert>}
      <Section title={`Extensions of ${tenant}`} id="ext-list">
        {rows === undefined ? (
          <p>Loading…</p>
        ) : (
          <div class="table-wrap">
            <table class="list" data-testid="extensions">
              <TableHead columns={['Extension', 'Email', 'Role', 'SIP lock', 'Registrations', '2FA', 'Actions']} />
              <tbody>
                {rows.map((r) => (
                  <tr key={r.extension} data-ext={r.extension}>
                    <th scope="row">{r.extension}</th>
                    <td data-label="Email">{r.email ?? '—'}</td>
                    <td data-label="Role">{r.role}</td>
                    <td data-label="SIP lock">{r.lockedUntil ? <span class="badge badge-danger">Locked until {time(r.lockedUntil)}</span> : <span class="badge">Open</span>}</td>
                    <td data-label="Registrations" title={(r.bindings ?? []).map((b) => `${b.transport} ${b.source} ${b.userAgent ?? ''}`).join('\n')}>{(r.bindings ?? []).length}</td>
                    <td data-label="2FA">{r.twoFactorEnabled ? 'On' : 'Off'}</td>
                    <td data-label="Actions">
                      <div class="actions">
                        {r.lockedUntil && (
                          <button type="button" class="btn btn-small" onClick={() => void unlock(r)}>
                            Unlock
                          </button>
                        )}
                        <button type="button" class="btn btn-small" onClick={() => void resetPassword(r)} aria-label={`Reset password of ${r.extension}`}>
                          Reset password
                        </button>
                        {r.twoFactorEnabled && (
                          <button type="button" class="btn btn-small" onClick={() => void reset2fa(r)} aria-label={`Reset 2FA of ${r.extension}`}>
                            Reset 2FA
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section title="New Extension" id="new-ext">
        <form onSubmit={create}>
          <Field id="new-ext-number" label="Extension" hint="Letters, digits, _ . + (no -)." value={ext} onInput={setExt} required pattern="[A-Za-z0-9_.+]{1,64}" />
          <Field id="new-ext-email" label="Email (optional)" type="email" value={email} onInput={setEmail} />
          <div class="field">
            <label for="new-ext-role">Role</label>
            <select id="new-ext-role" value={role} onChange={(e) => setRole((e.currentTarget as HTMLSelectElement).value)}>
              <option value="user">User</option>
              <option value="tenant-admin">Tenant admin</option>
              {props.me.role === 'operator' && <option value="operator">Operator</option>}
            </select>
          </div>
          <button type="submit" class="btn btn-primary">
            Create Extension
          </button>
        </form>
      </Section>
    </div>
  );
}
