/**
 * @module server/client-auth/types
 */
import type { PresentedCertificate } from '../../bindings/mtls/client-certificate.js'
import type { ClientRecord, TokenEndpointAuthMethod } from '../../store/types.js'
import type { ServerContext } from '../context.js'

/** The parts of a request client authentication looks at (RFC 6749 §2.3). */
export interface ClientAuthRequest {
  readonly authorization: string | undefined
  readonly params: Readonly<Record<string, string>>
  /** The client certificate of the request (RFC 8705 §2), if one was presented. */
  readonly certificate?: PresentedCertificate | undefined
}

/**
 * One client authentication method: `detect` tells whether the request uses it, `authenticate`
 * checks the credential and answers the client (throwing `InvalidClientError` otherwise).
 */
export interface ClientAuthMethod {
  readonly name: TokenEndpointAuthMethod
  detect(request: ClientAuthRequest): boolean
  /** The client_id the request claims, before any check. */
  clientId(request: ClientAuthRequest): string | undefined
  authenticate(
    request: ClientAuthRequest,
    client: ClientRecord,
    context: ServerContext,
  ): Promise<void> | void
}
