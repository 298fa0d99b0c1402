// Session and account routes: login (password, then TOTP when 2FA is on), logout, me, change/forgot/reset
// password, 2FA setup/activate/disable. Rate limits are login-limit.ts's; hashing and policy live in auth/.
import type { FastifyRequest } from 'fastify';
import { newToken, tokenId } from '../auth/login-token.ts';
import type { ExtensionRef } from '../auth/provisioning.ts';
import type { LoginRecord } from '../store/types.ts';
import { ApiError } from '../errors.ts';
import { rateLimited } from './api-error.ts';
import type { Caller, GatewayServices, RouteSpec } from './route-spec.ts';
import { bodies, replies } from './schemas.ts';
import { qrCodes } from './voip-settings.ts';

/** Reset mails per account and hour (further requests still answer 202 but send nothing). */
const RESET_MAILS_PER_HOUR = 5;

const loginFailed = (): ApiError => new ApiError(401, 'SIPEDGE_ERR_API_LOGIN_FAILED', 'wrong username or password');

/** The key failures count on: the extension when the username names one, else the name as typed (lower-cased). */
const limitKey = (ref: ExtensionRef | undefined, username: string): string =>
  ref ? `${ref.ext}@${ref.tenant}` : `?${username.trim().toLowerCase()}`;

/**
 * The extension a login name means: "ext-tenant" (the first '-' separates: extensions never contain one) or an
 * email that exactly one extension has. undefined when it names none (or an ambiguous email).
 */
async function resolveUsername(g: GatewayServices, username: string): Promise<ExtensionRef | undefined> {
  const name = username.trim();
  if (name.includes('@')) {
    const found = await g.stores.accounts.findExtensionsByEmail(name);
    return found.length === 1 ? { tenant: found[0]!.tenant, ext: found[0]!.ext } : undefined;
  }
  const dash = name.indexOf('-');
  if (dash <= 0 || dash === name.length - 1) return undefined;
  const ref = { ext: name.slice(0, dash), tenant: name.slice(dash + 1).toLowerCase() };
  return (await g.stores.accounts.getExtension(ref.tenant, ref.ext)) ? ref : undefined;
}

async function meView(g: GatewayServices, c: Caller): Promise<Record<string, unknown>> {
  const [e, t] = await Promise.all([g.stores.accounts.getExtension(c.ref.tenant, c.ref.ext), g.stores.accounts.getTenant(c.ref.tenant)]);
  return {
    extension: c.ref.ext,
    tenant: c.ref.tenant,
    username: `${c.ref.ext}-${c.ref.tenant}`,
    domain: t?.domain,
    email: e?.email ?? null,
    role: c.login.role,
    twoFactorEnabled: c.login.totpActive,
    passwordPolicy: g.accounts.presetFor(c.ref.tenant),
    csrfToken: c.session.csrf,
    sessionExpiresAt: new Date(c.session.expiresAt).toISOString(),
  };
}

const ip = (req: FastifyRequest): string => req.ip;
const aad = (l: LoginRecord): string => `totp:${l.tenant}/${l.ext}`;

/** The TOTP step `code` proves for `login` right now, used up atomically; undefined when wrong or replayed. */
async function useTotpCode(g: GatewayServices, login: LoginRecord, code: string): Promise<number | undefined> {
  if (login.totpSecret === undefined) return undefined;
  const secret = g.box.open(login.totpSecret, aad(login));
  if (secret === undefined) {
    // Sealed with another key (gateway.encryptionKey changed?) or damaged: the user needs an operator 2FA reset.
    g.logError('gateway.totp.unsealable', { user: `${login.ext}@${login.tenant}` });
    return undefined;
  }
  const last = await g.stores.logins.lastTotpStep(login.tenant, login.ext);
  const step = await g.totp.check(secret, code, last);
  if (step === undefined) return undefined;
  return (await g.stores.logins.useTotpStep(login.tenant, login.ext, step)) ? step : undefined;
}

