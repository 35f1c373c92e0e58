/**
 * @module resource/authorization
 *
 * Reads the credentials of a protected resource request: the `Authorization` field with the
 * `DPoP` (RFC 9449 §7.1) or `Bearer` (RFC 6750 §2.1) scheme, and the `DPoP` proof field.
 * Tokens in the query or form body (RFC 6750 §2.2, §2.3) are not accepted: RFC 9700 §2.5 says
 * access tokens must not travel in the URI, and a body is not the verifier's to read.
 */
import { invalidRequest } from './errors.js'

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
  /** The scheme as the RFCs spell it (the field compares it case-insensitively). */
  readonly scheme: 'DPoP' | 'Bearer'
  readonly token: string
}

/** RFC 9110 §11.2 `auth-scheme` (a token), then one space or more, then `token68`. */
const AUTHORIZATION = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +([A-Za-z0-9\-._~+/]+=*) *$/

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
  const match = AUTHORIZATION.exec(value)
  if (!match) {
    // A scheme this verifier does not know, with credentials of another syntax (e.g. Basic
    // user:pass in token68 form matches above; Digest's parameters do not): not ours.
    const scheme = value.split(' ', 1)[0]?.toLowerCase()
    if (scheme === 'dpop' || scheme === 'bearer') {
      throw invalidRequest('malformed_authorization', 'Authorization header is malformed')
    }
    return undefined
  }
  const scheme = (match[1] as string).toLowerCase()
  const token = match[2] as string
  if (scheme === 'dpop') return { scheme: 'DPoP', token }
  if (scheme === 'bearer') return { scheme: 'Bearer', token }
  return undefined
}
