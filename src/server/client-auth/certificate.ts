/**
 * @module server/client-auth/certificate
 *
 * What the two certificate methods of RFC 8705 §2 share: a request that names its client with
 * `client_id` alone (as a public client does) authenticates with the TLS client certificate
 * when the client is registered for `tls_client_auth` or `self_signed_tls_client_auth`.
 */
import type { PresentedCertificate } from '../../bindings/mtls/client-certificate.js'
import { InvalidClientError } from '../../errors.js'
import type { ClientAuthRequest } from './types.js'

/** @throws {InvalidClientError} when the request came without a client certificate. */
export function requireCertificate(request: ClientAuthRequest): PresentedCertificate {
  if (request.certificate === undefined) {
    throw new InvalidClientError('a TLS client certificate is required', {
      reason: 'certificate_missing',
    })
  }
  return request.certificate
}
