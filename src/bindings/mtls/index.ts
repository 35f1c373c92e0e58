/**
 * @module bindings/mtls
 *
 * The mutual-TLS binding (RFC 8705): certificate-bound tokens, `cnf["x5t#S256"]`. The issuing
 * side (client authentication and the token endpoint) comes with its own issue; the presenting
 * side is what a resource server checks.
 */
export { type CertificateBindingFailure, checkCertificateBinding } from './present.js'
export { type ClientCertificate, certificateThumbprint } from './thumbprint.js'
