/**
 * @module resource/authorization
 *
 * Reads the credentials of a protected resource request: the `Authorization` field with the
 * `DPoP` (RFC 9449 §7.1), `Bearer` (RFC 6750 §2.1) or `PoP` (draft-ietf-oauth-signed-http-request
 * §5.1: a signed request whose JWS carries the access token in `at`) scheme, and the `DPoP`
 * proof field. Bearer tokens in the query or form body (RFC 6750 §2.2, §2.3) are not accepted:
 * RFC 9700 §2.5 says access tokens must not travel in the URI. The draft's form field
 * `pop_access_token` (§5.2) is read by the verifier, which owns the body (`verifier.ts`).
 */
import { invalidRequest } from './errors.js'
import { looksLikeJwt } from './jwt-access-token.js'

/** Request headers as node:http gives them (lower-case names), or a WHATWG `Headers`. */
export type RequestHeaders =
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | { get(name: string): string | null }

/** One header, as a string or the list of its repeated fields. */
export function headerOf(
  headers: RequestHeaders,
  name: string,
): string | readonly string[] | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined
  }
  return (headers as Record<string, string | readonly string[] | undefined>)[name]
}

export interface Credentials {
  /** The scheme as the specs spell it (the field compares it case-insensitively). */
  readonly scheme: 'DPoP' | 'Bearer' | 'PoP'
  /** The access token, or for `PoP` the signed request (a JWS whose `at` is the token). */
  readonly token: string
}

/** RFC 9110 §11.2 `auth-scheme`: a token. */
const AUTH_SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** RFC 9110 §11.2 `token68`, the syntax of RFC 6750 §2.1 `b64token`. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

const malformed = () =>
  invalidRequest('malformed_authorization', 'Authorization header is malformed')

/**
 * @returns the credentials, or `undefined` when the request carries none in a scheme this
 *   verifier knows (RFC 6750 §3.1: answered with a challenge and no error code).
 * @throws {ResourceError} `invalid_request` when the field is repeated or malformed.
 */
export function readCredentials(headers: RequestHeaders): Credentials | undefined {
  let value = headerOf(headers, 'authorization')
  if (Array.isArray(value)) {
    if (value.length > 1) {
      throw invalidRequest('multiple_authorization', 'more than one Authorization header')
    }
    value = value[0]
  }
  if (typeof value !== 'string' || value === '') return undefined
  // `scheme 1*SP token68` (RFC 9110 §11.4), split by hand: this runs on every request.
  const space = value.indexOf(' ')
  const schemeText = space === -1 ? value : value.slice(0, space)
  const lower = schemeText.toLowerCase()
  // IdentityModel's verifier matches `PoP ` case-sensitively; RFC 9110 §11.1 makes every
  // scheme case-insensitive, which accepts what it accepts and more.
  const scheme =
    lower === 'dpop' ? 'DPoP' : lower === 'bearer' ? 'Bearer' : lower === 'pop' ? 'PoP' : undefined
  if (scheme === undefined) {
    if (!AUTH_SCHEME.test(schemeText)) throw malformed()
    return undefined // another scheme (Basic, Digest, ...): not credentials for this verifier
  }
  let start = space + 1
  while (value.charCodeAt(start) === 0x20) start++
  let end = value.length
  while (end > start && value.charCodeAt(end - 1) === 0x20) end--
  const token = value.slice(start, end)
  if (space === -1 || token === '') throw malformed()
  // A JWT's segments are checked as strict base64url when it is read, a stricter alphabet than
  // token68; any other token is checked here.
  if (token.includes(' ') || (!looksLikeJwt(token) && !TOKEN68.test(token))) throw malformed()
  return { scheme, token }
}
