/**
 * @module client/token-source
 *
 * A source of DPoP-bound access tokens for one client: it obtains them from the token endpoint
 * by the client credentials grant (RFC 6749 §4.4) or a refresh token (RFC 6749 §6), keeps each
 * until shortly before it expires, and renews it.
 */
import { CodedTypeError } from '../errors.js'
import type { AsymmetricAlg } from '../jose/algs.js'
import type { SigningKey } from '../jose/keys.js'
import type { ClientAuthenticationMethod } from './client-authentication.js'
import { type AccessTokenSource, dpopFetch, type FetchLike } from './dpop-fetch.js'
import { discoverTokenEndpoint } from './metadata.js'
import { requestToken } from './token-request.js'

export interface TokenSourceOptions {
  /** The token endpoint's URL. Give it, or `issuer`. */
  tokenEndpoint?: string | URL
  /** The authorization server's issuer identifier: the token endpoint is read from its RFC 8414 metadata. */
  issuer?: string | URL
  clientId: string
  /** The client secret of a confidential client. */
  clientSecret?: string
  /**
   * How the client authenticates (RFC 6749 §2.3.1): `client_secret_basic` (the default with a
   * secret), `client_secret_post`, or `none` (the default without one: a public client).
   */
  clientAuthentication?: ClientAuthenticationMethod
  /** The DPoP key the tokens are bound to; use the same key with `dpopFetch`. */
  key: SigningKey
  /** The JWS alg of the proofs; by default the one that fits the key. */
  alg?: AsymmetricAlg
  /**
   * How tokens are obtained: `client_credentials` (RFC 6749 §4.4), or `refresh_token` (RFC 6749
   * §6) starting from `refreshToken` and keeping the rotated one each refresh returns.
   */
  grant: 'client_credentials' | 'refresh_token'
  /** The refresh token to start from; required with `grant: 'refresh_token'`. */
  refreshToken?: string
  /** The `scope` to ask for (RFC 6749 §3.3). */
  scope?: string
  /** The resource(s) the token is meant for (RFC 8707 §2). */
  resource?: string | readonly string[]
  /** The `fetch` for the metadata and token requests (default: the global `fetch`). */
  fetch?: FetchLike
  /**
   * How many seconds before `expires_in` runs out a token is renewed (default 30; at most half
   * the token's lifetime).
   */
  expiryMargin?: number
}

/** DPoP-bound access tokens, kept and renewed: see {@link createTokenSource}. */
export interface TokenSource extends AccessTokenSource {
  /** A valid access token: the kept one, or a new one from the token endpoint. */
  getAccessToken(): Promise<string>
  /**
   * Forgets the kept token (only if it is `accessToken`, when given: a token another caller
   * already replaced stays), so that the next `getAccessToken` asks for a new one.
   */
  invalidate(accessToken?: string): void
  /** The current refresh token, after every rotation: store it if it must outlive the process. */
  readonly refreshToken: string | undefined
}

const GRANTS = new Set(['client_credentials', 'refresh_token'])
const METHODS = new Set(['client_secret_basic', 'client_secret_post', 'none'])

function validate(options: TokenSourceOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new CodedTypeError('"options" must be an object', 'ERR_INVALID_ARG_TYPE')
  }
  if ((options.tokenEndpoint === undefined) === (options.issuer === undefined)) {
    throw new CodedTypeError(
      'give "tokenEndpoint" or "issuer", one of them',
      'ERR_INVALID_ARG_VALUE',
    )
  }
  if (typeof options.clientId !== 'string' || options.clientId === '') {
    throw new CodedTypeError('"clientId" must be a non-empty string', 'ERR_INVALID_ARG_TYPE')
  }
  if (!GRANTS.has(options.grant)) {
    throw new CodedTypeError(
      '"grant" must be "client_credentials" or "refresh_token"',
      'ERR_INVALID_ARG_VALUE',
    )
  }
  if (options.grant === 'refresh_token' && typeof options.refreshToken !== 'string') {
    throw new CodedTypeError('grant "refresh_token" needs "refreshToken"', 'ERR_INVALID_ARG_VALUE')
  }
  const method = options.clientAuthentication
  if (method !== undefined && !METHODS.has(method)) {
    throw new CodedTypeError(
      '"clientAuthentication" must be client_secret_basic, client_secret_post or none',
      'ERR_INVALID_ARG_VALUE',
    )
  }
  if (
    (method === 'client_secret_basic' || method === 'client_secret_post') &&
    !options.clientSecret
  ) {
    throw new CodedTypeError(`"${method}" needs "clientSecret"`, 'ERR_INVALID_ARG_VALUE')
  }
  const margin = options.expiryMargin
  if (
    margin !== undefined &&
    !(typeof margin === 'number' && margin >= 0 && Number.isFinite(margin))
  ) {
    throw new CodedTypeError(
      '"expiryMargin" must be a non-negative number of seconds',
      'ERR_INVALID_ARG_VALUE',
    )
  }
}

