/**
 * @module bindings/dpop/present
 *
 * The presenting side of the DPoP binding: what a resource server checks when a DPoP-bound
 * access token is presented (RFC 9449 §7.1). Every check of §4.3 through the one proof engine,
 * with `ath` bound to the presented token and the proof key bound to the token's `cnf.jkt`.
 */
import type { ProofPolicy } from './issue.js'
import type { VerifiedProof } from './verify.js'
import { validateProofPolicy, verifyCheckedProof } from './verify.js'

/** The request a DPoP-bound token is presented with. */
export interface Presentation {
  /** The request method (`htm`). */
  readonly htm: string
  /** The URL the client called (`htu`). */
  readonly htu: string
  /** The access token of the `Authorization: DPoP` field. */
  readonly accessToken: string
  /** Its `ath` (base64url SHA-256), when the caller has it already. */
  readonly accessTokenHash?: string | undefined
  /** The token's `cnf.jkt`: the thumbprint the proof key must have (RFC 9449 §6.1). */
  readonly jkt: string
}

/**
 * Checks a proof policy once, before it is used with {@link verifyPresentedProof}.
 *
 * @throws {CodedTypeError} naming the wrong option.
 */
export function checkProofPolicy(policy: ProofPolicy): ProofPolicy {
  validateProofPolicy(policy)
  return policy
}

/**
 * @param dpop The `DPoP` header value(s) as received.
 * @param policy How proofs are checked (algs, window, nonce, replay cache), the same for every
 *   request.
 * @throws {DPoPProofError} `invalid_dpop_proof`, `use_dpop_nonce`, or `jkt_mismatch` as reason
 *   when the proof is made with another key than the token is bound to.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function verifyPresentedProof(
  dpop: string | readonly string[] | undefined,
  presentation: Presentation,
  policy: ProofPolicy,
): Promise<VerifiedProof> {
  // Spelt out rather than spread, and the policy validated once (see `checkProofPolicy`): this
  // runs on every protected request.
  return verifyCheckedProof(dpop, {
    htm: presentation.htm,
    htu: presentation.htu,
    accessToken: presentation.accessToken,
    accessTokenHash: presentation.accessTokenHash,
    expectedJkt: presentation.jkt,
    algs: policy.algs,
    maxAge: policy.maxAge,
    clockTolerance: policy.clockTolerance,
    nonce: policy.nonce,
    replayCache: policy.replayCache,
    currentDate: policy.currentDate,
  })
}
