/**
 * @module bindings/dpop/proof
 *
 * Creation of DPoP proofs (RFC 9449 §4.2): the client side of the binding. It runs in browsers
 * as well as in Node: randomness and hashing come from WebCrypto (`globalThis.crypto`), never
 * from `node:crypto`.
 */
import { base64url, CompactSign } from 'jose'
import { CodedTypeError } from '../../errors.js'
import type { AsymmetricAlg } from '../../jose/algs.js'
import { algForKey, publicJwkOf, type SigningKey, toKeyPair } from '../../jose/keys.js'
import { htuOf } from './htu.js'

export interface CreateProofOptions {
  /** The client's DPoP key: a key pair (KeyObjects or CryptoKeys) or a private KeyObject. */
  key: SigningKey
  /** The JWS alg; by default the one that fits the key (see `algForKey`). */
  alg?: AsymmetricAlg
  /** The HTTP method of the request. */
  htm: string
  /** The URL of the request; query and fragment are removed (RFC 9449 §4.2). */
  htu: string | URL
  /** The access token the request carries: adds `ath`. */
  accessToken?: string
  /** A nonce the server provided in `DPoP-Nonce`. */
  nonce?: string
  /** Creation time in seconds since the epoch (default: now). */
  iat?: number
  /** Unique identifier (default: a random UUID). */
  jti?: string
}

/**
 * Creates a DPoP proof JWT: header `typ: dpop+jwt`, `alg`, `jwk` (the public key); claims
 * `jti`, `htm`, `htu`, `iat`, and `ath` and `nonce` when given.
 *
 * @returns the compact JWS, the value of the `DPoP` header.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function createProof(options: CreateProofOptions): Promise<string> {
  const { privateKey, publicKey } = toKeyPair(options.key)
  const alg = options.alg ?? algForKey(privateKey)
  const jwk = await publicJwkOf(publicKey)
  if (jwk.crv === 'Ed448') {
    // jose signs through WebCrypto, which has no Ed448; such proofs are still verified.
    throw new CodedTypeError('Ed448 keys cannot sign proofs: use Ed25519', 'ERR_INVALID_ARG_VALUE')
  }
  const claims = {
    jti: options.jti ?? crypto.randomUUID(),
    htm: options.htm,
    htu: htuOf(options.htu),
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    ...(options.accessToken === undefined ? {} : { ath: await athOf(options.accessToken) }),
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
  }
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: { ...jwk } })
    .sign(privateKey)
}

/**
 * The `ath` claim: "the base64url-encoded SHA-256 hash of the ASCII encoding of the associated
 * access token's value" (RFC 9449 §4.2), hashed with WebCrypto. The verifier computes the same
 * value synchronously with `computeAth` (`ath.ts`), which needs `node:crypto`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function athOf(accessToken: string): Promise<string> {
  // Access tokens are ASCII (RFC 6750 §2.1 b64token), so their UTF-8 encoding is the ASCII one.
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))
  return base64url.encode(new Uint8Array(digest))
}
