/**
 * @module client/mtls/confirmation
 *
 * The client's check that a token the authorization server issued over mutual TLS is bound to
 * the certificate the client presented: a JWT access token's `cnf["x5t#S256"]` (RFC 8705 §3.1).
 * An opaque token cannot be read by the client; it is taken on trust.
 */
import { UnexpectedResponseError } from '../errors.js'

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$/

/** The JSON object a base64url segment encodes, or `undefined`. */
function jsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * The claims of an access token that is a JWT (JWS compact serialization, RFC 7515 §7.1, whose
 * header names an `alg`), or `undefined` for any other token. Nothing is verified: the client
 * reads what the server put in its own answer.
 */
export function jwtClaimsOf(accessToken: string): Record<string, unknown> | undefined {
  const match = JWS_COMPACT.exec(accessToken)
  if (!match) return undefined
  const header = jsonObject(accessToken.slice(0, accessToken.indexOf('.')))
  if (typeof header?.alg !== 'string') return undefined
  return jsonObject(match[1] as string)
}

/**
 * Refuses a JWT access token that is not bound to the certificate of `thumbprint`: without
 * `cnf["x5t#S256"]` the server issued a plain bearer token (RFC 8705 §3.1), and with another
 * thumbprint it bound it to another certificate. Using either would give up the binding the
 * client asked for. Other tokens (opaque, encrypted) pass.
 *
 * @throws {UnexpectedResponseError} `not_certificate_bound` or `x5t_mismatch` (status 200).
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-3.1
 */
export function checkCertificateConfirmation(accessToken: string, thumbprint: string): void {
  const claims = jwtClaimsOf(accessToken)
  if (claims === undefined) return
  const cnf = claims.cnf
  const x5t =
    typeof cnf === 'object' && cnf !== null
      ? (cnf as Record<string, unknown>)['x5t#S256']
      : undefined
  if (typeof x5t !== 'string') {
    throw new UnexpectedResponseError(
      'not_certificate_bound',
      200,
      'the access token has no cnf["x5t#S256"]: the server did not bind it to the client certificate',
    )
  }
  // Thumbprints are public: no constant-time comparison is needed.
  if (x5t !== thumbprint) {
    throw new UnexpectedResponseError(
      'x5t_mismatch',
      200,
      `the access token is bound to the certificate ${x5t}, not to the one presented (${thumbprint})`,
    )
  }
}
