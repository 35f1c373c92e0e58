/**
 * @module keybound/resource
 *
 * The resource server side: `createVerifier` checks access tokens (RFC 9068 JWTs or RFC 7662
 * introspection) and their binding (DPoP, RFC 9449 §7; mutual TLS, RFC 8705 §3; signed requests,
 * draft-ietf-oauth-signed-http-request §5) on every request, with its adapters for Express,
 * Fastify and node:http. The DPoP proof engine, server nonces (§9), replay caches (§11.1) and
 * the signed-request verifier are exported for direct use.
 */
export * from '../bindings/dpop/index.js'
export { type ClientCertificate, certificateThumbprint } from '../bindings/mtls/index.js'
export {
  POP_FAILURE_REASONS,
  type PopFailureReason,
  type PopPart,
  type PopPolicy,
  PopSignatureError,
  type VerifiedPopSignature,
  verifyPopSignature,
} from '../bindings/pop/index.js'
export * from '../errors.js'
export { ASYMMETRIC_ALGS, type AsymmetricAlg } from '../jose/algs.js'
export { jwkThumbprint, type PublicJwk } from '../jose/jwk.js'
export * from '../replay/index.js'
export { keyboundExpress, keyboundRequire } from './adapters/express.js'
export { type KeyboundFastifyOptions, keyboundFastify } from './adapters/fastify.js'
export {
  answerOf,
  type HttpAnswer,
  keepRawBody,
  MAX_BODY_SIZE,
  type NodeResponse,
  readNodeBody,
  sendResourceError,
  toResourceRequest,
} from './adapters/http.js'
export { metricsHandler } from './adapters/metrics-handler.js'
export {
  type ProtectedRequest,
  type ProtectOptions,
  protect,
  verifyNodeRequest,
} from './adapters/node-http.js'
export type { RequestHeaders } from './authorization.js'
export { type BindingName, ResourceError, type ResourceErrorCode } from './errors.js'
export type { IntrospectionOptions } from './introspection.js'
export type { AccessTokenClaims } from './jwt-access-token.js'
export { createVerifierMetrics, type VerifierMetrics } from './metrics.js'
export { DEFAULT_DPOP_ALGS, type VerifierLogger, type VerifierOptions } from './options.js'
export type { TrustProxy } from './request-url.js'
export {
  createVerifier,
  type Requirements,
  type ResourceRequest,
  type VerifiedRequest,
  type Verifier,
} from './verifier.js'