export function loginRoutes(g: GatewayServices): RouteSpec[] {
  return [
    {
      method: 'POST',
      url: '/api/login',
      operationId: 'login',
      summary: 'log in with extension-tenant (or email) and the login password; with 2FA on, a TOTP step follows',
      tag: 'session',
      auth: 'none',
      body: bodies.login,
      responses: { 200: replies.login, 401: 'wrong username or password (SIPEDGE_ERR_API_LOGIN_FAILED)', 429: 'too many failures (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)' },
      async handler(req, reply) {
        const { username, password } = req.body as { username: string; password: string };
        const ref = await resolveUsername(g, username);
        const key = limitKey(ref, username);
        const wait = await g.limiter.retryAfter(key, ip(req));
        if (wait > 0) {
          g.metrics.login('rate_limited');
          throw rateLimited(wait);
        }
        const login = ref ? await g.stores.logins.get(ref.tenant, ref.ext) : undefined;
        // Unknown users verify against a dummy hash of the same cost: one answer, in equal time.
        const ok = await g.hasher.verify(login?.passwordHash, password);
        if (!ok || login === undefined) {
          await g.limiter.fail(key, ip(req));
          g.metrics.login('bad_credentials');
          g.log('gateway.login.failed', { user: ref ? `${ref.ext}@${ref.tenant}` : undefined, ip: ip(req) });
          throw loginFailed();
        }
        await g.limiter.succeed(key);
        if (g.hasher.needsRehash(login.passwordHash!)) {
          // The configured cost changed since this hash was made: upgrade it now that we know the password.
          await g.stores.logins.put({ ...login, passwordHash: await g.hasher.hash(password), updatedAt: g.now() });
        }
        if (login.totpActive) {
          const csrfToken = await g.startSession(req, reply, login, true);
          g.metrics.login('totp_due');
          g.log('gateway.login.password_ok', { user: `${login.ext}@${login.tenant}`, ip: ip(req) });
          return { twoFactorRequired: true, csrfToken };
        }
        const csrfToken = await g.startSession(req, reply, login, false);
        g.metrics.login('ok');
        g.log('gateway.login.ok', { user: `${login.ext}@${login.tenant}`, ip: ip(req) });
        return { twoFactorRequired: false, csrfToken };
      },
    },
    {
      method: 'POST',
      url: '/api/login/totp',
      operationId: 'loginTotp',
      summary: 'second login step: the TOTP code (needs the pending session of step one and its CSRF token)',
      tag: 'session',
      auth: 'pending',
      body: bodies.totpCode,
      responses: {
        200: replies.login,
        401: 'wrong or reused code (SIPEDGE_ERR_API_TOTP_INVALID)',
        429: 'too many failures (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)',
      },
      async handler(req, reply, caller) {
        const key = limitKey(caller.ref, '');
        await g.limiter.assertOpen(key, ip(req));
        const step = await useTotpCode(g, caller.login, (req.body as { code: string }).code);
        if (step === undefined) {
          await g.limiter.fail(key, ip(req));
          g.metrics.login('bad_totp');
          g.log('gateway.login.totp_failed', { user: key, ip: ip(req) });
          throw new ApiError(401, 'SIPEDGE_ERR_API_TOTP_INVALID', 'wrong or already used code');
        }
        // A new session id for the full login (the pending one is discarded: no fixation).
        await g.stores.sessions.delete(caller.sessionId);
        const csrfToken = await g.startSession(req, reply, caller.login, false);
        g.metrics.login('ok');
        g.log('gateway.login.ok', { user: key, ip: ip(req), twoFactor: true });
        return { twoFactorRequired: false, csrfToken };
      },
    },
    {
      method: 'POST',
      url: '/api/logout',
      operationId: 'logout',
      summary: 'end this session (server-side) and clear the cookie',
      tag: 'session',
      auth: 'session',
      responses: { 204: replies.noContent('logged out; the cookie is cleared') },
      async handler(_req, reply, c) {
        await g.endSession(reply, c.sessionId);
        g.log('gateway.logout', { user: `${c.ref.ext}@${c.ref.tenant}` });
        return undefined;
      },
    },
    {
      method: 'GET',
      url: '/api/me',
      operationId: 'getMe',
      summary: 'the logged-in extension, its role, 2FA state and the session\'s CSRF token',
      tag: 'session',
      auth: 'session',
      responses: { 200: replies.me },
      handler: async (_req, _reply, c) => meView(g, c),
    },
    {
      method: 'POST',
      url: '/api/password',
      operationId: 'changePassword',
      summary: 'change the login password (current + new); other sessions end, this one continues',
      tag: 'account',
      auth: 'session',
      body: bodies.changePassword,
      responses: {
        200: replies.csrf('changed; this session is renewed (new cookie), the others are ended'),
        400: 'the new password breaks the policy (SIPEDGE_ERR_API_PASSWORD_POLICY, violations)',
        403: 'the current password is wrong (SIPEDGE_ERR_API_LOGIN_FAILED)',
        429: 'too many failures (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)',
      },
      async handler(req, reply, caller) {
        const { currentPassword, newPassword } = req.body as { currentPassword: string; newPassword: string };
        const key = limitKey(caller.ref, '');
        await g.limiter.assertOpen(key, ip(req));
        if (!(await g.hasher.verify(caller.login.passwordHash, currentPassword))) {
          await g.limiter.fail(key, ip(req));
          throw new ApiError(403, 'SIPEDGE_ERR_API_LOGIN_FAILED', 'the current password is wrong', { field: 'currentPassword' });
        }
        const out = await g.accounts.setPassword(caller.ref, newPassword);
        if (!out.ok) throw policyError(out.violations);
        await g.stores.sessions.delete(caller.sessionId);
        const csrfToken = await g.startSession(req, reply, out.record, false);
        g.metrics.event('password_changed');
        g.log('gateway.password.changed', { user: key });
        return { csrfToken };
      },
    },
    {
      method: 'POST',
      url: '/api/password/forgot',
      operationId: 'forgotPassword',
      summary: 'mail a single-use reset link (valid 1 h) to the extension\'s email; always the same answer',
      tag: 'account',
      auth: 'none',
      body: bodies.forgotPassword,
      responses: { 202: replies.accepted, 429: 'too many failures from this IP (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)' },
      async handler(req, reply) {
        await g.limiter.assertOpen(undefined, ip(req));
        const { username } = req.body as { username: string };
        // The work (lookup, token, mail) runs after the answer, so neither content nor timing tells whether it exists.
        g.background('password-reset-mail', () => sendResetMail(g, username));
        reply.code(202);
        return { status: 'accepted', message: 'if the account exists and has an email address, a reset link is on its way' };
      },
    },
    {
      method: 'POST',
      url: '/api/password/reset',
      operationId: 'resetPassword',
      summary: 'set a new login password with the token from the reset link (single use); ends every session',
      tag: 'account',
      auth: 'none',
      body: bodies.resetPassword,
      responses: {
        204: replies.noContent('password set; every session of the extension ended'),
        400: 'the token is invalid, expired or used (SIPEDGE_ERR_API_TOKEN_INVALID), or the password breaks the policy (SIPEDGE_ERR_API_PASSWORD_POLICY; the token is kept)',
        429: 'too many failures from this IP (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)',
      },
      async handler(req) {
        await g.limiter.assertOpen(undefined, ip(req));
        const { token, newPassword } = req.body as { token: string; newPassword: string };
        const id = `reset:${tokenId(token)}`;
        const raw = await g.stores.tokens.take(id, g.now());
        const bad = new ApiError(400, 'SIPEDGE_ERR_API_TOKEN_INVALID', 'the reset link is invalid, expired or already used', { field: 'token' });
        if (raw === undefined) {
          await g.limiter.fail(undefined, ip(req));
          throw bad;
        }
        const v = JSON.parse(raw) as { tenant: string; ext: string; epoch: number; expiresAt: number };
        const login = await g.stores.logins.get(v.tenant, v.ext);
        if (login === undefined || login.sessionEpoch !== v.epoch) throw bad;
        const out = await g.accounts.setPassword(v, newPassword);
        if (!out.ok) {
          // Not the user's fault that the link was spent on a weak password: give the token back.
          await g.stores.tokens.put(id, raw, v.expiresAt);
          throw policyError(out.violations);
        }
        await g.limiter.succeed(limitKey(v, ''));
        g.metrics.event('password_reset');
        g.log('gateway.password.reset', { user: `${v.ext}@${v.tenant}` });
        return undefined;
      },
    },
    {
      method: 'POST',
      url: '/api/2fa/setup',
      operationId: 'setupTotp',
      summary: 'start TOTP setup: a new secret as otpauth URI and QR code (SVG, PNG data URL); activate with a code',
      tag: '2fa',
      auth: 'session',
      responses: { 200: replies.totpSetup, 409: '2FA is already active (SIPEDGE_ERR_API_CONFLICT)' },
      async handler(_req, _reply, caller) {
        if (caller.login.totpActive) throw new ApiError(409, 'SIPEDGE_ERR_API_CONFLICT', '2FA is already active; disable it first');
        const secret = g.totp.newSecret();
        await g.stores.logins.put({ ...caller.login, totpSecret: g.box.seal(secret, aad(caller.login)), totpActive: false, updatedAt: g.now() });
        const otpauthUri = g.totp.uri(secret, `${caller.ref.ext}-${caller.ref.tenant}`);
        g.log('gateway.2fa.setup', { user: `${caller.ref.ext}@${caller.ref.tenant}` });
        return { secret, otpauthUri, ...(await qrCodes(otpauthUri)) };
      },
    },
    {
      method: 'POST',
      url: '/api/2fa/activate',
      operationId: 'activateTotp',
      summary: 'activate 2FA with a current code from the app; from then on login needs a code',
      tag: '2fa',
      auth: 'session',
      body: bodies.totpCode,
      responses: {
        204: replies.noContent('2FA is on'),
        400: 'wrong or already used code (SIPEDGE_ERR_API_TOTP_INVALID)',
        409: 'no setup pending, or already active (SIPEDGE_ERR_API_CONFLICT)',
      },
      async handler(req, _reply, caller) {
        if (caller.login.totpActive || caller.login.totpSecret === undefined) {
          throw new ApiError(409, 'SIPEDGE_ERR_API_CONFLICT', caller.login.totpActive ? '2FA is already active' : 'start with POST /api/2fa/setup');
        }
        if ((await useTotpCode(g, caller.login, (req.body as { code: string }).code)) === undefined) {
          throw new ApiError(400, 'SIPEDGE_ERR_API_TOTP_INVALID', 'wrong or already used code', { field: 'code' });
        }
        await g.stores.logins.put({ ...caller.login, totpActive: true, updatedAt: g.now() });
        g.metrics.event('totp_activated');
        g.log('gateway.2fa.activated', { user: `${caller.ref.ext}@${caller.ref.tenant}` });
        return undefined;
      },
    },
    {
      method: 'POST',
      url: '/api/2fa/disable',
      operationId: 'disableTotp',
      summary: 'turn 2FA off; needs the login password and a current code',
      tag: '2fa',
      auth: 'session',
      body: bodies.disableTotp,
      responses: {
        204: replies.noContent('2FA is off'),
        403: 'wrong password (SIPEDGE_ERR_API_LOGIN_FAILED) or code (SIPEDGE_ERR_API_TOTP_INVALID)',
        409: '2FA is not active (SIPEDGE_ERR_API_CONFLICT)',
        429: 'too many failures (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)',
      },
      async handler(req, _reply, caller) {
        const { password, code } = req.body as { password: string; code: string };
        if (!caller.login.totpActive) throw new ApiError(409, 'SIPEDGE_ERR_API_CONFLICT', '2FA is not active');
        const key = limitKey(caller.ref, '');
        await g.limiter.assertOpen(key, ip(req));
        const pwOk = await g.hasher.verify(caller.login.passwordHash, password);
        const codeOk = pwOk && (await useTotpCode(g, caller.login, code)) !== undefined;
        if (!codeOk) {
          await g.limiter.fail(key, ip(req));
          throw new ApiError(403, pwOk ? 'SIPEDGE_ERR_API_TOTP_INVALID' : 'SIPEDGE_ERR_API_LOGIN_FAILED', pwOk ? 'wrong or already used code' : 'the password is wrong');
        }
        const next: LoginRecord = { ...caller.login, totpActive: false, updatedAt: g.now() };
        delete next.totpSecret;
        await g.stores.logins.put(next);
        g.metrics.event('totp_disabled');
        g.log('gateway.2fa.disabled', { user: key });
        return undefined;
      },
    },
  ];
}

