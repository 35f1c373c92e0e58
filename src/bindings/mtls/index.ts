/**
 * @module bindings/mtls
 *
 * The mutual-TLS binding (RFC 8705): certificate-bound tokens, `cnf["x5t#S256"]`. The
 * presenting side is what a resource server checks (`present.ts`); the issuing side is client
 * authentication with a certificate and the confirmation of bound tokens (`issue.ts`). Both
 * read the client certificate of a request from the TLS connection or, behind a
 * TLS-terminating proxy, from a header (`client-certificate.ts`, `certificate-header.ts`).
 */
export {
  CERTIFICATE_HEADER_FORMATS,
  type CertificateHeaderFailure,
  type CertificateHeaderFormat,
  type CertificateHeaderResult,
  type CertificateHeaderSpec,
  DEFAULT_CERTIFICATE_HEADERS,
  type ForwardedCertificate,
  parseCertificateHeader,
  readCertificateHeader,
} from './certificate-header.js'
export { parsePemBundle, verifyChain } from './chain.js'
export {
  type CertificateFailure,
  type ClientCertificateOptions,
  type ClientCertificateSource,
  createClientCertificateSource,
  type PresentedCertificate,
} from './client-certificate.js'
export { type CertificateBindingFailure, checkCertificateBinding } from './present.js'
export { type ClientCertificate, certificateThumbprint } from './thumbprint.js'
