// Every error class with a stable code, importable by every layer (like clock.ts): operator errors (config, CLI,
// store, uploads: SIPEDGE_ERR_*), the gateway API's errors (SIPEDGE_ERR_API_*) and the store-down condition. Codes are
// API (README "Error codes" lists each). Protocol errors are SipError in sip/types.ts; expected outcomes are unions.

export type ErrorCode =
  | 'SIPEDGE_ERR_CONFIG_INVALID'
  | 'SIPEDGE_ERR_CONFIG_FILE'
  | 'SIPEDGE_ERR_CLI_USAGE'
  | 'SIPEDGE_ERR_TENANT_EXISTS'
  | 'SIPEDGE_ERR_TENANT_UNKNOWN'
  | 'SIPEDGE_ERR_TENANT_NOT_EMPTY'
  | 'SIPEDGE_ERR_EXTENSION_UNKNOWN'
  | 'SIPEDGE_ERR_EXTENSION_EXISTS'
  | 'SIPEDGE_ERR_IMPORT_INVALID'
  | 'SIPEDGE_ERR_STORE_UNAVAILABLE'
  | 'SIPEDGE_ERR_STORE_EMPTY'
  | 'SIPEDGE_ERR_STORE_LOCKED'
  | 'SIPEDGE_ERR_STORE_CORRUPT'
  | 'SIPEDGE_ERR_LISTEN'
  | 'SIPEDGE_ERR_TLS_CERT'
  | 'SIPEDGE_ERR_TLS_KEY'
  | 'SIPEDGE_ERR_TLS_MISMATCH'
  | 'SIPEDGE_ERR_TLS_CA'
  | 'SIPEDGE_ERR_TLS_SELF_SIGNED'
  | 'SIPEDGE_ERR_MEDIA_UNKNOWN'
  | 'SIPEDGE_ERR_UPLOAD_TOO_LARGE'
  | 'SIPEDGE_ERR_UPLOAD_REFUSED'
  | 'SIPEDGE_ERR_UPLOAD_BUSY'
  | 'SIPEDGE_ERR_UNAUTHORIZED';

/** An error an operator can act on: the message names the key, value or line and the rule. */
export class SipedgeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SipedgeError';
  }
}

/** Seconds a client is asked to wait (Retry-After) while the store cannot be reached (RFC 3261 §20.33). */
export const STORE_RETRY_AFTER_SECONDS = 5;

/** What the usual bind failures mean, for the operator reading the one-line refusal. */
const BIND_FAILURES: Record<string, string> = {
  EADDRINUSE: 'address already in use (another process, or another listener of this config, holds it)',
  EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'no such address on this host',
};

/**
 * SIPEDGE_ERR_LISTEN naming the config key and the address a listener could not bind, e.g.
 * `cannot listen on sip.udp 127.0.0.1:5060: address already in use (EADDRINUSE)`.
 */
export function listenError(key: string, address: string, e: unknown): SipedgeError {
  const err = e as NodeJS.ErrnoException;
  const what = err.code !== undefined ? `${BIND_FAILURES[err.code] ?? err.message} (${err.code})` : String(err?.message ?? e);
  return new SipedgeError('SIPEDGE_ERR_LISTEN', `cannot listen on ${key} ${address}: ${what}`);
}

/** Thrown (as a rejected promise) when the backing store cannot be reached; services answer 503 (STYLE.md §4). */
export class StoreUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}

/** The gateway API's codes; every failure answers JSON { error, message, ...details } with one of them. */
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
