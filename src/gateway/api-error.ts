// The API's error shape and codes: every failure answers JSON { error, message, ...details } with a stable code.
// Which route raises which is the route files'; mapping of fastify's own errors is gateway.ts's error handler.

export type ApiErrorCode =
  | 'SIPEDGE_ERR_API_INVALID'
  | 'SIPEDGE_ERR_API_PASSWORD_POLICY'
  | 'SIPEDGE_ERR_API_LOGIN_FAILED'
  | 'SIPEDGE_ERR_API_TOTP_INVALID'
  | 'SIPEDGE_ERR_API_UNAUTHENTICATED'
  | 'SIPEDGE_ERR_API_CSRF'
  | 'SIPEDGE_ERR_API_FORBIDDEN'
  | 'SIPEDGE_ERR_API_NOT_FOUND'
  | 'SIPEDGE_ERR_API_CONFLICT'
  | 'SIPEDGE_ERR_API_TOKEN_INVALID'
  | 'SIPEDGE_ERR_API_RATE_LIMITED'
  | 'SIPEDGE_ERR_API_TOO_LARGE'
  | 'SIPEDGE_ERR_API_UNSUPPORTED_MEDIA'
  | 'SIPEDGE_ERR_API_UNAVAILABLE'
  | 'SIPEDGE_ERR_API_INTERNAL';

/** An expected API failure: status, stable code, a message without secrets, optional details (field, rules). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Seconds, for 429 (Retry-After). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, 'SIPEDGE_ERR_API_NOT_FOUND', `${what} not found`);
export const forbidden = (why = 'your role may not do this'): ApiError => new ApiError(403, 'SIPEDGE_ERR_API_FORBIDDEN', why);
export const rateLimited = (seconds: number): ApiError =>
  new ApiError(429, 'SIPEDGE_ERR_API_RATE_LIMITED', `too many failed attempts; try again in ${seconds} s`, { retryAfter: seconds }, seconds);
