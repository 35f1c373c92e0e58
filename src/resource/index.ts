/**
 * @module keybound/resource
 *
 * The resource server side: DPoP proof verification (RFC 9449 §4.3, §7), server nonces (§9)
 * and replay detection (§11.1).
 */
export * from '../bindings/dpop/index.js'
export * from '../errors.js'
export { ASYMMETRIC_ALGS, type AsymmetricAlg } from '../jose/algs.js'
export { jwkThumbprint, type PublicJwk } from '../jose/jwk.js'
export * from '../replay/index.js'
