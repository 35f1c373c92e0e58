/**
 * @module keybound/server
 *
 * The authorization server: `createAuthorizationServer(config)`, and what its token endpoint
 * is made of, for embedding: DPoP proof verification (RFC 9449 §5), nonces (§8), replay
 * detection (§11.1); the client certificate of a request, forwarded certificates and
 * certificate client authentication (RFC 8705 §2, §3).
 */
export * from '../bindings/dpop/index.js'
export { type TokenRequestProof, verifyTokenRequestProof } from '../bindings/dpop/issue.js'
export * from '../bindings/mtls/index.js'
export {
  certificateConfirmation,
  matchesRegisteredKey,
  matchTlsClientAuth,
  TLS_CLIENT_AUTH_NAMES,
  type TlsClientAuthFailure,
} from '../bindings/mtls/issue.js'
export { type Config, ConfigError, loadConfig, parseConfig } from '../config/index.js'
export * from '../errors.js'
export { ASYMMETRIC_ALGS, type AsymmetricAlg } from '../jose/algs.js'
export { jwkThumbprint, type PublicJwk } from '../jose/jwk.js'
export * from '../replay/index.js'
export { openStore } from '../store/open.js'
export type { Store } from '../store/types.js'
export {
  type AuthorizationServer,
  type BoundAddress,
  type CreateServerOptions,
  createAuthorizationServer,
} from './server.js'
