/**
 * @module bindings/mtls/present
 *
 * The presenting side of certificate-bound access tokens (RFC 8705 §3): the token is sent with
 * the `Bearer` scheme over a TLS connection made with the client certificate whose thumbprint is
 * the token's `cnf["x5t#S256"]`.
 */
import { timingSafeEqual } from 'node:crypto'
import { type ClientCertificate, certificateThumbprint } from './thumbprint.js'

/** Why a certificate-bound token was refused. */
export type CertificateBindingFailure = 'certificate_missing' | 'x5t_mismatch'

/**
 * RFC 8705 §3: the resource "MUST verify that the certificate matches the certificate
 * associated with the access token. If they do not match, the resource access attempt MUST be
 * rejected with an error, per [RFC6750], using an HTTP 401 status code and the invalid_token
 * error code."
 *
 * @returns `undefined` when the certificate is the bound one, else why not, with the two
 *   thumbprints for the log.
 */
export function checkCertificateBinding(
  expected: string,
  certificate: ClientCertificate | undefined,
): { failure: CertificateBindingFailure; detail: string } | undefined {
  if (certificate === undefined) {
    return { failure: 'certificate_missing', detail: `expected x5t#S256=${expected}` }
  }
  const actual = certificateThumbprint(certificate)
  const a = Buffer.from(actual)
  const b = Buffer.from(expected)
  if (a.length === b.length && timingSafeEqual(a, b)) return undefined
  return { failure: 'x5t_mismatch', detail: `x5t#S256=${actual} expected=${expected}` }
}
