/**
 * @module keybound/client/node
 *
 * Everything `keybound/client` has, and the client side of mutual TLS (RFC 8705), which needs
 * Node (a TLS client certificate cannot be chosen by a script in a browser):
 * - `createClientCertificate`: an ephemeral key pair and a self-signed certificate of it;
 * - `mtlsAgent`, `mtlsFetch`: an undici dispatcher presenting the certificate, and a `fetch`
 *   bound to it;
 * - `createMtlsTokenSource`: certificate-bound access tokens (§3) from the token endpoint's
 *   mutual-TLS alias (§5), checked to be bound to the certificate.
 *
 * `keybound/client` itself stays free of Node imports, for browser bundles.
 */
export { certificateThumbprint } from '../bindings/mtls/thumbprint.js'
export type { MtlsClientAuthenticationMethod } from './client-authentication.js'
export * from './index.js'
export {
  type MtlsAgentOptions,
  type MtlsFetch,
  mtlsAgent,
  mtlsFetch,
  thumbprintOf,
} from './mtls/agent.js'
export {
  CERTIFICATE_ALGS,
  type CertificateAlg,
  type CreateClientCertificateOptions,
  createClientCertificate,
  type SelfSignedCertificate,
} from './mtls/certificate.js'
export {
  createMtlsTokenSource,
  type MtlsDispatcherOptions,
  type MtlsTokenSource,
  type MtlsTokenSourceOptions,
} from './mtls/token-source.js'
