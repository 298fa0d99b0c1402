// Operator-facing errors with stable codes (config, CLI, API bodies, uploads).
// Protocol errors are SipError in sip/; expected auth outcomes are unions in auth/.

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
