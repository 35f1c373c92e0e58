/**
 * @module client/token-request
 *
 * One request to the token endpoint (RFC 6749 §3.2), with a DPoP proof (RFC 9449 §5) or over a
 * TLS connection presenting the client certificate (RFC 8705 §3), and the checks of its response
 * (RFC 6749 §5.1, §5.2).
 */
import { authenticateClient, type ClientCredentials } from './client-authentication.js'
import type { FetchLike } from './dpop-fetch.js'
import { AuthorizationServerError, UnexpectedResponseError } from './errors.js'

/**
 * The `token_type` a bound token must have: `DPoP` for a DPoP-bound token (RFC 9449 §5),
 * `Bearer` for a certificate-bound one (RFC 8705 §3).
 */
export type ExpectedTokenType = 'DPoP' | 'Bearer'

/** A successful token response (RFC 6749 §5.1) of the expected `token_type`. */
export interface TokenResponse {
  readonly access_token: string
  readonly token_type: string
  /** Seconds the access token lives, when the server said. */
  readonly expires_in?: number
  readonly refresh_token?: string
  readonly scope?: string
}

export interface TokenRequest {
  readonly tokenEndpoint: string
  /** The grant's parameters: `grant_type`, and `refresh_token`, `scope`, `resource`, ... */
  readonly parameters: URLSearchParams
  readonly client: ClientCredentials
  /**
   * Sends the request: with a DPoP proof of the key the token is to be bound to (`dpopFetch`),
   * or over a connection presenting the certificate it is to be bound to (`mtlsFetch`).
   */
  readonly fetch: FetchLike
  /** The `token_type` the answer must have (default `DPoP`). */
  readonly tokenType?: ExpectedTokenType
}

/**
 * POSTs the form to the token endpoint, authenticated as the client, through `fetch` (with
 * `dpopFetch`: a DPoP proof, and a retry when the server demands a nonce, RFC 9449 §8).
 *
 * @throws {AuthorizationServerError} when the server answers with an OAuth error (§5.2).
 * @throws {UnexpectedResponseError} when the answer cannot be used, including a `token_type`
 *   other than the expected one (a `DPoP` request answered with another type: the server did
 *   not bind the token, RFC 9449 §5).
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function requestToken(request: TokenRequest): Promise<TokenResponse> {
  const form = new URLSearchParams(request.parameters)
  const headers = new Headers({
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  })
  authenticateClient(request.client, headers, form)
  const response = await request.fetch(request.tokenEndpoint, {
    method: 'POST',
    headers,
    body: form,
  })
  return parseTokenResponse(response, request.tokenType)
}

/**
 * Reads a token endpoint answer: a 200 with a JSON object holding a string `access_token`, a
 * `token_type` of `tokenType` (compared case-insensitively, RFC 6749 §5.1) and, when present, a
 * positive `expires_in`; or an OAuth error response.
 */
export async function parseTokenResponse(
  response: Response,
  tokenType: ExpectedTokenType = 'DPoP',
): Promise<TokenResponse> {
  let body: unknown
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  const object =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : undefined
  const { status } = response
  if (status !== 200) {
    if (status >= 400 && status < 500 && typeof object?.error === 'string') {
      const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
      throw new AuthorizationServerError(status, {
        error: object.error,
        error_description: text(object.error_description),
        error_uri: text(object.error_uri),
      })
    }
    throw new UnexpectedResponseError(
      'unexpected_status',
      status,
      `the token endpoint answered HTTP ${status} without an OAuth error`,
    )
  }
  if (!object) {
    throw new UnexpectedResponseError('not_json', status, 'the token response is not a JSON object')
  }
  const { access_token, token_type, expires_in, refresh_token, scope } = object
  if (typeof access_token !== 'string' || access_token === '') {
    throw new UnexpectedResponseError(
      'access_token_missing',
      status,
      'the token response has no access_token',
    )
  }
  if (typeof token_type !== 'string' || token_type.toLowerCase() !== tokenType.toLowerCase()) {
    throw tokenType === 'DPoP'
      ? new UnexpectedResponseError(
          'token_type_not_dpop',
          status,
          `the token response has token_type ${JSON.stringify(token_type)}, not DPoP: the token is not bound to the key`,
        )
      : new UnexpectedResponseError(
          'token_type_not_bearer',
          status,
          `the token response has token_type ${JSON.stringify(token_type)}, not Bearer (RFC 8705 §3)`,
        )
  }
  if (
    expires_in !== undefined &&
    !(typeof expires_in === 'number' && expires_in > 0 && Number.isFinite(expires_in))
  ) {
    throw new UnexpectedResponseError(
      'expires_in_invalid',
      status,
      'the token response has an invalid expires_in',
    )
  }
  return {
    access_token,
    token_type,
    ...(expires_in === undefined ? {} : { expires_in }),
    ...(typeof refresh_token === 'string' && refresh_token !== '' ? { refresh_token } : {}),
    ...(typeof scope === 'string' ? { scope } : {}),
  }
}
