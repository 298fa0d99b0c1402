// `sipedge demo`: the demo tenant a new user starts with (idempotent); passwords are printed only when created.
// Account logic is auth/provisioning.ts's.
import type { LoginAccounts } from '../auth/login-accounts.ts';
import type { Provisioning } from '../auth/provisioning.ts';
import type { Stores } from '../store/types.ts';

const DEMO_TENANT = { code: 'demo', domain: 'demo.sipedge.test' };
const DEMO_EXTENSIONS = ['1001', '1002'];

/** The demo extension that gets a gateway login (tenant admin of the demo tenant), so the API can be tried at once. */
const DEMO_ADMIN = '1001';

export async function ensureDemo(p: Provisioning, stores: Stores, logins: LoginAccounts, out: (s: string) => void): Promise<number> {
  if (!(await stores.accounts.getTenant(DEMO_TENANT.code))) {
    await p.addTenant(DEMO_TENANT.code, DEMO_TENANT.domain);
    out(`demo tenant "${DEMO_TENANT.code}" created: SIP domain and realm ${DEMO_TENANT.domain}`);
  }
  for (const ext of DEMO_EXTENSIONS) {
    if (await stores.accounts.getExtension(DEMO_TENANT.code, ext)) continue;
    const { password } = await p.addExtension({ ext, tenant: DEMO_TENANT.code });
    out(`demo extension ${ext}@${DEMO_TENANT.domain}  username ${ext}  VoIP password ${password}  (shown once)`);
  }
  const ref = { tenant: DEMO_TENANT.code, ext: DEMO_ADMIN };
  if ((await stores.logins.get(ref.tenant, ref.ext))?.passwordHash === undefined) {
    const r = await logins.setPassword(ref, undefined);
    await logins.setRole(ref, 'tenant-admin');
    if (r.ok && r.generated !== undefined) {
      out(`demo gateway login ${DEMO_ADMIN}-${DEMO_TENANT.code} (tenant admin)  login password ${r.generated}  (shown once; POST /api/login)`);
    }
  }
  return 0;
}
