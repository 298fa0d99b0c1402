// Admin routes for tenant admins (their own tenant) and operators (every tenant): tenants and extensions CRUD,
// email, role, SIP unlock, login-password reset, 2FA reset, VoIP password regeneration. Roles checked per route.
import { checkPassword } from '../auth/password-policy.ts';
import type { ExtensionRef } from '../auth/provisioning.ts';
import type { LoginRole } from '../store/types.ts';
import { SipedgeError } from '../errors.ts';
import { ApiError } from '../errors.ts';
import { forbidden, notFound } from './api-error.ts';
import type { Caller, Gateway, RouteSpec } from './gateway.ts';
import { policyError } from './login-routes.ts';
import { bodies, params } from './schemas.ts';
import { deliverVoipPassword } from './voip-routes.ts';

/** Operators administer every tenant; tenant admins only their own; users none. */
function requireTenantAdmin(c: Caller, tenant: string): void {
  if (c.login.role === 'operator') return;
  if (c.login.role === 'tenant-admin' && c.ref.tenant === tenant) return;
  throw forbidden(c.login.role === 'user' ? 'the admin API needs the tenant-admin or operator role' : `you administer tenant "${c.ref.tenant}" only`);
}

function requireOperator(c: Caller): void {
  if (c.login.role !== 'operator') throw forbidden('only operators may do this');
}

/** Only an operator may grant the operator role. */
function requireGrantable(c: Caller, role: LoginRole | undefined): void {
  if (role === 'operator' && c.login.role !== 'operator') throw forbidden('only operators may grant the operator role');
}

/**
 * An operator's extension can be changed only by an operator: otherwise a tenant admin could set its email or login
 * password (or reset its 2FA) and take over the operator role.
 */
async function requireManageable(g: Gateway, c: Caller, ref: ExtensionRef): Promise<void> {
  if (c.login.role === 'operator') return;
  const target = await g.stores.logins.get(ref.tenant, ref.ext);
  if (target?.role === 'operator') throw forbidden('only operators may change an operator\'s extension');
}

async function extensionView(g: Gateway, ref: ExtensionRef): Promise<Record<string, unknown>> {
  const view = await g.provisioning.show(ref, true);
  const login = await g.stores.logins.get(ref.tenant, ref.ext);
  return {
    ...view,
    role: login?.role ?? 'user',
    hasLoginPassword: login?.passwordHash !== undefined,
    twoFactorEnabled: login?.totpActive ?? false,
  };
}

