/**
 * @module errors
 *
 * Errors that carry an OAuth error code (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §12.2) and the HTTP
 * status to answer with. `error_description` is a fixed, safe sentence meant for the client;
 * `reason` is a precise machine-readable cause for logs and metrics, never sent on the wire
 * unless a caller chooses to.
 */

/** Every OAuth error code keybound emits, with the specification that registers it. */
export type OAuthErrorCode =
  // RFC 6749 §5.2
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  // RFC 6749 §4.1.2.1, answered to the redirect URI by the authorization endpoint
  | 'access_denied'
  | 'unsupported_response_type'
  // RFC 6749 §4.1.2.1, used here for 503 answers
  | 'server_error'
  | 'temporarily_unavailable'
  // RFC 6750 §3.1
  | 'invalid_token'
  | 'insufficient_scope'
  // RFC 9449 §12.2
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  // RFC 7009 §2.2.1
  | 'unsupported_token_type'
  // RFC 7591 §3.2.2
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'

export interface OAuthErrorOptions {
  /** HTTP status to answer with. */
  status: number
  /** The safe sentence sent as `error_description`. */
  description: string
  /** Machine-readable cause, for logs and metrics. */
  reason?: string
  /** Internal detail (expected and received values), logged, never sent. */
  detail?: string
  cause?: unknown
}

/** Base class of every protocol error keybound throws. */
export class OAuthError extends Error {
  readonly error: OAuthErrorCode
  readonly status: number
  readonly error_description: string
  readonly reason: string | undefined
  readonly detail: string | undefined

  constructor(error: OAuthErrorCode, options: OAuthErrorOptions) {
    super(options.description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.error = error
    this.status = options.status
    this.error_description = options.description
    this.reason = options.reason
    this.detail = options.detail
  }

  /** The RFC 6749 §5.2 JSON error body. */
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.error_description }
  }
}

/**
 * The store that remembers used proofs could not answer (RFC 9449 §11.1 replay detection).
 * Verification fails closed: a server answers 503 and the client may retry.
 */
export class ReplayCacheUnavailableError extends OAuthError {
  constructor(detail: string, cause?: unknown) {
    super('temporarily_unavailable', {
      status: 503,
      description: 'Replay detection is temporarily unavailable',
      reason: 'replay_cache_unavailable',
      detail,
      cause,
    })
  }
}

/**
 * The in-memory replay cache is at its ceiling with entries that are all still inside their
 * window. Evicting one would let a replay of it through, so new proofs are refused instead.
 */
export class ReplayCacheFullError extends OAuthError {
  constructor(detail: string) {
    super('temporarily_unavailable', {
      status: 503,
      description: 'Replay detection is at capacity',
      reason: 'replay_cache_full',
      detail,
    })
  }
}

/**
 * Caller misuse (a wrong argument or option), as opposed to bad protocol input. Follows Node's
 * convention: a `TypeError` with `code` `ERR_INVALID_ARG_VALUE` or `ERR_INVALID_ARG_TYPE`.
 */
export class CodedTypeError extends TypeError {
  readonly code: 'ERR_INVALID_ARG_VALUE' | 'ERR_INVALID_ARG_TYPE'
  constructor(message: string, code: 'ERR_INVALID_ARG_VALUE' | 'ERR_INVALID_ARG_TYPE') {
    super(message)
    this.code = code
  }
}

type FixedOptions = { detail?: string; cause?: unknown; reason?: string }

function fixed(options: FixedOptions, status: number, description: string): OAuthErrorOptions {
  return { status, description, ...options }
}

/** RFC 6749 §5.2 `invalid_request`: a parameter is missing, repeated, malformed or unsupported. */
export class InvalidRequestError extends OAuthError {
  constructor(description: string, options: FixedOptions = {}) {
    super('invalid_request', fixed(options, 400, description))
  }
}

/**
 * RFC 6749 §5.2 `invalid_client`: client authentication failed. 401; the token endpoint adds
 * `WWW-Authenticate: Basic` when the client tried HTTP Basic.
 */
export class InvalidClientError extends OAuthError {
  constructor(description = 'client authentication failed', options: FixedOptions = {}) {
    super('invalid_client', fixed(options, 401, description))
  }
}

/** RFC 6749 §5.2 `invalid_grant`: the code, refresh token or credentials are invalid or expired. */
export class InvalidGrantError extends OAuthError {
  constructor(description: string, options: FixedOptions = {}) {
    super('invalid_grant', fixed(options, 400, description))
  }
}

/** RFC 6749 §5.2 `unauthorized_client`: this client may not use this grant type. */
export class UnauthorizedClientError extends OAuthError {
  constructor(description: string, options: FixedOptions = {}) {
    super('unauthorized_client', fixed(options, 400, description))
  }
}

/** RFC 6749 §5.2 `unsupported_grant_type`. */
export class UnsupportedGrantTypeError extends OAuthError {
  constructor(description = 'unsupported grant_type', options: FixedOptions = {}) {
    super('unsupported_grant_type', fixed(options, 400, description))
  }
}

/** RFC 6749 §5.2 `invalid_scope`. */
export class InvalidScopeError extends OAuthError {
  constructor(
    description = 'requested scope is invalid or not allowed',
    options: FixedOptions = {},
  ) {
    super('invalid_scope', fixed(options, 400, description))
  }
}

/** RFC 6749 §4.1.2.1 `access_denied`: the resource owner refused (or the server denied) the request. */
export class AccessDeniedError extends OAuthError {
  constructor(description = 'the resource owner denied the request', options: FixedOptions = {}) {
    super('access_denied', fixed(options, 400, description))
  }
}

/** RFC 6749 §4.1.2.1 `unsupported_response_type`: only `code` is (RFC 9700 §2.1.2). */
export class UnsupportedResponseTypeError extends OAuthError {
  constructor(description = 'unsupported response_type', options: FixedOptions = {}) {
    super('unsupported_response_type', fixed(options, 400, description))
  }
}

/** An unexpected failure: answered as `server_error` 500 with a generic description, and logged. */
export class ServerError extends OAuthError {
  constructor(detail: string, cause?: unknown) {
    super('server_error', { status: 500, description: 'internal server error', detail, cause })
  }
}
