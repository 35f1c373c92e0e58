/**
 * @module bindings/dpop/present
 *
 * The presenting side of the DPoP binding: what a resource server checks when a DPoP-bound
 * access token is presented (RFC 9449 §7.1). Every check of §4.3 through the one proof engine,
 * with `ath` bound to the presented token and the proof key bound to the token's `cnf.jkt`.
 */
import type { VerifiedProof, VerifyProofOptions } from './verify.js'
import { verifyProof } from './verify.js'

export interface PresentedProofOptions
  extends Omit<VerifyProofOptions, 'accessToken' | 'expectedJkt'> {
  /** The access token of the `Authorization: DPoP` field. */
  accessToken: string
  /** The token's `cnf.jkt`: the thumbprint the proof key must have (RFC 9449 §6.1). */
  jkt: string
}

/**
 * @param dpop The `DPoP` header value(s) as received.
 * @throws {DPoPProofError} `invalid_dpop_proof`, `use_dpop_nonce`, or `jkt_mismatch` as reason
 *   when the proof is made with another key than the token is bound to.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function verifyPresentedProof(
  dpop: string | readonly string[] | undefined,
  options: PresentedProofOptions,
): Promise<VerifiedProof> {
  const { jkt, ...policy } = options
  return verifyProof(dpop, { ...policy, expectedJkt: jkt })
}