export function adminRoutes(g: Gateway): RouteSpec[] {
  const refOf = (p: unknown): ExtensionRef => p as ExtensionRef;
  const tenantOf = (p: unknown): string => (p as { tenant: string }).tenant;
  return [
    {
      method: 'GET',
      url: '/api/admin/tenants',
      summary: 'tenants you administer (operators: all)',
      tag: 'admin',
      auth: 'session',
      responses: { 200: '{ tenants: [{ code, domain, createdAt }] }', 403: 'role user' },
      async handler(_req, _reply, c) {
        if (c!.login.role === 'user') throw forbidden('the admin API needs the tenant-admin or operator role');
        const all = await g.stores.accounts.listTenants();
        const mine = c!.login.role === 'operator' ? all : all.filter((t) => t.code === c!.ref.tenant);
        return { tenants: mine.map((t) => ({ code: t.code, domain: t.domain, createdAt: new Date(t.createdAt).toISOString() })) };
      },
    },
    {
      method: 'POST',
      url: '/api/admin/tenants',
      summary: 'create a tenant (operators)',
      tag: 'admin',
      auth: 'session',
      body: bodies.createTenant,
      responses: { 201: 'the tenant', 403: 'not an operator', 409: 'code or domain taken' },
      async handler(req, reply, c) {
        requireOperator(c!);
        const { code, domain } = req.body as { code: string; domain: string };
        const t = await g.provisioning.addTenant(code, domain).catch((e: unknown) => {
          if (e instanceof SipedgeError && e.code === 'SIPEDGE_ERR_CLI_USAGE') {
            throw new ApiError(400, 'SIPEDGE_ERR_API_INVALID', e.message, { field: e.message.startsWith('domain') ? 'domain' : 'code' });
          }
          throw e;
        });
        g.log('gateway.admin.tenant_added', { by: `${c!.ref.ext}@${c!.ref.tenant}`, tenant: code });
        reply.code(201);
        return { code: t.code, domain: t.domain, createdAt: new Date(t.createdAt).toISOString() };
      },
    },
    {
      method: 'GET',
      url: '/api/admin/tenants/:tenant',
      summary: 'one tenant',
      tag: 'admin',
      auth: 'session',
      params: params.tenant,
      responses: { 200: 'the tenant', 403: 'not your tenant', 404: 'unknown' },
      async handler(req, _reply, c) {
        const code = tenantOf(req.params);
        requireTenantAdmin(c!, code);
        const t = await g.stores.accounts.getTenant(code);
        if (!t) throw notFound(`tenant ${code}`);
        return { code: t.code, domain: t.domain, createdAt: new Date(t.createdAt).toISOString() };
      },
    },
    {
      method: 'DELETE',
      url: '/api/admin/tenants/:tenant',
      summary: 'delete a tenant without extensions (operators)',
      tag: 'admin',
      auth: 'session',
      params: params.tenant,
      responses: { 204: 'deleted', 403: 'not an operator', 404: 'unknown', 409: 'it still has extensions' },
      async handler(req, _reply, c) {
        requireOperator(c!);
        const code = tenantOf(req.params);
        if (!(await g.stores.accounts.removeTenant(code))) throw notFound(`tenant ${code}`);
        g.log('gateway.admin.tenant_removed', { by: `${c!.ref.ext}@${c!.ref.tenant}`, tenant: code });
        return undefined;
      },
    },
    {
      method: 'GET',
      url: '/api/admin/tenants/:tenant/extensions',
      summary: 'the tenant\'s extensions',
      tag: 'admin',
      auth: 'session',
      params: params.tenant,
      responses: { 200: '{ extensions: [...] }', 403: 'not your tenant', 404: 'unknown tenant' },
      async handler(req, _reply, c) {
        const code = tenantOf(req.params);
        requireTenantAdmin(c!, code);
        if (!(await g.stores.accounts.getTenant(code))) throw notFound(`tenant ${code}`);
        const list = await g.stores.accounts.listExtensions(code);
        return { extensions: await Promise.all(list.map((e) => extensionView(g, { tenant: code, ext: e.ext }))) };
      },
    },
    {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions',
      summary: 'create an extension; its VoIP password comes back once (with QR) or as a provisioning token',
      tag: 'admin',
      auth: 'session',
      params: params.tenant,
      body: bodies.createExtension,
      responses: { 201: '{ extension, voipPassword, provisioning } or { extension, provisioningToken }', 400: 'policy', 403: 'not your tenant', 409: 'exists' },
      async handler(req, reply, c) {
        const tenant = tenantOf(req.params);
        requireTenantAdmin(c!, tenant);
        const b = req.body as { ext: string; email?: string; loginPassword?: string; role?: LoginRole; delivery?: 'response' | 'token' };
        requireGrantable(c!, b.role);
        if (b.loginPassword !== undefined) {
          const violations = checkPassword(b.loginPassword, g.accounts.presetFor(tenant));
          if (violations.length > 0) throw policyError(violations, 'loginPassword');
        }
        const ref = { tenant, ext: b.ext };
        const { password } = await g.provisioning.addExtension(ref, { email: b.email });
        if (b.loginPassword !== undefined) await g.accounts.setPassword(ref, b.loginPassword);
        if (b.role !== undefined && b.role !== 'user') await g.accounts.setRole(ref, b.role);
        g.log('gateway.admin.extension_added', { by: `${c!.ref.ext}@${c!.ref.tenant}`, extension: `${b.ext}@${tenant}` });
        reply.code(201);
        return { extension: await extensionView(g, ref), ...(await deliverVoipPassword(g, ref, password, b.delivery ?? 'response')) };
      },
    },
    {
      method: 'GET',
      url: '/api/admin/tenants/:tenant/extensions/:ext',
      summary: 'one extension (never a password): email, role, 2FA, lock, registrations',
      tag: 'admin',
      auth: 'session',
      params: params.extension,
      responses: { 200: 'the extension', 403: 'not your tenant', 404: 'unknown' },
      async handler(req, _reply, c) {
        const ref = refOf(req.params);
        requireTenantAdmin(c!, ref.tenant);
        return extensionView(g, ref);
      },
    },
    {
      method: 'PATCH',
      url: '/api/admin/tenants/:tenant/extensions/:ext',
      summary: 'set the email (null removes it) and/or the role',
      tag: 'admin',
      auth: 'session',
      params: params.extension,
      body: bodies.patchExtension,
      responses: { 200: 'the extension', 403: 'not your tenant / operator role', 404: 'unknown' },
      async handler(req, _reply, c) {
        const ref = refOf(req.params);
        requireTenantAdmin(c!, ref.tenant);
        const b = req.body as { email?: string | null; role?: LoginRole };
        await requireManageable(g, c!, ref);
        requireGrantable(c!, b.role);
        const e = await g.stores.accounts.getExtension(ref.tenant, ref.ext);
        if (!e) throw notFound(`extension ${ref.ext}@${ref.tenant}`);
        if (b.email !== undefined) {
          const next = { ...e, updatedAt: g.now() };
          if (b.email === null) delete next.email;
          else next.email = b.email;
          await g.stores.accounts.putExtensions([next]);
        }
        if (b.role !== undefined) await g.accounts.setRole(ref, b.role);
        g.log('gateway.admin.extension_changed', { by: `${c!.ref.ext}@${c!.ref.tenant}`, extension: `${ref.ext}@${ref.tenant}` });
        return extensionView(g, ref);
      },
    },
    {
      method: 'DELETE',
      url: '/api/admin/tenants/:tenant/extensions/:ext',
      summary: 'delete an extension, its login and its registrations',
      tag: 'admin',
      auth: 'session',
      params: params.extension,
      responses: { 204: 'deleted', 403: 'not your tenant', 404: 'unknown' },
      async handler(req, _reply, c) {
        const ref = refOf(req.params);
        requireTenantAdmin(c!, ref.tenant);
        await requireManageable(g, c!, ref);
        if (!(await g.stores.accounts.removeExtension(ref.tenant, ref.ext))) throw notFound(`extension ${ref.ext}@${ref.tenant}`);
        await g.stores.logins.remove(ref.tenant, ref.ext);
        await g.stores.bindings.removeAll(`${ref.ext}@${ref.tenant}`);
        g.log('gateway.admin.extension_removed', { by: `${c!.ref.ext}@${c!.ref.tenant}`, extension: `${ref.ext}@${ref.tenant}` });
        return undefined;
      },
    },
    {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/unlock',
      summary: 'clear the SIP lockout of the extension (as `sipedge ext unlock`)',
      tag: 'admin',
      auth: 'session',
      params: params.extension,
      responses: { 204: 'unlocked', 403: 'not your tenant', 404: 'unknown' },
      async handler(req, _reply, c) {
        const ref = refOf(req.params);
        requireTenantAdmin(c!, ref.tenant);
        await g.provisioning.unlock(ref);
        g.log('gateway.admin.unlocked', { by: `${c!.ref.ext}@${c!.ref.tenant}`, extension: `${ref.ext}@${ref.tenant}` });
        return undefined;
      },
    },
    {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/login-password',
      summary: 'set (or, without a body, generate) the login password; ends the extension\'s sessions',
      tag: 'admin',
      auth: 'session',
      params: params.extension,
      body: bodies.adminLoginPassword,
      responses: { 200: '{ password } when generated', 204: 'set', 400: 'policy', 403: 'not your tenant', 404: 'unknown' },
      async handler(req, _reply, c) {
        const ref = refOf(req.params);
        requireTenantAdmin(c!, ref.tenant);
        await requireManageable(g, c!, ref);
        const out = await g.accounts.setPassword(ref, (req.body as { password?: string }).password);
        if (!out.ok) throw policyError(out.violations, 'password');
        g.log('gateway.admin.login_password', { by: `${c!.ref.ext}@${c!.ref.tenant}`, extension: `${ref.ext}@${ref.tenant}` });
        return out.generated !== undefined ? { password: out.generated } : undefined;
      },
    },
    {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/reset-2fa',
      summary: 'turn 2FA off for an extension that lost its authenticator',
      tag: 'admin',
      auth: 'session',
      params: params.extension,
      responses: { 204: 'reset', 403: 'not your tenant', 404: 'unknown' },
      async handler(req, _reply, c) {
        const ref = refOf(req.params);
        requireTenantAdmin(c!, ref.tenant);
        await requireManageable(g, c!, ref);
        await g.accounts.resetTotp(ref);
        g.log('gateway.admin.2fa_reset', { by: `${c!.ref.ext}@${c!.ref.tenant}`, extension: `${ref.ext}@${ref.tenant}` });
        return undefined;
      },
    },
    {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/sip-password',
      summary: 'regenerate the VoIP password (grace, drop-bindings); returned once with QR, or as a provisioning token',
      tag: 'admin',
      auth: 'session',
      params: params.extension,
      body: bodies.adminSipPassword,
      responses: { 200: '{ settings, voipPassword, provisioning } or { settings, provisioningToken }', 403: 'not your tenant', 404: 'unknown' },
      async handler(req, _reply, c) {
        const ref = refOf(req.params);
        requireTenantAdmin(c!, ref.tenant);
        await requireManageable(g, c!, ref);
        const { graceSeconds = 0, dropBindings = false, delivery = 'response' } = req.body as {
          graceSeconds?: number;
          dropBindings?: boolean;
          delivery?: 'response' | 'token';
        };
        const { password } = await g.provisioning.rotate(ref, { graceMs: graceSeconds * 1000, dropBindings });
        g.log('gateway.admin.voip_rotated', { by: `${c!.ref.ext}@${c!.ref.tenant}`, extension: `${ref.ext}@${ref.tenant}` });
        return deliverVoipPassword(g, ref, password, delivery);
      },
    },
  ];
}


