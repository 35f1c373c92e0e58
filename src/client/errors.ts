/**
 * @module client/errors
 *
 * What the client throws when an authorization server refuses a request or answers with
 * something it cannot use. They deliberately do not extend `OAuthError`: that class is what a
 * keybound server answers its own clients with, and an error received from another server must
 * never be forwarded as one's own answer by a handler that catches `OAuthError`.
 */
import type { OAuthErrorCode } from '../errors.js'

/**
 * The authorization server refused the request with an OAuth error response (RFC 6749 §5.2):
 * `invalid_client`, `invalid_grant`, `invalid_dpop_proof` (RFC 9449 §12.2), ...
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class AuthorizationServerError extends Error {
  /** The `error` code the server sent. */
  readonly error: OAuthErrorCode | (string & {})
  /** The server's `error_description`, when it sent one. */
  readonly error_description: string | undefined
  /** The server's `error_uri`, when it sent one. */
  readonly error_uri: string | undefined
  /** The HTTP status of the answer. */
  readonly status: number

  constructor(
    status: number,
    body: { error: string; error_description?: string | undefined; error_uri?: string | undefined },
  ) {
    super(
      body.error_description === undefined
        ? `the authorization server answered ${body.error}`
        : `the authorization server answered ${body.error}: ${body.error_description}`,
    )
    this.name = new.target.name
    this.error = body.error
    this.error_description = body.error_description
    this.error_uri = body.error_uri
    this.status = status
  }
}

/** Why an answer of the authorization server was refused by the client. */
export type UnexpectedResponseReason =
  /** The status is neither a success nor an OAuth error response. */
  | 'unexpected_status'
  /** The body is not a JSON object. */
  | 'not_json'
  /** A successful token response without a string `access_token` (RFC 6749 §5.1). */
  | 'access_token_missing'
  /**
   * The `token_type` is not `DPoP` (RFC 9449 §5): the server ignored the proof and issued a
   * token of another type, typically a bearer token. Using it would silently give up the binding.
   */
  | 'token_type_not_dpop'
  /**
   * The `token_type` of a certificate-bound token is not `Bearer` (RFC 8705 §3: the binding does
   * not change how the token is presented).
   */
  | 'token_type_not_bearer'
  /**
   * The access token is a JWT without `cnf["x5t#S256"]` (RFC 8705 §3.1): the server did not
   * bind it to the client certificate.
   */
  | 'not_certificate_bound'
  /**
   * The access token is a JWT bound to another certificate: its `cnf["x5t#S256"]` is not the
   * thumbprint of the certificate the client presents (RFC 8705 §3.1).
   */
  | 'x5t_mismatch'
  /** `expires_in` is present but not a positive number of seconds (RFC 6749 §5.1). */
  | 'expires_in_invalid'
  /**
   * The RFC 8414 metadata lacks a usable `token_endpoint` (or, for mutual TLS, an https one, in
   * `mtls_endpoint_aliases` or not: RFC 8705 §5).
   */
  | 'metadata_invalid'
  /** The RFC 8414 metadata names another `issuer` than the one asked for (RFC 8414 §3.3). */
  | 'issuer_mismatch'

/** The authorization server's answer cannot be used: see {@link UnexpectedResponseReason}. */
export class UnexpectedResponseError extends Error {
  readonly reason: UnexpectedResponseReason
  /** The HTTP status of the answer. */
  readonly status: number

  constructor(reason: UnexpectedResponseReason, status: number, message: string) {
    super(message)
    this.name = new.target.name
    this.reason = reason
    this.status = status
  }
}
