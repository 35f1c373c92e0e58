/**
 * @module client/token-source
 *
 * A source of DPoP-bound access tokens for one client: it obtains them from the token endpoint
 * by the client credentials grant (RFC 6749 §4.4) or a refresh token (RFC 6749 §6), keeps each
 * until shortly before it expires, and renews it.
 */
import type { AsymmetricAlg } from '../jose/algs.js'
import type { SigningKey } from '../jose/keys.js'
import type { ClientAuthenticationMethod } from './client-authentication.js'
import { dpopFetch, type FetchLike } from './dpop-fetch.js'
import { discoverTokenEndpoint } from './metadata.js'
import {
  type GrantOptions,
  keepTokens,
  memoize,
  type TokenSource,
  validateGrantOptions,
} from './token-keeper.js'
import { requestToken } from './token-request.js'

export type { TokenSource } from './token-keeper.js'

export interface TokenSourceOptions extends GrantOptions {
  /**
   * How the client authenticates (RFC 6749 §2.3.1): `client_secret_basic` (the default with a
   * secret), `client_secret_post`, or `none` (the default without one: a public client).
   */
  clientAuthentication?: ClientAuthenticationMethod
  /** The DPoP key the tokens are bound to; use the same key with `dpopFetch`. */
  key: SigningKey
  /** The JWS alg of the proofs; by default the one that fits the key. */
  alg?: AsymmetricAlg
  /** The `fetch` for the metadata and token requests (default: the global `fetch`). */
  fetch?: FetchLike
}

const METHODS: readonly ClientAuthenticationMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'none',
]

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
  validateGrantOptions(options, METHODS)
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
  const tokenEndpoint = memoize(() =>
    options.tokenEndpoint !== undefined
      ? Promise.resolve(String(options.tokenEndpoint))
      : discoverTokenEndpoint(options.issuer as string | URL, fetch),
  )
  return keepTokens(options, async (parameters) =>
    requestToken({ tokenEndpoint: await tokenEndpoint(), parameters, client, fetch: post }),
  )
}
