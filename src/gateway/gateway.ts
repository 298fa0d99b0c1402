// The auth gateway's HTTP API on the shared fastify server: its services (route-spec.ts's GatewayServices), the route
// table (each route's schema, openapi.ts routeSchema, is what @fastify/swagger publishes), sessions with cookie + CSRF,
// and the one error handler. Handlers live in *-routes.ts.
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import path from 'node:path';
import type { Clock } from '../clock.ts';
import { ApiError, SipedgeError, STORE_RETRY_AFTER_SECONDS, StoreUnavailable, type ApiErrorCode } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { LoginAccounts } from '../auth/login-accounts.ts';
import { LoginHasher } from '../auth/login-password.ts';
import { newToken, safeEqual, tokenId } from '../auth/login-token.ts';
import { Provisioning } from '../auth/provisioning.ts';
import { SecretBox } from '../auth/secret-box.ts';
import { Totp } from '../auth/totp.ts';
import type { LoginRecord, LoginRole, Stores } from '../store/types.ts';
import { adminRoutes } from './admin-routes.ts';
import { LoginLimiter } from './login-limit.ts';
import { loginRoutes } from './login-routes.ts';
import { Mailer } from './mailer.ts';
import { routeSchema } from './openapi.ts';
import type { Caller, GatewayServices, RouteSpec } from './route-spec.ts';
import { edgeHost, type SipPorts } from './voip-settings.ts';
import { voipRoutes } from './voip-routes.ts';
import { linphoneRoutes } from './linphone-provisioning.ts';
import { phoneRoutes } from './phone-routes.ts';

const SESSION_COOKIE = 'sipedge_session';
const CSRF_HEADER = 'x-csrf-token';
const unauthenticated = (): ApiError => new ApiError(401, 'SIPEDGE_ERR_API_UNAUTHENTICATED', 'log in first (no valid session)');

export interface GatewayDeps {
  config: Readonly<Config>;
  stores: Stores;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** The 32-byte gateway key (auth/secret-box.ts resolveGatewayKey). */
  key: Buffer;
  /** Bound SIP ports, known once the edge listens. */
  sipPorts: () => SipPorts;
  /** The host to name in VoIP settings when SIP listens on a wildcard and sip.advertisedHost is empty. */
  wildcardHost?: () => string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by a session route's preValidation hook once the session is proven. */
    caller?: Caller;
  }
}

const STATE_CHANGING = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

