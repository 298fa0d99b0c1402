// The OpenAPI 3.1 document's frame (info, servers, tags, security schemes, the error body) and the step from a route
// spec to fastify's route `schema`. @fastify/swagger (registered by server.ts) writes the paths from each route's
// schema, the same one fastify validates requests and serializes responses with: there is no second copy to drift.
import type { SwaggerOptions } from '@fastify/swagger';
import type { FastifySchema } from 'fastify';
import type { RouteSpec } from './route-spec.ts';
import type { JsonSchema } from './schemas.ts';

/** The body of every error answer; shared by all routes as `{ $ref: 'ApiError#' }` (components/schemas/ApiError). */
export const API_ERROR_SCHEMA = {
  $id: 'ApiError',
  type: 'object',
  description: 'an error; the codes are listed in the README ("Auth gateway API", "Hold music")',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'stable code, SIPEDGE_ERR_<AREA>_<WHAT>' },
    message: { type: 'string', description: 'what went wrong, for a person' },
    field: { type: 'string', description: 'the offending field or path parameter' },
    violations: {
      type: 'array',
      description: 'every password rule broken (SIPEDGE_ERR_API_PASSWORD_POLICY)',
      items: { type: 'object', properties: { rule: { type: 'string' }, message: { type: 'string' } }, required: ['rule', 'message'] },
    },
    retryAfter: { type: 'integer', description: 'seconds to wait (429; also the Retry-After header)' },
    reason: { type: 'string', description: 'hold-music refusals: the closed-set reason (too-large, unsupported-format, ...)' },
  },
} satisfies JsonSchema;

/** An error response of a route: what the status means there; the body is API_ERROR_SCHEMA. */
export const errorReply = (description: string): JsonSchema => ({ description, $ref: 'ApiError#' });

/** A non-JSON response (fastify sends strings as they are; the schema documents the media type). */
export const textReply = (description: string, mediaType: string): JsonSchema => ({
  description,
  content: { [mediaType]: { schema: { type: 'string' } } },
});

/** Session cookie (and the CSRF header on state changes), as the README's "Sessions and cookies" and "CSRF" say. */
export const sessionSecurity = (method: string): Array<Record<string, string[]>> => [{ session: [], ...(method === 'GET' ? {} : { csrf: [] }) }];

/** The tags, in the order a reader meets them. */
const TAGS = [
  { name: 'session', description: 'login (password, then TOTP), logout, the current user' },
  { name: 'account', description: 'login password change, forgot and reset' },
  { name: '2fa', description: 'TOTP two-factor authentication (RFC 6238)' },
  { name: 'voip', description: 'VoIP settings, VoIP password rotation, provisioning tokens, Linphone provisioning' },
  { name: 'admin', description: 'tenants and extensions (tenant admins: their own tenant; operators: all)' },
  { name: 'moh', description: 'hold and queue music uploads and status' },
  { name: 'ops', description: 'health, readiness and Prometheus metrics' },
  { name: 'meta', description: 'this document' },
];

/**
 * @fastify/swagger's options. `servers` is the relative "/": the listen addresses are bind addresses (0.0.0.0:8080)
 * no client can use, while "/" resolves against wherever the reader fetched the document (http.listen, http.https,
 * or a reverse proxy in front), which serves every route listed.
 */
export function swaggerOptions(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'sipedge HTTP API',
        version: '1',
        description: 'The auth gateway (login, 2FA, sessions, password reset, VoIP credentials, provisioning, admin), hold music, and health/metrics. Generated from the route schemas the server validates and serializes with.',
      },
      servers: [{ url: '/', description: 'the address this document was fetched from' }],
      tags: TAGS,
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'sipedge_session', description: 'set by POST /api/login' },
          csrf: { type: 'apiKey', in: 'header', name: 'x-csrf-token', description: 'the session\'s csrfToken, on POST, PATCH and DELETE' },
          bearer: { type: 'http', scheme: 'bearer', description: 'media.apiToken (hold music) or http.metricsToken (/metrics)' },
        },
      },
    },
    // Shared schemas keep their $id as component name (ApiError), not json-schema-resolver's def-N.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  };
}

/** What every API route may also answer, beside its own statuses: the gateway's authentication, validation and store. */
function commonErrors(r: RouteSpec): Record<string, string> {
  const out: Record<string, string> = {};
  if (r.body !== undefined || r.params !== undefined) out[400] = 'a field or path parameter is invalid (SIPEDGE_ERR_API_INVALID)';
  if (r.auth !== 'none') out[401] = 'no valid session (SIPEDGE_ERR_API_UNAUTHENTICATED)';
  if (r.auth !== 'none' && r.method !== 'GET') out[403] = 'the x-csrf-token header is missing or wrong (SIPEDGE_ERR_API_CSRF)';
  if (r.body !== undefined) {
    out[413] = 'the body is too large (SIPEDGE_ERR_API_TOO_LARGE)';
    out[415] = 'the body is not application/json (SIPEDGE_ERR_API_UNSUPPORTED_MEDIA)';
  }
  out['5xx'] = 'the store is unavailable (503, Retry-After; SIPEDGE_ERR_API_UNAVAILABLE) or an internal error (500)';
  return out;
}

/** fastify's route schema of a gateway route: request validation, response serialization and its OpenAPI operation. */
export function routeSchema(r: RouteSpec): FastifySchema & Record<string, unknown> {
  const response: Record<string, JsonSchema> = {};
  const errors = commonErrors(r);
  for (const [status, answer] of Object.entries(r.responses)) {
    if (typeof answer !== 'string') response[status] = answer;
    else response[status] = errorReply(errors[status] === undefined ? answer : `${answer}; or ${errors[status]}`);
  }
  for (const [status, meaning] of Object.entries(errors)) response[status] ??= errorReply(meaning);
  return {
    operationId: r.operationId,
    summary: r.summary,
    tags: [r.tag],
    security: r.auth === 'none' ? [] : sessionSecurity(r.method),
    ...(r.params ? { params: r.params } : {}),
    ...(r.body ? { body: r.body } : {}),
    response,
  };
}
