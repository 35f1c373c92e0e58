/**
 * @module keybound/client
 *
 * The client side: keys and DPoP proofs (RFC 9449 §4.2).
 */
export { computeAth } from '../bindings/dpop/ath.js'
export { htuOf } from '../bindings/dpop/htu.js'
export { type CreateProofOptions, createProof } from '../bindings/dpop/proof.js'
export { ASYMMETRIC_ALGS, type AsymmetricAlg } from '../jose/algs.js'
export { generateKeyPair } from '../jose/generate.js'
export type { PublicJwk } from '../jose/jwk.js'
export { jwkThumbprint } from '../jose/jwk.js'
export { algForKey, type KeyPair, publicJwkOf, type SigningKey } from '../jose/keys.js'
