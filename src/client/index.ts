/**
 * @module keybound/client
 *
 * The client side of DPoP (RFC 9449): keys, proofs (§4.2), `fetch` with proofs and nonces
 * (§7, §8, §9), and DPoP-bound access tokens from a token endpoint (§5). The client side of
 * signed-request PoP tokens (IdentityServer3 / IdentityModel): `createPopSignature` and
 * `popFetch`, which sends `Authorization: PoP <jws>`.
 *
 * Everything here runs in browsers as well as in Node: it uses WebCrypto (`globalThis.crypto`)
 * and `fetch`, never `node:crypto`, so a bundler targeting browsers needs no polyfill. Node
 * `KeyObject`s are accepted where they exist. Mutual TLS (RFC 8705), which needs Node's TLS, is in
 * `keybound/client/node` (`./node.ts`), which re-exports all of this.
 */
export { htuOf } from '../bindings/dpop/htu.js'
export { athOf, type CreateProofOptions, createProof } from '../bindings/dpop/proof.js'
export {
  type CreatePopSignatureOptions,
  createPopSignature,
  type PopSigningKey,
  type PopSignParts,
} from '../bindings/pop/sign.js'
export { ASYMMETRIC_ALGS, type AsymmetricAlg } from '../jose/algs.js'
export { generateKeyPair } from '../jose/generate.js'
export type { PublicJwk } from '../jose/jwk.js'
export { algForKey, jktOf, type KeyPair, publicJwkOf, type SigningKey } from '../jose/keys.js'
export { type Challenge, parseChallenges } from './challenge.js'
export type { ClientAuthenticationMethod } from './client-authentication.js'
export {
  type AccessTokenSource,
  type DPoPFetch,
  type DPoPFetchOptions,
  dpopFetch,
  type FetchLike,
} from './dpop-fetch.js'
export {
  AuthorizationServerError,
  UnexpectedResponseError,
  type UnexpectedResponseReason,
} from './errors.js'
export { metadataUrl } from './metadata.js'
export {
  type PopFetch,
  type PopFetchOptions,
  type PopFetchSign,
  type PopRequestToSign,
  popFetch,
  popSignParts,
} from './pop-fetch.js'
export { isReplayableBody } from './request-body.js'
export type { TokenResponse } from './token-request.js'
export { createTokenSource, type TokenSource, type TokenSourceOptions } from './token-source.js'
export { useDPoPNonce } from './use-dpop-nonce.js'
