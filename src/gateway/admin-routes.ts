// Admin routes for tenant admins (their own tenant) and operators (every tenant): tenants and extensions CRUD,
// email, role, SIP unlock, login-password reset, 2FA reset, VoIP password regeneration. Who may call a route is its
// scope's to check, in adminRoute (the one preamble), before the handler runs.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { checkPassword } from '../auth/password-policy.ts';
import type { ExtensionRef } from '../auth/provisioning.ts';
import type { LoginRole } from '../store/types.ts';
import { ApiError, SipedgeError } from '../errors.ts';
import { forbidden, notFound } from './api-error.ts';
import type { Caller, GatewayServices, RouteSpec, SessionRoute } from './route-spec.ts';
import { policyError } from './login-routes.ts';
import { bodies, params, replies } from './schemas.ts';
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
async function requireManageable(g: GatewayServices, c: Caller, ref: ExtensionRef): Promise<void> {
  if (c.login.role === 'operator') return;
  const target = await g.stores.logins.get(ref.tenant, ref.ext);
  if (target?.role === 'operator') throw forbidden('only operators may change an operator\'s extension');
}

async function extensionView(g: GatewayServices, ref: ExtensionRef): Promise<Record<string, unknown>> {
  const view = await g.provisioning.show(ref, true);
  const login = await g.stores.logins.get(ref.tenant, ref.ext);
  return {
    ...view,
    role: login?.role ?? 'user',
    hasLoginPassword: login?.passwordHash !== undefined,
    twoFactorEnabled: login?.totpActive ?? false,
  };
}

/** An admin request once its preamble passed: who asks, what it is about, and a log line naming both. */
interface Admin<T> {
  caller: Caller;
  /** The tenant code or the extension the route's path names (undefined for routes without one). */
  target: T;
  /** An info event with `by` (the admin's extension) added. */
  log(event: string, fields: Record<string, unknown>): void;
}

/** Who may call an admin route, and what of its path it is about. */
interface Scope<T> {
  params?: SessionRoute['params'];
  check(g: GatewayServices, c: Caller, params: unknown): Promise<T> | T;
}

const anyAdmin: Scope<undefined> = {
  check(_g, c) {
    if (c.login.role === 'user') throw forbidden('the admin API needs the tenant-admin or operator role');
    return undefined;
  },
};
const operator: Scope<undefined> = {
  check(_g, c) {
    requireOperator(c);
    return undefined;
  },
};
const operatorOfTenant: Scope<string> = {
  params: params.tenant,
  check(_g, c, p) {
    requireOperator(c);
    return (p as { tenant: string }).tenant;
  },
};
const tenantAdmin: Scope<string> = {
  params: params.tenant,
  check(_g, c, p) {
    const tenant = (p as { tenant: string }).tenant;
    requireTenantAdmin(c, tenant);
    return tenant;
  },
};
/** The extension the path names, once the caller administers its tenant. */
function adminsExtension(c: Caller, p: unknown): ExtensionRef {
  const ref = p as ExtensionRef;
  requireTenantAdmin(c, ref.tenant);
  return ref;
}
const extensionAdmin: Scope<ExtensionRef> = {
  params: params.extension,
  check: (_g, c, p) => adminsExtension(c, p),
};
/** Changes to an extension: its tenant's admin, and only an operator for an operator's extension. */
const extensionManager: Scope<ExtensionRef> = {
  params: params.extension,
  async check(g, c, p) {
    const ref = adminsExtension(c, p);
    await requireManageable(g, c, ref);
    return ref;
  },
};

