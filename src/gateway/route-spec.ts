// What a route file declares and what its handlers may use: the route spec (validation, serialization, documentation
// and authentication in one place), the caller of a session route, and the gateway's services as handlers see them.
// gateway.ts implements the services and mounts the routes; the *-routes.ts files only import this module.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LoginAccounts } from '../auth/login-accounts.ts';
import type { LoginHasher } from '../auth/login-password.ts';
import type { ExtensionRef, Provisioning } from '../auth/provisioning.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Totp } from '../auth/totp.ts';
import type { Config } from '../config/schema.ts';
import type { LoginRecord, SessionRecord, Stores } from '../store/types.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import type { LoginLimiter } from './login-limit.ts';
import type { Mailer } from './mailer.ts';
import type { JsonSchema } from './schemas.ts';
import type { SipPorts } from './voip-settings.ts';

/** Who made an authenticated request. */
export interface Caller {
  ref: ExtensionRef;
  login: LoginRecord;
  session: SessionRecord;
  sessionId: string;
}

interface RouteBase {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  /** Unique across the API (OpenAPI operationId). */
  operationId: string;
  summary: string;
  tag: 'session' | 'account' | '2fa' | 'voip' | 'admin' | 'meta';
  body?: JsonSchema;
  params?: JsonSchema;
  /**
   * Each status the handler answers: a success body's schema (schemas.ts replies; fastify sends only the fields it
   * lists), or what an error status means here (body: openapi.ts's ApiError). openapi.ts adds the statuses every route
   * shares (invalid body, no session, CSRF, store down).
   */
  responses: Record<number, JsonSchema | string>;
}

/** A route anyone may call (login, forgot/reset password, provisioning redeem). */
export interface PublicRoute extends RouteBase {
  auth: 'none';
  handler(req: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

/**
 * A route behind a session: 'session' needs a full one, 'pending' the half-logged-in state after the password (2FA
 * due). The handler runs only once the session is proven, so it always gets its caller.
 */
export interface SessionRoute extends RouteBase {
  auth: 'session' | 'pending';
  handler(req: FastifyRequest, reply: FastifyReply, caller: Caller): Promise<unknown>;
}

/** One API route. */
export type RouteSpec = PublicRoute | SessionRoute;

/** The gateway as its route handlers see it: its services, its clock, logging, and the session cookie. */
export interface GatewayServices {
  readonly cfg: Config['gateway'];
  readonly stores: Stores;
  readonly hasher: LoginHasher;
  readonly totp: Totp;
  readonly box: SecretBox;
  readonly limiter: LoginLimiter;
  readonly mailer: Mailer;
  readonly accounts: LoginAccounts;
  readonly provisioning: Provisioning;
  readonly metrics: GatewayMetrics;
  /** auth.sharedDomain: the realm for ext-tenant usernames ('' = off). */
  readonly sharedDomain: string;
  /** ms since the epoch on the gateway's clock. */
  now(): number;
  /** The host phones are told to use (the edge itself). */
  edgeHost(): string;
  /** The bound SIP ports. */
  sipPorts(): SipPorts;
  /** Runs `work` after the response (mail), logging instead of throwing. */
  background(what: string, work: () => Promise<void>): void;
  /** An info-level event line. */
  log(event: string, fields?: Record<string, unknown>): void;
  /** An error-level event line (something an operator must fix). */
  logError(event: string, fields?: Record<string, unknown>): void;
  /** Starts a session (full or pending) and sets its cookie; returns the CSRF token the client must echo. */
  startSession(req: FastifyRequest, reply: FastifyReply, login: LoginRecord, pending: boolean): Promise<string>;
  /** Deletes the session server-side and clears its cookie. */
  endSession(reply: FastifyReply, sessionId: string): Promise<void>;
}