export class Gateway implements GatewayServices {
  readonly cfg: Config['gateway'];
  readonly hasher: LoginHasher;
  readonly totp: Totp;
  readonly box: SecretBox;
  readonly limiter: LoginLimiter;
  readonly mailer: Mailer;
  readonly accounts: LoginAccounts;
  readonly provisioning: Provisioning;
  readonly routes: RouteSpec[];
  readonly metrics: GatewayMetrics;
  readonly sharedDomain: string;
  /** Background work (mail sending) still running; tests and stop() may wait for it. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly d: GatewayDeps) {
    this.cfg = d.config.gateway;
    this.sharedDomain = d.config.auth.sharedDomain;
    this.metrics = new GatewayMetrics(d.metrics);
    this.hasher = new LoginHasher(this.cfg.argon2);
    this.hasher.warm().catch((e: unknown) => d.logger.error({ event: 'gateway.argon2.error', err: (e as Error)?.message }));
    this.totp = new Totp(this.cfg.totp.issuer, this.cfg.totp.toleranceSeconds, d.clock);
    this.box = new SecretBox(d.key);
    this.limiter = new LoginLimiter(d.stores.lockouts, this.cfg.loginLimit, d.clock);
    this.mailer = new Mailer(this.cfg.mail, path.join(d.config.dataDir, 'outbox'));
    this.accounts = new LoginAccounts(d.stores, this.hasher, this.cfg, d.clock);
    this.provisioning = new Provisioning(d.stores, d.config.auth, d.clock);
    this.routes = [
      {
        method: 'GET',
        url: '/api/openapi.json',
        operationId: 'getOpenApiDocument',
        summary: 'this API as an OpenAPI 3.1 document, generated from the route schemas by @fastify/swagger',
        tag: 'meta',
        auth: 'none',
        responses: {
          200: {
            description: 'the document',
            type: 'object',
            properties: { openapi: { type: 'string' } },
            required: ['openapi'],
            // The whole document: every member is sent as it is.
            additionalProperties: true,
          },
        },
        handler: async (req) => req.server.swagger(),
      },
      ...loginRoutes(this),
      ...voipRoutes(this),
      ...phoneRoutes(this),
      ...linphoneRoutes(this),
      ...adminRoutes(this),
    ];
  }

  get stores(): Stores {
    return this.d.stores;
  }

  now(): number {
    return this.d.clock.now();
  }

  edgeHost(): string {
    return edgeHost(this.d.config.sip.advertisedHost, this.d.config.sip.udp !== 'off' ? this.d.config.sip.udp : this.d.config.sip.tcp, this.d.wildcardHost);
  }

  sipPorts(): SipPorts {
    return this.d.sipPorts();
  }

  background(what: string, work: () => Promise<void>): void {
    const p = work()
      .catch((e: unknown) => this.d.logger.error({ event: 'gateway.background.error', what, err: (e as Error)?.message ?? String(e) }))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Resolves when no background work is running. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  log(event: string, fields: Record<string, unknown> = {}): void {
    this.d.logger.info({ event, ...fields });
  }

  logError(event: string, fields: Record<string, unknown> = {}): void {
    this.d.logger.error({ event, ...fields });
  }

  async startSession(req: FastifyRequest, reply: FastifyReply, login: LoginRecord, pending: boolean): Promise<string> {
    const token = newToken();
    const csrf = newToken();
    const now = this.now();
    const ttlMs = (pending ? this.cfg.pendingSeconds : this.cfg.sessionSeconds) * 1000;
    await this.stores.sessions.create(tokenId(token), {
      tenant: login.tenant,
      ext: login.ext,
      csrf,
      pending,
      epoch: login.sessionEpoch,
      createdAt: now,
      expiresAt: now + ttlMs,
    });
    this.setCookie(req, reply, token, ttlMs / 1000);
    return csrf;
  }

  async endSession(reply: FastifyReply, sessionId: string): Promise<void> {
    await this.stores.sessions.delete(sessionId);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  private setCookie(req: FastifyRequest, reply: FastifyReply, token: string, maxAgeSeconds: number): void {
    reply.setCookie(SESSION_COOKIE, token, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: req.protocol === 'https',
      maxAge: Math.round(maxAgeSeconds),
    });
  }

  /** Authenticates a request by its session cookie; state-changing methods also need the CSRF header. */
  private async authenticate(req: FastifyRequest, reply: FastifyReply, mode: 'session' | 'pending'): Promise<Caller> {
    const token = req.cookies[SESSION_COOKIE];
    if (token === undefined || token.length === 0 || token.length > 200) throw unauthenticated();
    const sessionId = tokenId(token);
    const now = this.now();
    const probe = await this.stores.sessions.touch(sessionId, now, 0);
    if (probe === undefined || probe.pending !== (mode === 'pending')) throw unauthenticated();
    const login = await this.stores.logins.get(probe.tenant, probe.ext);
    if (login === undefined || login.sessionEpoch !== probe.epoch) {
      // The password changed (or the login was removed) since this session began.
      await this.stores.sessions.delete(sessionId);
      throw unauthenticated();
    }
    if (STATE_CHANGING.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !safeEqual(sent, probe.csrf)) {
        throw new ApiError(403, 'SIPEDGE_ERR_API_CSRF', `missing or wrong ${CSRF_HEADER} header (the csrfToken from login or GET /api/me)`);
      }
    }
    let session = probe;
    if (mode === 'session') {
      // Sliding expiry: every authenticated request renews the session and its cookie.
      const slid = await this.stores.sessions.touch(sessionId, now, this.cfg.sessionSeconds * 1000);
      if (slid === undefined) throw unauthenticated();
      session = slid;
      this.setCookie(req, reply, token, this.cfg.sessionSeconds);
    }
    return { ref: { tenant: session.tenant, ext: session.ext }, login, session, sessionId };
  }

  /**
   * The role and tenant of a request's session, for routes mounted beside the API (hold music); undefined when the
   * request carries no session cookie. A bad or expired session throws the 401, a state change without the CSRF
   * header the 403, like every API route.
   */
  async principalOf(req: FastifyRequest, reply: FastifyReply): Promise<{ role: LoginRole; tenant: string } | undefined> {
    const token = req.cookies?.[SESSION_COOKIE];
    if (token === undefined || token === '') return undefined;
    const caller = await this.authenticate(req, reply, 'session');
    return { role: caller.login.role, tenant: caller.ref.tenant };
  }

  /** Mounts the API on `app` (the edge's HTTP server); `extra` plugins share its cookies and error handler. */
  register(app: FastifyInstance, extra?: (scope: FastifyInstance) => Promise<void>): void {
    app.register(async (scope) => {
      await scope.register(cookie);
      scope.setErrorHandler((err, req, reply) => this.sendError(err, req, reply));
      scope.addHook('onResponse', async (_req, reply) => this.metrics.response(reply.statusCode));
      scope.setNotFoundHandler((req, reply) => {
        void this.sendError(new ApiError(404, 'SIPEDGE_ERR_API_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`), req, reply);
      });
      for (const r of this.routes) {
        scope.route({
          method: r.method,
          url: r.url,
          schema: routeSchema(r),
          preValidation: async (req, reply) => {
            if (r.auth !== 'none') req.caller = await this.authenticate(req, reply, r.auth);
            // An absent body validates as {} (routes whose fields are all optional need none).
            if (r.body !== undefined && req.body === undefined) req.body = {};
          },
          handler: async (req, reply) => {
            const out = r.auth === 'none' ? await r.handler(req, reply) : await r.handler(req, reply, callerOf(req));
            if (out === undefined) return reply.code(reply.statusCode === 200 ? 204 : reply.statusCode).send();
            return out;
          },
        });
      }
      if (extra) await scope.register(extra);
    });
  }

  close(): void {
    this.mailer.close();
  }

  private sendError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const e = toApiError(err);
    if (e.code === 'SIPEDGE_ERR_API_UNAVAILABLE') {
      // The store logs its outage once (store.outage.start/end); each refused request is only counted.
      this.d.metrics.storeRefused.labels('gateway').inc();
    } else if (e.status >= 500) {
      this.d.logger.error({ event: 'gateway.error', method: req.method, route: req.routeOptions.url, err: (err as Error)?.stack ?? String(err) });
    } else {
      this.d.logger.debug({ event: 'gateway.refused', method: req.method, route: req.routeOptions.url, code: e.code, status: e.status });
    }
    if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
    return reply.code(e.status).type('application/json').send({ error: e.code, message: e.message, ...e.details });
  }
}

