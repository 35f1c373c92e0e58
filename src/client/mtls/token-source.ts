/**
 * @module client/mtls/token-source
 *
 * A source of certificate-bound access tokens (RFC 8705 §3) for one client: token requests go
 * over a TLS connection that presents the client's certificate, to the token endpoint's
 * mutual-TLS alias when the server has one (§5), and the tokens are checked to be bound to that
 * certificate. The keeping and renewing is `createTokenSource`'s.
 */
import type { Dispatcher } from 'undici'
import { CodedTypeError } from '../../errors.js'
import type { MtlsClientAuthenticationMethod } from '../client-authentication.js'
import { UnexpectedResponseError } from '../errors.js'
import { discoverTokenEndpoints } from '../metadata.js'
import {
  type GrantOptions,
  keepTokens,
  memoize,
  type TokenSource,
  validateGrantOptions,
} from '../token-keeper.js'
import { requestToken } from '../token-request.js'
import { type MtlsAgentOptions, type MtlsFetch, mtlsFetch, thumbprintOf } from './agent.js'
import { checkCertificateConfirmation } from './confirmation.js'

/** A dispatcher that already presents the certificate `cert`. */
export interface MtlsDispatcherOptions {
  /** The certificate the dispatcher presents, PEM: the tokens are checked to be bound to it. */
  cert: string | Uint8Array
  dispatcher: Dispatcher
}

export interface MtlsTokenSourceOptions extends GrantOptions {
  /**
   * The certificate to present, and bind the tokens to: `{ cert, key, ca? }` (and any other
   * {@link mtlsAgent} option; a `createClientCertificate` result fits as it is), or
   * `{ cert, dispatcher }` for a dispatcher that presents `cert`.
   */
  mtls: MtlsAgentOptions | MtlsDispatcherOptions
  /**
   * How the client authenticates: `client_secret_basic` (the default with a secret),
   * `client_secret_post`, or, without a secret, `tls_client_auth` (the default),
   * `self_signed_tls_client_auth` or `none`. These three send the same request, only `client_id`
   * (RFC 8705 §2): the server authenticates the client by the method it registered.
   */
  clientAuthentication?: MtlsClientAuthenticationMethod
}

/** Certificate-bound access tokens, kept and renewed: see {@link createMtlsTokenSource}. */
export interface MtlsTokenSource extends TokenSource {
  /** `x5t#S256` of the certificate presented: the `cnf` of the tokens (RFC 8705 §3.1). */
  readonly thumbprint: string
  /**
   * A `fetch` presenting the same certificate, through the same dispatcher: call the APIs with it,
   * the token as `Authorization: Bearer`.
   */
  readonly fetch: MtlsFetch
  /** Closes the dispatcher the source made (not one it was given). */
  close(): Promise<void>
}

const METHODS: readonly MtlsClientAuthenticationMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'tls_client_auth',
  'self_signed_tls_client_auth',
  'none',
]

const isHttps = (url: string) => URL.canParse(url) && new URL(url).protocol === 'https:'

/**
 * Creates a {@link MtlsTokenSource}: tokens by the client credentials grant (RFC 6749 §4.4) or a
 * refresh token (§6), requested over TLS connections that present `mtls.cert`.
 *
 * - The token endpoint is `tokenEndpoint`, or from the metadata of `issuer` (fetched through the
 *   same dispatcher, so the server's certificate is checked against the same `ca`):
 *   `mtls_endpoint_aliases.token_endpoint` when present (RFC 8705 §5), else `token_endpoint`. It
 *   must be `https`: no certificate can be presented otherwise.
 * - The client authenticates with its certificate (`tls_client_auth`,
 *   `self_signed_tls_client_auth`: only `client_id` in the body, §2) or with its secret; either
 *   way the server may bind the token to the certificate (§3).
 * - The answer must have `token_type` `Bearer` (§3: a certificate-bound token is presented as a
 *   bearer token), and an access token that is a JWT must carry `cnf["x5t#S256"]` equal to the
 *   certificate's thumbprint: a token the server did not bind, or bound to another certificate,
 *   is refused. An opaque token cannot be checked by the client.
 *
 * @throws {CodedTypeError} at once for invalid options (an unreadable certificate, a key of
 *   another certificate, an `http` `tokenEndpoint`, ...).
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-3
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-5
 */
export function createMtlsTokenSource(options: MtlsTokenSourceOptions): MtlsTokenSource {
  validateGrantOptions(options, METHODS)
  const { mtls } = options
  if (typeof mtls !== 'object' || mtls === null) {
    throw new CodedTypeError(
      '"mtls" must be { cert, key } or { cert, dispatcher }',
      'ERR_INVALID_ARG_TYPE',
    )
  }
  if (options.tokenEndpoint !== undefined && !isHttps(String(options.tokenEndpoint))) {
    throw new CodedTypeError(
      '"tokenEndpoint" must be an https URL: a client certificate is presented over TLS',
      'ERR_INVALID_ARG_VALUE',
    )
  }
  const thumbprint = thumbprintOf(mtls.cert)
  const given = 'dispatcher' in mtls && mtls.dispatcher !== undefined
  const fetch = mtlsFetch(given ? mtls.dispatcher : (mtls as MtlsAgentOptions))
  const client = {
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    method:
      options.clientAuthentication ??
      (options.clientSecret ? 'client_secret_basic' : 'tls_client_auth'),
  } as const

  const tokenEndpoint = memoize(async () => {
    if (options.tokenEndpoint !== undefined) return String(options.tokenEndpoint)
    const endpoints = await discoverTokenEndpoints(options.issuer as string | URL, fetch)
    const endpoint = endpoints.mtlsTokenEndpoint ?? endpoints.tokenEndpoint
    if (!isHttps(endpoint)) {
      throw new UnexpectedResponseError(
        'metadata_invalid',
        200,
        `the metadata has no https token endpoint (no mtls_endpoint_aliases.token_endpoint, and token_endpoint is ${endpoint}): no client certificate can be presented`,
      )
    }
    return endpoint
  })

  const source = keepTokens(
    options,
    async (parameters) =>
      requestToken({
        tokenEndpoint: await tokenEndpoint(),
        parameters,
        client,
        fetch,
        tokenType: 'Bearer',
      }),
    (token) => checkCertificateConfirmation(token.access_token, thumbprint),
  )

  return {
    getAccessToken: () => source.getAccessToken(),
    invalidate: (accessToken?: string) => source.invalidate(accessToken),
    get refreshToken() {
      return source.refreshToken
    },
    thumbprint,
    fetch,
    close: async () => {
      if (!given) await fetch.dispatcher.close()
    },
  }
}
