/**
 * @module server/client-auth
 *
 * Client authentication at the token, PAR, introspection and revocation endpoints
 * (RFC 6749 §2.3): find the one method the request uses, load the client, check that it is the
 * client's registered method, then check the credential.
 *
 * A request that names its client with `client_id` alone is detected as `none`; for a client
 * registered for `tls_client_auth` or `self_signed_tls_client_auth` (RFC 8705 §2), that same
 * request is one of those, and its TLS client certificate is the credential.
 */
import { InvalidClientError, InvalidRequestError } from '../../errors.js'
import type { ClientRecord, TokenEndpointAuthMethod } from '../../store/types.js'
import type { ServerContext } from '../context.js'
import { clientSecretBasic } from './client_secret_basic.js'
import { clientSecretPost } from './client_secret_post.js'
import { none } from './none.js'
import { privateKeyJwt } from './private_key_jwt.js'
import { selfSignedTlsClientAuth } from './self_signed_tls_client_auth.js'
import { tlsClientAuth } from './tls_client_auth.js'
import type { ClientAuthMethod, ClientAuthRequest } from './types.js'

export type { ClientAuthRequest } from './types.js'

/** Every method, by IANA name. Order matters only for detection, which must be unambiguous. */
export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  clientSecretBasic,
  clientSecretPost,
  privateKeyJwt,
  none,
  tlsClientAuth,
  selfSignedTlsClientAuth,
]

/** The methods that authenticate with a TLS client certificate (RFC 8705 §2). */
export const CERTIFICATE_METHODS: ReadonlyMap<TokenEndpointAuthMethod, ClientAuthMethod> = new Map(
  [tlsClientAuth, selfSignedTlsClientAuth].map((method) => [method.name, method]),
)

/** The methods this server offers: the certificate ones only when certificates can reach it. */
export function supportedAuthMethods(context: ServerContext): TokenEndpointAuthMethod[] {
  return CLIENT_AUTH_METHODS.map((m) => m.name).filter(
    (name) => context.mtls.enabled || !CERTIFICATE_METHODS.has(name),
  )
}

export interface AuthenticatedClient {
  readonly client: ClientRecord
  readonly method: ClientAuthMethod['name']
}

/**
 * @throws {InvalidRequestError} when no method or more than one is used (RFC 6749 §2.3: "MUST
 *   NOT use more than one authentication method in each request").
 * @throws {InvalidClientError} when the client is unknown, registered for another method, or
 *   its credential is wrong.
 */
export async function authenticateClient(
  request: ClientAuthRequest,
  context: ServerContext,
): Promise<AuthenticatedClient> {
  const used = CLIENT_AUTH_METHODS.filter((method) => method.detect(request))
  const basicAndBody = used.length === 2 && used[0] === clientSecretBasic && used[1] === none
  if (used.length > 1 && !basicAndBody) {
    throw new InvalidRequestError('more than one client authentication method used')
  }
  let method = used[0]
  if (!method) throw new InvalidClientError('client authentication is required')
  const clientId = method.clientId(request)
  // With Basic, a client_id in the body is allowed (RFC 6749 §3.2.1) but must agree.
  if (basicAndBody && request.params.client_id !== clientId) {
    throw new InvalidRequestError('client_id does not match the Authorization header')
  }
  const client = clientId ? await context.clients.get(clientId) : undefined
  if (!client) throw new InvalidClientError('unknown client', { reason: 'unknown_client' })
  // RFC 8705 §2: `client_id` alone, from a client that authenticates with its certificate.
  const certificateMethod = CERTIFICATE_METHODS.get(client.token_endpoint_auth_method)
  if (method === none && certificateMethod && context.mtls.enabled) method = certificateMethod
  if (client.token_endpoint_auth_method !== method.name) {
    throw new InvalidClientError('client authentication method not allowed for this client', {
      reason: 'wrong_method',
      detail: `used ${method.name}, registered ${client.token_endpoint_auth_method}`,
    })
  }
  await method.authenticate(request, client, context)
  return { client, method: method.name }
}