export function policyError(violations: { rule: string; message: string }[], field = 'newPassword'): ApiError {
  return new ApiError(400, 'SIPEDGE_ERR_API_PASSWORD_POLICY', `the password ${violations.map((v) => v.message).join('; ')}`, {
    field,
    violations,
  });
}

async function sendResetMail(g: GatewayServices, username: string): Promise<void> {
  const ref = await resolveUsername(g, username);
  if (ref === undefined) return;
  const e = await g.stores.accounts.getExtension(ref.tenant, ref.ext);
  const login = await g.stores.logins.get(ref.tenant, ref.ext);
  if (!e?.email || login?.passwordHash === undefined) return;
  // At most RESET_MAILS_PER_HOUR mails per account and hour: the form cannot be used to flood a mailbox.
  const throttleKey = `gw-reset-mail:${ref.ext}@${ref.tenant}`;
  if ((await g.stores.lockouts.lockedUntil(throttleKey, g.now())) > 0) {
    g.log('gateway.password.reset_mail_throttled', { user: `${ref.ext}@${ref.tenant}` });
    return;
  }
  await g.stores.lockouts.recordFailure(throttleKey, g.now(), { maxFailures: RESET_MAILS_PER_HOUR, windowMs: 3_600_000, lockMs: 3_600_000 });
  const token = newToken();
  const expiresAt = g.now() + g.cfg.resetTokenSeconds * 1000;
  await g.stores.tokens.put(`reset:${tokenId(token)}`, JSON.stringify({ tenant: ref.tenant, ext: ref.ext, epoch: login.sessionEpoch, expiresAt }), expiresAt);
  const link = `${g.cfg.publicUrl.replace(/\/+$/, '')}/reset-password?token=${token}`;
  await g.mailer.send({
    to: e.email,
    subject: 'Reset your password',
    text: `Someone asked to reset the login password of ${ref.ext}-${ref.tenant}.\n\nOpen this link within ${Math.round(g.cfg.resetTokenSeconds / 60)} minutes to choose a new one (it works once):\n${link}\n\nReset token: ${token}\n\nIf this was not you, ignore this mail.\n`,
  });
  g.metrics.event('reset_mail_sent');
  g.log('gateway.password.reset_mail', { user: `${ref.ext}@${ref.tenant}` });
}
