/**
 * @module bindings/dpop/errors
 *
 * The typed error of DPoP proof verification (RFC 9449 §4.3, §7.1, §8, §12.2).
 */
import { OAuthError } from '../../errors.js'

/**
 * Every precise reason a DPoP proof is refused, in the order of the checks that find them.
 * Meant for logs and metrics labels; the client only sees `error` and a short description.
 */
export const DPOP_FAILURE_REASONS = [
  'missing_proof',
  'multiple_proofs',
  'proof_too_large',
  'malformed_jws',
  'bad_base64url',
  'bad_json',
  'not_object',
  'duplicate_member',
  'bad_typ',
  'alg_not_allowed',
  'jwk_missing',
  'jwk_private',
  'jwk_invalid',
  'jwk_alg_mismatch',
  'crit_unsupported',
  'b64_unsupported',
  'jti_invalid',
  'jti_too_long',
  'htm_invalid',
  'htu_invalid',
  'iat_invalid',
  'ath_missing',
  'bad_signature',
  'htm_mismatch',
  'htu_mismatch',
  'nonce_missing',
  'nonce_invalid',
  'iat_too_old',
  'iat_in_future',
  'ath_mismatch',
  'jkt_mismatch',
  'replayed_jti',
] as const

export type DPoPFailureReason = (typeof DPOP_FAILURE_REASONS)[number]

/** Short, safe sentences for the client: they name the check, never a value. */
const DESCRIPTIONS: Readonly<Record<DPoPFailureReason, string>> = {
  missing_proof: 'DPoP proof is missing',
  multiple_proofs: 'more than one DPoP header',
  proof_too_large: 'DPoP proof is too large',
  malformed_jws: 'DPoP proof is not a compact JWS',
  bad_base64url: 'DPoP proof is not base64url',
  bad_json: 'DPoP proof is not valid JSON',
  not_object: 'DPoP proof header or claims are not a JSON object',
  duplicate_member: 'DPoP proof has duplicate JSON members',
  bad_typ: 'DPoP proof "typ" must be "dpop+jwt"',
  alg_not_allowed: 'DPoP proof "alg" is not allowed',
  jwk_missing: 'DPoP proof "jwk" is missing',
  jwk_private: 'DPoP proof "jwk" must be a public key',
  jwk_invalid: 'DPoP proof "jwk" is invalid',
  jwk_alg_mismatch: 'DPoP proof "jwk" does not fit "alg"',
  crit_unsupported: 'DPoP proof "crit" is not supported',
  b64_unsupported: 'DPoP proof "b64" is not supported',
  jti_invalid: 'DPoP proof "jti" is missing or invalid',
  jti_too_long: 'DPoP proof "jti" is too long',
  htm_invalid: 'DPoP proof "htm" is missing or invalid',
  htu_invalid: 'DPoP proof "htu" is missing or invalid',
  iat_invalid: 'DPoP proof "iat" is missing or invalid',
  ath_missing: 'DPoP proof "ath" is missing',
  bad_signature: 'DPoP proof signature is invalid',
  htm_mismatch: 'DPoP proof "htm" does not match the request',
  htu_mismatch: 'DPoP proof "htu" does not match the request',
  nonce_missing: 'DPoP proof must carry the server nonce',
  nonce_invalid: 'DPoP proof nonce is invalid or stale',
  iat_too_old: 'DPoP proof is too old',
  iat_in_future: 'DPoP proof "iat" is in the future',
  ath_mismatch: 'DPoP proof "ath" does not match the access token',
  jkt_mismatch: 'DPoP proof key does not match the bound key',
  replayed_jti: 'DPoP proof has been used before',
}

/**
 * A DPoP proof was refused. `error` is `invalid_dpop_proof`, or `use_dpop_nonce` when the
 * proof lacks a valid server nonce, in which case `nonce` holds the fresh nonce to send in the
 * `DPoP-Nonce` header (RFC 9449 §8, §9). The default `status` is the token endpoint's 400;
 * a resource server answers 401 with a `WWW-Authenticate: DPoP` challenge (§7.1).
 */
export class DPoPProofError extends OAuthError {
  declare readonly reason: DPoPFailureReason
  readonly nonce: string | undefined

  constructor(reason: DPoPFailureReason, options: { detail?: string; nonce?: string } = {}) {
    const useNonce = reason === 'nonce_missing' || reason === 'nonce_invalid'
    super(useNonce ? 'use_dpop_nonce' : 'invalid_dpop_proof', {
      status: 400,
      description: DESCRIPTIONS[reason],
      reason,
      ...(options.detail === undefined ? {} : { detail: options.detail }),
    })
    this.nonce = options.nonce
  }
}
