/**
 * @module client/client-authentication
 *
 * How a confidential client authenticates at the token endpoint with its secret (RFC 6749
 * §2.3.1) or its TLS client certificate (RFC 8705 §2), and how a public client identifies itself
 * (RFC 6749 §3.2.1).
 */

/**
 * `client_secret_basic`, `client_secret_post` (RFC 6749 §2.3.1, the names of RFC 7591 §2) or
 * `none` (a public client, which only sends its `client_id`).
 */
export type ClientAuthenticationMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

/**
 * The methods of a client that presents a TLS certificate: those of
 * {@link ClientAuthenticationMethod}, and `tls_client_auth` (RFC 8705 §2.1, a certificate of a
 * CA the server trusts) or `self_signed_tls_client_auth` (§2.2, a certificate of a key the
 * client registered). The certificate authenticates the client in the TLS handshake: the request
 * itself carries only `client_id`, like `none`'s.
 */
export type MtlsClientAuthenticationMethod =
  | ClientAuthenticationMethod
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth'

export interface ClientCredentials {
  readonly clientId: string
  readonly clientSecret?: string | undefined
  readonly method: MtlsClientAuthenticationMethod
}

/** The application/x-www-form-urlencoded encoding of one value (WHATWG URL §5.2). */
const formEncode = (value: string): string => new URLSearchParams([['', value]]).toString().slice(1)

/**
 * Adds the client's authentication to a token request: an `Authorization: Basic` header whose
 * user and password are the form-urlencoded `client_id` and secret (RFC 6749 §2.3.1, so that
 * any character survives), or `client_id` and `client_secret` in the form, or for `none` and the
 * certificate methods just `client_id` (RFC 8705 §2: with mutual-TLS client authentication
 * "the client MUST include the client_id parameter").
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-2
 */
export function authenticateClient(
  client: ClientCredentials,
  headers: Headers,
  form: URLSearchParams,
): void {
  switch (client.method) {
    case 'client_secret_basic': {
      const credentials = `${formEncode(client.clientId)}:${formEncode(client.clientSecret ?? '')}`
      // Form-urlencoded text is ASCII, which is what btoa takes.
      headers.set('authorization', `Basic ${btoa(credentials)}`)
      return
    }
    case 'client_secret_post':
      form.set('client_id', client.clientId)
      form.set('client_secret', client.clientSecret ?? '')
      return
    case 'none':
    case 'tls_client_auth':
    case 'self_signed_tls_client_auth':
      form.set('client_id', client.clientId)
      return
  }
}
