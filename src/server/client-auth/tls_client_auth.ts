/**
 * @module server/client-auth/tls_client_auth
 *
 * **tls_client_auth**: PKI mutual-TLS client authentication (RFC 8705 §2.1). The client sends
 * its `client_id` (§2.1: "MUST include the client_id parameter") over a TLS connection made
 * with a certificate that chains to a CA the server trusts (`tls.ca`, or
 * `mtls.certificateHeader.ca` behind a proxy) and that matches the one name the client
 * registered (§2.1.2): `tls_client_auth_subject_dn` (RFC 4514, compared as names) or one of
 * `tls_client_auth_san_dns`, `_san_uri`, `_san_ip`, `_san_email` (an entry of that type in the
 * certificate's subject alternative names).
 */
import { matchTlsClientAuth } from '../../bindings/mtls/issue.js'
import { InvalidClientError } from '../../errors.js'
import { requireCertificate } from './certificate.js'
import type { ClientAuthMethod } from './types.js'

export const tlsClientAuth: ClientAuthMethod = {
  name: 'tls_client_auth',
  // Never detected from the request: a `client_id` alone is detected as `none`, and the
  // client's registration says it is this method (see `authenticateClient`).
  detect: () => false,
  clientId: (request) => request.params.client_id,
  async authenticate(request, client) {
    const presented = requireCertificate(request)
    if (!presented.chainVerified) {
      throw new InvalidClientError('the TLS client certificate is not issued by a trusted CA', {
        reason: 'certificate_untrusted',
        detail: presented.chainProblem,
      })
    }
    const mismatch = await matchTlsClientAuth(presented.certificate, client.metadata)
    if (mismatch) {
      throw new InvalidClientError('the TLS client certificate is not the registered one', {
        reason: mismatch.failure,
        detail: mismatch.detail,
      })
    }
  },
}
