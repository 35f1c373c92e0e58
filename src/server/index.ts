/**
 * @module keybound/server
 *
 * The authorization server side. So far: what the token endpoint needs to verify DPoP proofs
 * (RFC 9449 §5), demand nonces (§8) and detect replays (§11.1).
 */
export * from '../bindings/dpop/index.js'
export * from '../errors.js'
export { ASYMMETRIC_ALGS, type AsymmetricAlg } from '../jose/algs.js'
export { jwkThumbprint, type PublicJwk } from '../jose/jwk.js'
export * from '../replay/index.js'