/** The one admin preamble: a session route tagged admin whose scope is checked before its handler runs. */
function adminRoute<T>(
  g: GatewayServices,
  scope: Scope<T>,
  r: Omit<SessionRoute, 'auth' | 'tag' | 'params' | 'handler'> & {
    handler(req: FastifyRequest, reply: FastifyReply, a: Admin<T>): Promise<unknown>;
  },
): RouteSpec {
  return {
    ...r,
    auth: 'session',
    tag: 'admin',
    ...(scope.params ? { params: scope.params } : {}),
    async handler(req, reply, caller) {
      const target = await scope.check(g, caller, req.params);
      const by = extensionName(caller.ref);
      return r.handler(req, reply, { caller, target, log: (event, fields) => g.log(event, { by, ...fields }) });
    },
  };
}

const extensionName = (ref: ExtensionRef): string => `${ref.ext}@${ref.tenant}`;
const tenantView = (t: { code: string; domain: string; createdAt: number }): Record<string, unknown> => ({
  code: t.code,
  domain: t.domain,
  createdAt: new Date(t.createdAt).toISOString(),
});

export function adminRoutes(g: GatewayServices): RouteSpec[] {
  return [
    adminRoute(g, anyAdmin, {
      method: 'GET',
      url: '/api/admin/tenants',
      operationId: 'listTenants',
      summary: 'tenants you administer (operators: all)',
      responses: { 200: replies.tenants, 403: 'role user (SIPEDGE_ERR_API_FORBIDDEN)' },
      async handler(_req, _reply, { caller }) {
        const all = await g.stores.accounts.listTenants();
        const mine = caller.login.role === 'operator' ? all : all.filter((t) => t.code === caller.ref.tenant);
        return { tenants: mine.map(tenantView) };
      },
    }),
    adminRoute(g, operator, {
      method: 'POST',
      url: '/api/admin/tenants',
      operationId: 'createTenant',
      summary: 'create a tenant (operators)',
      body: bodies.createTenant,
      responses: { 201: replies.tenant('the new tenant'), 403: 'not an operator (SIPEDGE_ERR_API_FORBIDDEN)', 409: 'the code or domain is taken (SIPEDGE_ERR_API_CONFLICT)' },
      async handler(req, reply, a) {
        const { code, domain } = req.body as { code: string; domain: string };
        const t = await g.provisioning.addTenant(code, domain).catch((e: unknown) => {
          if (e instanceof SipedgeError && e.code === 'SIPEDGE_ERR_CLI_USAGE') {
            throw new ApiError(400, 'SIPEDGE_ERR_API_INVALID', e.message, { field: e.message.startsWith('domain') ? 'domain' : 'code' });
          }
          throw e;
        });
        a.log('gateway.admin.tenant_added', { tenant: code });
        reply.code(201);
        return tenantView(t);
      },
    }),
    adminRoute(g, tenantAdmin, {
      method: 'GET',
      url: '/api/admin/tenants/:tenant',
      operationId: 'getTenant',
      summary: 'one tenant',
      responses: { 200: replies.tenant('the tenant'), 403: 'not your tenant (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(_req, _reply, { target: code }) {
        const t = await g.stores.accounts.getTenant(code);
        if (!t) throw notFound(`tenant ${code}`);
        return tenantView(t);
      },
    }),
    adminRoute(g, operatorOfTenant, {
      method: 'DELETE',
      url: '/api/admin/tenants/:tenant',
      operationId: 'deleteTenant',
      summary: 'delete a tenant without extensions (operators)',
      responses: { 204: replies.noContent('deleted'), 403: 'not an operator (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant (SIPEDGE_ERR_API_NOT_FOUND)', 409: 'it still has extensions (SIPEDGE_ERR_API_CONFLICT)' },
      async handler(_req, _reply, a) {
        if (!(await g.stores.accounts.removeTenant(a.target))) throw notFound(`tenant ${a.target}`);
        a.log('gateway.admin.tenant_removed', { tenant: a.target });
        return undefined;
      },
    }),
    adminRoute(g, tenantAdmin, {
      method: 'GET',
      url: '/api/admin/tenants/:tenant/extensions',
      operationId: 'listExtensions',
      summary: 'the tenant\'s extensions',
      responses: { 200: replies.extensions, 403: 'not your tenant (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(_req, _reply, { target: code }) {
        if (!(await g.stores.accounts.getTenant(code))) throw notFound(`tenant ${code}`);
        const list = await g.stores.accounts.listExtensions(code);
        return { extensions: await Promise.all(list.map((e) => extensionView(g, { tenant: code, ext: e.ext }))) };
      },
    }),
    adminRoute(g, tenantAdmin, {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions',
      operationId: 'createExtension',
      summary: 'create an extension; its VoIP password comes back once (with QR) or as a provisioning token',
      body: bodies.createExtension,
      responses: {
        201: replies.createdExtension,
        400: 'the login password breaks the policy (SIPEDGE_ERR_API_PASSWORD_POLICY, violations)',
        403: 'not your tenant, or granting operator without being one (SIPEDGE_ERR_API_FORBIDDEN)',
        404: 'unknown tenant (SIPEDGE_ERR_API_NOT_FOUND)',
        409: 'the extension exists (SIPEDGE_ERR_API_CONFLICT)',
      },
      async handler(req, reply, a) {
        const tenant = a.target;
        const b = req.body as { ext: string; email?: string; loginPassword?: string; role?: LoginRole; delivery?: 'response' | 'token' };
        requireGrantable(a.caller, b.role);
        if (b.loginPassword !== undefined) {
          const violations = checkPassword(b.loginPassword, g.accounts.presetFor(tenant));
          if (violations.length > 0) throw policyError(violations, 'loginPassword');
        }
        const ref = { tenant, ext: b.ext };
        const { password } = await g.provisioning.addExtension(ref, { email: b.email });
        if (b.loginPassword !== undefined) await g.accounts.setPassword(ref, b.loginPassword);
        if (b.role !== undefined && b.role !== 'user') await g.accounts.setRole(ref, b.role);
        a.log('gateway.admin.extension_added', { extension: extensionName(ref) });
        reply.code(201);
        return { extension: await extensionView(g, ref), ...(await deliverVoipPassword(g, ref, password, b.delivery ?? 'response')) };
      },
    }),
    adminRoute(g, extensionAdmin, {
      method: 'GET',
      url: '/api/admin/tenants/:tenant/extensions/:ext',
      operationId: 'getExtension',
      summary: 'one extension (never a password): email, role, 2FA, lock, registrations',
      responses: { 200: replies.extension('the extension'), 403: 'not your tenant (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant or extension (SIPEDGE_ERR_API_NOT_FOUND)' },
      handler: async (_req, _reply, { target: ref }) => extensionView(g, ref),
    }),
    adminRoute(g, extensionManager, {
      method: 'PATCH',
      url: '/api/admin/tenants/:tenant/extensions/:ext',
      operationId: 'updateExtension',
      summary: 'set the email (null removes it) and/or the role',
      body: bodies.patchExtension,
      responses: { 200: replies.extension('the extension as changed'), 403: 'not your tenant, or an operator\'s extension and you are not one (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant or extension (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(req, _reply, a) {
        const ref = a.target;
        const b = req.body as { email?: string | null; role?: LoginRole };
        requireGrantable(a.caller, b.role);
        const e = await g.stores.accounts.getExtension(ref.tenant, ref.ext);
        if (!e) throw notFound(`extension ${extensionName(ref)}`);
        if (b.email !== undefined) {
          const next = { ...e, updatedAt: g.now() };
          if (b.email === null) delete next.email;
          else next.email = b.email;
          await g.stores.accounts.putExtensions([next]);
        }
        if (b.role !== undefined) await g.accounts.setRole(ref, b.role);
        a.log('gateway.admin.extension_changed', { extension: extensionName(ref) });
        return extensionView(g, ref);
      },
    }),
    adminRoute(g, extensionManager, {
      method: 'DELETE',
      url: '/api/admin/tenants/:tenant/extensions/:ext',
      operationId: 'deleteExtension',
      summary: 'delete an extension, its login and its registrations',
      responses: { 204: replies.noContent('deleted, with its login and registrations'), 403: 'not your tenant, or an operator\'s extension and you are not one (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant or extension (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(_req, _reply, a) {
        const ref = a.target;
        if (!(await g.stores.accounts.removeExtension(ref.tenant, ref.ext))) throw notFound(`extension ${extensionName(ref)}`);
        await g.stores.logins.remove(ref.tenant, ref.ext);
        await g.stores.bindings.removeAll(extensionName(ref));
        a.log('gateway.admin.extension_removed', { extension: extensionName(ref) });
        return undefined;
      },
    }),
    adminRoute(g, extensionAdmin, {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/unlock',
      operationId: 'unlockExtension',
      summary: 'clear the SIP lockout of the extension (as `sipedge ext unlock`)',
      responses: { 204: replies.noContent('unlocked'), 403: 'not your tenant (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant or extension (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(_req, _reply, a) {
        await g.provisioning.unlock(a.target);
        a.log('gateway.admin.unlocked', { extension: extensionName(a.target) });
        return undefined;
      },
    }),
    adminRoute(g, extensionManager, {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/login-password',
      operationId: 'setLoginPassword',
      summary: 'set (or, without a body, generate) the login password; ends the extension\'s sessions',
      body: bodies.adminLoginPassword,
      responses: { 200: replies.generatedPassword, 204: replies.noContent('set to the password sent'), 400: 'the password breaks the policy (SIPEDGE_ERR_API_PASSWORD_POLICY, violations)', 403: 'not your tenant, or an operator\'s extension and you are not one (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant or extension (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(req, _reply, a) {
        const out = await g.accounts.setPassword(a.target, (req.body as { password?: string }).password);
        if (!out.ok) throw policyError(out.violations, 'password');
        a.log('gateway.admin.login_password', { extension: extensionName(a.target) });
        return out.generated !== undefined ? { password: out.generated } : undefined;
      },
    }),
    adminRoute(g, extensionManager, {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/reset-2fa',
      operationId: 'resetTwoFactor',
      summary: 'turn 2FA off for an extension that lost its authenticator',
      responses: { 204: replies.noContent('2FA is off'), 403: 'not your tenant, or an operator\'s extension and you are not one (SIPEDGE_ERR_API_FORBIDDEN)', 404: 'unknown tenant or extension (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(_req, _reply, a) {
        await g.accounts.resetTotp(a.target);
        a.log('gateway.admin.2fa_reset', { extension: extensionName(a.target) });
        return undefined;
      },
    }),
    adminRoute(g, extensionManager, {
      method: 'POST',
      url: '/api/admin/tenants/:tenant/extensions/:ext/sip-password',
      operationId: 'rotateExtensionVoipPassword',
      summary: 'regenerate the VoIP password (grace, drop-bindings); returned once with QR, or as a provisioning token',
      body: bodies.adminSipPassword,
      responses: {
        200: replies.voipPassword('the new VoIP password with its QR codes (delivery "response"), or a provisioning token (delivery "token")'),
        403: 'not your tenant, or an operator\'s extension and you are not one (SIPEDGE_ERR_API_FORBIDDEN)',
        404: 'unknown tenant or extension (SIPEDGE_ERR_API_NOT_FOUND)',
      },
      async handler(req, _reply, a) {
        const { graceSeconds = 0, dropBindings = false, delivery = 'response' } = req.body as {
          graceSeconds?: number;
          dropBindings?: boolean;
          delivery?: 'response' | 'token';
        };
        const { password } = await g.provisioning.rotate(a.target, { graceMs: graceSeconds * 1000, dropBindings });
        a.log('gateway.admin.voip_rotated', { extension: extensionName(a.target) });
        return deliverVoipPassword(g, a.target, password, delivery);
      },
    }),
  ];
}
