// `sipedge demo`: the demo tenant a new user starts with (idempotent); passwords are printed only when created.
// Account logic is auth/provisioning.ts's.
import type { Provisioning } from '../auth/provisioning.ts';
import type { Stores } from '../store/types.ts';

export const DEMO_TENANT = { code: 'demo', domain: 'demo.sipedge.test' };
export const DEMO_EXTENSIONS = ['1001', '1002'];

export async function ensureDemo(p: Provisioning, stores: Stores, out: (s: string) => void): Promise<number> {
  if (!(await stores.accounts.getTenant(DEMO_TENANT.code))) {
    await p.addTenant(DEMO_TENANT.code, DEMO_TENANT.domain);
    out(`demo tenant "${DEMO_TENANT.code}" created: SIP domain and realm ${DEMO_TENANT.domain}`);
  }
  for (const ext of DEMO_EXTENSIONS) {
    if (await stores.accounts.getExtension(DEMO_TENANT.code, ext)) continue;
    const { password } = await p.addExtension({ ext, tenant: DEMO_TENANT.code });
    out(`demo extension ${ext}@${DEMO_TENANT.domain}  username ${ext}  VoIP password ${password}  (shown once)`);
  }
  return 0;
}
