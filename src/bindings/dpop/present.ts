/**
 * @module bindings/dpop/present
 *
 * The presenting side of the DPoP binding: what a resource server checks when a DPoP-bound
 * access token is presented (RFC 9449 §7.1). Every check of §4.3 through the one proof engine,
 * with `ath` bound to the presented token and the proof key bound to the token's `cnf.jkt`.
 */
import { ASYMMETRIC_ALGS } from '../../jose/algs.js'
import type { ProofPolicy } from './issue.js'
import {
  checkProofSignature,
  completeProof,
  type ReadProof,
  readProof,
  type VerifiedProof,
  validateProofPolicy,
} from './verify.js'

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
  return new PresentedProof(dpop, presentation.accessToken, policy).verify(presentation, policy)
}

/**
 * A proof presented with a token, read as soon as the request is, its signature checked when
 * the caller chooses, and the first failure kept until {@link PresentedProof.verify}.
 *
 * Why: a resource server checks the token's signature and then the proof's. Run back to back,
 * two ECDSA verifications cost less than with the token's claims and the proof's parsing
 * between them, because each evicts what the other left in the CPU caches (measured:
 * docs/benchmarks.md). Keeping the failure keeps the answer the same: a bad token is reported
 * before anything about its proof, and the proof's own checks fail in the order of RFC 9449
 * §4.3.
 */
export class PresentedProof {
  #read: ReadProof | undefined
  #failure: unknown
  #signed = false

  /** Reads the proof (§4.3 steps 1–5 and 7); never throws. */
  constructor(
    dpop: string | readonly string[] | undefined,
    accessToken: string,
    policy: ProofPolicy,
  ) {
    try {
      this.#read = readProof(dpop, policy.algs ?? ASYMMETRIC_ALGS, accessToken)
    } catch (failure) {
      this.#failure = failure
    }
  }

  /** Checks the signature now (§4.3 step 6) when the proof was read; never throws. */
  checkSignature(): void {
    if (this.#read === undefined || this.#signed) return
    this.#signed = true
    try {
      checkProofSignature(this.#read)
    } catch (failure) {
      this.#read = undefined
      this.#failure = failure
    }
  }

  /**
   * Every remaining check (§4.3, §7.1) and replay detection.
   *
   * @throws {DPoPProofError} the first failure, whenever it was found.
   */
  verify(presentation: Presentation, policy: ProofPolicy): Promise<VerifiedProof> {
    this.checkSignature()
    if (this.#read === undefined) return Promise.reject(this.#failure)
    // Spelt out rather than spread, and the policy validated once (see `checkProofPolicy`):
    // this runs on every protected request.
    return completeProof(this.#read, {
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
}