/**
 * Creates a {@link TokenSource}. Every token request goes through {@link dpopFetch} with `key`,
 * so it carries a proof (RFC 9449 §5) and is retried once when the authorization server demands
 * a nonce (§8); a response whose `token_type` is not `DPoP` is refused (the server issued an
 * unbound token, §5). Concurrent callers share one request: with a rotating refresh token, two
 * refreshes at once would present the same token twice, which a server treats as a theft
 * (RFC 9700 §4.14.2) and answers by revoking the grant.
 *
 * A token without `expires_in` is kept until `invalidate`.
 *
 * @throws {CodedTypeError} at once for invalid options.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function createTokenSource(options: TokenSourceOptions): TokenSource {
  validate(options)
  const fetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const post = dpopFetch({
    key: options.key,
    ...(options.alg === undefined ? {} : { alg: options.alg }),
    fetch,
  })
  const client = {
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    method: options.clientAuthentication ?? (options.clientSecret ? 'client_secret_basic' : 'none'),
  } as const
  const resources =
    options.resource === undefined
      ? []
      : typeof options.resource === 'string'
        ? [options.resource]
        : [...options.resource]
  const margin = options.expiryMargin ?? 30

  let endpoint: Promise<string> | undefined
  let refreshToken = options.refreshToken
  let current: { accessToken: string; renewAt: number } | undefined
  let pending: Promise<string> | undefined

  const tokenEndpoint = (): Promise<string> => {
    if (!endpoint) {
      const found =
        options.tokenEndpoint !== undefined
          ? Promise.resolve(String(options.tokenEndpoint))
          : discoverTokenEndpoint(options.issuer as string | URL, fetch)
      // A failed discovery is tried again by the next call.
      found.catch(() => {
        if (endpoint === found) endpoint = undefined
      })
      endpoint = found
    }
    return endpoint
  }

  const obtain = async (): Promise<string> => {
    const parameters = new URLSearchParams({ grant_type: options.grant })
    if (options.grant === 'refresh_token') parameters.set('refresh_token', refreshToken as string)
    if (options.scope !== undefined) parameters.set('scope', options.scope)
    for (const resource of resources) parameters.append('resource', resource)
    const startedAt = Date.now()
    const token = await requestToken({
      tokenEndpoint: await tokenEndpoint(),
      parameters,
      client,
      fetch: post,
    })
    // RFC 6749 §6: the server may issue a new refresh token, and the client must then use it.
    if (token.refresh_token !== undefined) refreshToken = token.refresh_token
    const lifetime = token.expires_in
    current = {
      accessToken: token.access_token,
      // Counted from when the request left, and renewed a margin early (a request in flight
      // must not arrive with an expired token).
      renewAt:
        lifetime === undefined
          ? Number.POSITIVE_INFINITY
          : startedAt + (lifetime - Math.min(margin, lifetime / 2)) * 1000,
    }
    return token.access_token
  }

  return {
    getAccessToken() {
      if (current && Date.now() < current.renewAt) return Promise.resolve(current.accessToken)
      pending ??= obtain().finally(() => {
        pending = undefined
      })
      return pending
    },
    invalidate(accessToken?: string) {
      if (accessToken === undefined || current?.accessToken === accessToken) current = undefined
    },
    get refreshToken() {
      return refreshToken
    },
  }
}
