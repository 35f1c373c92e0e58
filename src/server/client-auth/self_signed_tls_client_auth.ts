/**
 * @module server/client-auth/self_signed_tls_client_auth
 *
 * **self_signed_tls_client_auth**: mutual-TLS client authentication with a self-signed
 * certificate (RFC 8705 §2.2). No chain is checked; the certificate must be one the client
 * registered in its JWK Set (`jwks` or `jwks_uri`, §2.2.2): the certificate `x5c[0]` of a JWK,
 * or, for a JWK without `x5c`, any certificate of that public key (see `matchesRegisteredKey`).
 * An unknown certificate re-fetches a `jwks_uri` once (outside jose's cooldown), so a client
 * that just published a new key is not refused for a stale cache.
 */
import { matchesRegisteredKey } from '../../bindings/mtls/issue.js'
import { InvalidClientError } from '../../errors.js'
import { requireCertificate } from './certificate.js'
import { registeredKeys } from './client-keys.js'
import type { ClientAuthMethod } from './types.js'

export const selfSignedTlsClientAuth: ClientAuthMethod = {
  name: 'self_signed_tls_client_auth',
  // Never detected from the request: see `tls_client_auth`.
  detect: () => false,
  clientId: (request) => request.params.client_id,
  async authenticate(request, client) {
    const { certificate, thumbprint } = requireCertificate(request)
    if (matchesRegisteredKey(certificate, await registeredKeys(client))) return
    if (client.jwks_uri && matchesRegisteredKey(certificate, await registeredKeys(client, true))) {
      return
    }
    throw new InvalidClientError('the TLS client certificate is not registered for the client', {
      reason: 'certificate_not_registered',
      detail: `x5t#S256=${thumbprint}`,
    })
  },
}
