/**
 * @module client/token-keeper
 *
 * What every token source does, whatever binds its tokens: obtain a token by the client
 * credentials grant (RFC 6749 §4.4) or a refresh token (RFC 6749 §6), keep it until shortly
 * before it expires, share one request among concurrent callers, and keep the rotated refresh
 * token. `createTokenSource` (DPoP) and `createMtlsTokenSource` (mutual TLS) differ only in how
 * one token request is sent and checked.
 */
import { CodedTypeError } from '../errors.js'
import type { AccessTokenSource } from './dpop-fetch.js'
import type { TokenResponse } from './token-request.js'

/** Bound access tokens, kept and renewed: see `createTokenSource`, `createMtlsTokenSource`. */
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

/** The options every token source has. */
export interface GrantOptions {
  /** The token endpoint's URL. Give it, or `issuer`. */
  tokenEndpoint?: string | URL
  /** The authorization server's issuer identifier: the token endpoint is read from its RFC 8414 metadata. */
  issuer?: string | URL
  clientId: string
  /** The client secret of a confidential client. */
  clientSecret?: string
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
  /**
   * How many seconds before `expires_in` runs out a token is renewed (default 30; at most half
   * the token's lifetime).
   */
  expiryMargin?: number
}

const GRANTS = new Set(['client_credentials', 'refresh_token'])

/**
 * Checks the options every source shares, and that `clientAuthentication` is one of `methods`
 * (the secret methods needing `clientSecret`).
 *
 * @throws {CodedTypeError}
 */
export function validateGrantOptions(
  options: GrantOptions & { clientAuthentication?: string },
  methods: readonly string[],
): void {
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
  if (method !== undefined && !methods.includes(method)) {
    const list = `${methods.slice(0, -1).join(', ')} or ${methods.at(-1)}`
    throw new CodedTypeError(`"clientAuthentication" must be ${list}`, 'ERR_INVALID_ARG_VALUE')
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
 * A {@link TokenSource} whose tokens come from `request`, called with the grant's parameters
 * (`grant_type`, `refresh_token`, `scope`, `resource`). Concurrent callers share one request:
 * with a rotating refresh token, two refreshes at once would present the same token twice,
 * which a server treats as a theft (RFC 9700 §4.14.2) and answers by revoking the grant. A token
 * without `expires_in` is kept until `invalidate`; a failed request is not kept.
 *
 * `accept`, when given, checks each answer after its refresh token is kept (the server spent the
 * previous one when it rotated it) and before its access token is: it throws to refuse it.
 */
export function keepTokens(
  options: GrantOptions,
  request: (parameters: URLSearchParams) => Promise<TokenResponse>,
  accept?: (token: TokenResponse) => void,
): TokenSource {
  const resources =
    options.resource === undefined
      ? []
      : typeof options.resource === 'string'
        ? [options.resource]
        : [...options.resource]
  const margin = options.expiryMargin ?? 30

  let refreshToken = options.refreshToken
  let current: { accessToken: string; renewAt: number } | undefined
  let pending: Promise<string> | undefined

  const obtain = async (): Promise<string> => {
    const parameters = new URLSearchParams({ grant_type: options.grant })
    if (options.grant === 'refresh_token') parameters.set('refresh_token', refreshToken as string)
    if (options.scope !== undefined) parameters.set('scope', options.scope)
    for (const resource of resources) parameters.append('resource', resource)
    const startedAt = Date.now()
    const token = await request(parameters)
    // RFC 6749 §6: the server may issue a new refresh token, and the client must then use it.
    if (token.refresh_token !== undefined) refreshToken = token.refresh_token
    accept?.(token)
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

/**
 * A memo of an asynchronous lookup (the token endpoint, from the metadata): found once, and
 * looked up again by the next call after a failure.
 */
export function memoize<T>(find: () => Promise<T>): () => Promise<T> {
  let found: Promise<T> | undefined
  return () => {
    if (!found) {
      const attempt = find()
      attempt.catch(() => {
        if (found === attempt) found = undefined
      })
      found = attempt
    }
    return found
  }
}