/** The caller preValidation proved for a session route (it throws the 401 before the handler could run without one). */
function callerOf(req: FastifyRequest): Caller {
  if (req.caller === undefined) throw unauthenticated();
  return req.caller;
}

/** 503 with Retry-After: the store is down; the client may try again in the time a phone is asked to wait. */
function unavailable(message: string): ApiError {
  return new ApiError(503, 'SIPEDGE_ERR_API_UNAVAILABLE', message, {}, STORE_RETRY_AFTER_SECONDS);
}

/** Maps anything thrown to an ApiError: ours as is, fastify's client errors to 4xx, the store being down to 503. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreUnavailable) return unavailable('the store is unavailable; try again');
  if (err instanceof SipedgeError) {
    const map: Partial<Record<SipedgeError['code'], [number, ApiErrorCode]>> = {
      SIPEDGE_ERR_TENANT_EXISTS: [409, 'SIPEDGE_ERR_API_CONFLICT'],
      SIPEDGE_ERR_EXTENSION_EXISTS: [409, 'SIPEDGE_ERR_API_CONFLICT'],
      SIPEDGE_ERR_TENANT_NOT_EMPTY: [409, 'SIPEDGE_ERR_API_CONFLICT'],
      SIPEDGE_ERR_TENANT_UNKNOWN: [404, 'SIPEDGE_ERR_API_NOT_FOUND'],
      SIPEDGE_ERR_EXTENSION_UNKNOWN: [404, 'SIPEDGE_ERR_API_NOT_FOUND'],
      SIPEDGE_ERR_CLI_USAGE: [400, 'SIPEDGE_ERR_API_INVALID'],
      SIPEDGE_ERR_STORE_UNAVAILABLE: [503, 'SIPEDGE_ERR_API_UNAVAILABLE'],
      SIPEDGE_ERR_STORE_LOCKED: [503, 'SIPEDGE_ERR_API_UNAVAILABLE'],
      SIPEDGE_ERR_STORE_EMPTY: [503, 'SIPEDGE_ERR_API_UNAVAILABLE'],
    };
    const hit = map[err.code];
    if (hit?.[1] === 'SIPEDGE_ERR_API_UNAVAILABLE') return unavailable(err.message);
    if (hit) return new ApiError(hit[0], hit[1], err.message);
    return new ApiError(500, 'SIPEDGE_ERR_API_INTERNAL', 'internal error');
  }
  const fe = err as { statusCode?: number; code?: string; validation?: ValidationIssue[]; validationContext?: string; message?: string };
  if (fe.validation !== undefined) {
    const issue = fe.validation[0];
    const field = issue === undefined ? '(body)' : fieldOf(issue);
    const where = fe.validationContext === 'params' ? 'path parameter' : 'field';
    return new ApiError(400, 'SIPEDGE_ERR_API_INVALID', `${where} ${field}: ${issue?.message ?? 'is invalid'}`, { field });
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 413) return new ApiError(413, 'SIPEDGE_ERR_API_TOO_LARGE', 'request body too large');
  if (status === 415) return new ApiError(415, 'SIPEDGE_ERR_API_UNSUPPORTED_MEDIA', 'send bodies as application/json');
  if (status >= 400 && status < 500) {
    return new ApiError(400, 'SIPEDGE_ERR_API_INVALID', fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the JSON body is empty' : 'the body is not valid JSON', {
      field: '(body)',
    });
  }
  return new ApiError(500, 'SIPEDGE_ERR_API_INTERNAL', 'internal error');
}

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** The field an ajv issue is about: a missing or extra property by name, else the path ("a.b"), else "(body)". */
function fieldOf(issue: ValidationIssue): string {
  const base = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const named = issue.params.missingProperty ?? issue.params.additionalProperty;
  if (typeof named === 'string') return base === '' ? named : `${base}.${named}`;
  return base === '' ? '(body)' : base;
}
