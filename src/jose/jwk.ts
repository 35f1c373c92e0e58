/**
 * @module jose/jwk
 *
 * Public JWKs received from the other party (the `jwk` header of a DPoP proof, the `cnf.jwk` of
 * a PoP token): checks that they are public, well-formed and fit the `alg`, computes their
 * RFC 7638 thumbprint and imports them. Header-supplied keys are attacker-controlled input.
 */
import { createPublicKey, hash, type KeyObject } from 'node:crypto'
import { ALGS, type AsymmetricAlg, MIN_RSA_MODULUS_BITS } from './algs.js'
import { decodeBase64url } from './base64url.js'

export interface PublicJwk {
  readonly kty: 'EC' | 'RSA' | 'OKP'
  readonly crv?: string
  readonly x?: string
  readonly y?: string
  readonly n?: string
  readonly e?: string
  readonly [member: string]: unknown
}

/** Private key members of RFC 7518 §6.2.2, §6.3.2 and RFC 8037 §2 (and `k` of octet keys). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** Coordinate length in bytes per curve (RFC 7518 §6.2.1.2, RFC 8037 §2). */
const COORDINATE_BYTES: Readonly<Record<string, number>> = {
  'P-256': 32,
  'P-384': 48,
  'P-521': 66,
  Ed25519: 32,
  Ed448: 57,
}

/** Why a JWK was refused. */
export type JwkFailure = 'jwk_missing' | 'jwk_private' | 'jwk_invalid' | 'jwk_alg_mismatch'

/**
 * Checks that `jwk` is a well-formed public key whose type and curve fit `alg`.
 *
 * @returns `undefined` when it is, else why not.
 */
export function checkPublicJwk(jwk: unknown, alg: AsymmetricAlg): JwkFailure | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'jwk_missing'
  const k = jwk as Record<string, unknown>
  // RFC 9449 §4.3 step 7: "the jwk JOSE Header Parameter does not contain a private key".
  for (const member of PRIVATE_MEMBERS) if (member in k) return 'jwk_private'
  const spec = ALGS[alg]
  if (k.kty !== spec.kty) return typeof k.kty === 'string' ? 'jwk_alg_mismatch' : 'jwk_invalid'
  if (spec.kty === 'RSA') {
    const n = typeof k.n === 'string' ? decodeBase64url(k.n) : undefined
    const e = typeof k.e === 'string' ? decodeBase64url(k.e) : undefined
    if (!n || !e || n.length === 0 || e.length === 0 || n[0] === 0) return 'jwk_invalid'
    if (n.length * 8 < MIN_RSA_MODULUS_BITS) return 'jwk_alg_mismatch'
    return undefined
  }
  if (typeof k.crv !== 'string' || !(k.crv in COORDINATE_BYTES)) return 'jwk_invalid'
  if (!spec.crv?.includes(k.crv)) return 'jwk_alg_mismatch'
  const size = COORDINATE_BYTES[k.crv]
  if (typeof k.x !== 'string' || decodeBase64url(k.x)?.length !== size) return 'jwk_invalid'
  if (spec.kty === 'EC' && (typeof k.y !== 'string' || decodeBase64url(k.y)?.length !== size)) {
    return 'jwk_invalid'
  }
  return undefined
}

/**
 * The members that define a public key, in lexicographic order (RFC 7638 §3.2). Building the
 * key from these alone also drops anything else the sender put in the JWK.
 */
function requiredMembers(jwk: PublicJwk): Record<string, string> {
  switch (jwk.kty) {
    case 'EC':
      return { crv: jwk.crv as string, kty: 'EC', x: jwk.x as string, y: jwk.y as string }
    case 'RSA':
      return { e: jwk.e as string, kty: 'RSA', n: jwk.n as string }
    case 'OKP':
      return { crv: jwk.crv as string, kty: 'OKP', x: jwk.x as string }
  }
}

/**
 * The JWK SHA-256 Thumbprint (RFC 7638 §3), base64url-encoded: the `jkt` of RFC 9449 §6.1.
 * Its members are base64url strings and registered names, so `JSON.stringify` of the ordered
 * object is exactly the RFC's canonical form (no whitespace, nothing to escape).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
 */
export function jwkThumbprint(jwk: PublicJwk): string {
  return hash('sha256', JSON.stringify(requiredMembers(jwk)), 'base64url')
}

/**
 * Imports a JWK already accepted by {@link checkPublicJwk}. OpenSSL checks that an EC point is
 * on its curve; an invalid key throws.
 */
export function importPublicJwk(jwk: PublicJwk): KeyObject {
  return createPublicKey({ key: requiredMembers(jwk), format: 'jwk' })
}
