/**
 * @module jose/algs
 *
 * The asymmetric JWS algorithms keybound accepts for proofs (RFC 7518 §3, RFC 8037 §3.1,
 * RFC 9864 §2.2), and which key each one needs. RFC 9449 §4.3 step 5: the `alg` "indicates a
 * registered asymmetric digital signature algorithm, is not none". Symmetric (`HS*`) and `none`
 * are not in this table, so they can never be allowed.
 */

export type AsymmetricAlg =
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'EdDSA'
  | 'Ed25519'

export interface AlgSpec {
  readonly kty: 'EC' | 'RSA' | 'OKP'
  /** The curves this alg accepts (EC, OKP). */
  readonly crv?: readonly string[]
  /** Digest passed to `crypto.verify`; `null` for EdDSA, which hashes internally. */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null
  /** RSASSA-PSS (RFC 7518 §3.5: salt as long as the hash). */
  readonly pss?: true
  /** Exact signature length in bytes, where the alg fixes it (ECDSA's R || S, RFC 7518 §3.4). */
  readonly signatureLength?: number
}

export const ALGS: Readonly<Record<AsymmetricAlg, AlgSpec>> = {
  ES256: { kty: 'EC', crv: ['P-256'], hash: 'sha256', signatureLength: 64 },
  ES384: { kty: 'EC', crv: ['P-384'], hash: 'sha384', signatureLength: 96 },
  ES512: { kty: 'EC', crv: ['P-521'], hash: 'sha512', signatureLength: 132 },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  EdDSA: { kty: 'OKP', crv: ['Ed25519', 'Ed448'], hash: null },
  Ed25519: { kty: 'OKP', crv: ['Ed25519'], hash: null },
}

/** Every alg in {@link ALGS}, the default allow-list. */
export const ASYMMETRIC_ALGS = Object.freeze(Object.keys(ALGS)) as readonly AsymmetricAlg[]

export function isAsymmetricAlg(alg: unknown): alg is AsymmetricAlg {
  return typeof alg === 'string' && Object.hasOwn(ALGS, alg)
}

/** RFC 7518 §3.3 and §3.5: "A key of size 2048 bits or larger MUST be used". */
export const MIN_RSA_MODULUS_BITS = 2048
