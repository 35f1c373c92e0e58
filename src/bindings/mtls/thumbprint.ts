/**
 * @module bindings/mtls/thumbprint
 *
 * The certificate thumbprint of RFC 8705 §3.1: `x5t#S256`, the base64url SHA-256 of the
 * certificate's DER encoding. Always computed over the DER, never over a PEM or header text.
 */
import { hash, X509Certificate } from 'node:crypto'

/** A client certificate as the TLS layer or a parser gives it. */
export type ClientCertificate = X509Certificate | Uint8Array

/** `x5t#S256` of a certificate (RFC 8705 §3.1). */
export function certificateThumbprint(certificate: ClientCertificate): string {
  const der = certificate instanceof X509Certificate ? certificate.raw : certificate
  return hash('sha256', der, 'base64url')
}
