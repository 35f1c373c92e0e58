/**
 * @module server/tokens/bind
 *
 * The one place a token request gets its binding: which proof the client presented, whether
 * its token binding type requires one, and which confirmation (`cnf`) the tokens carry. Grants
 * call it; they never look at a proof themselves.
 */

import { DPoPProofError } from '../../bindings/dpop/errors.js'
import { type ProofPolicy, verifyTokenRequestProof } from '../../bindings/dpop/issue.js'
import { InvalidRequestError } from '../../errors.js'
import type { ClientRecord, Confirmation } from '../../store/types.js'
import type { ServerContext } from '../context.js'

export interface BindingRequest {
  readonly client: ClientRecord
  /** The `DPoP` header(s) of the request. */
  readonly dpop: string | readonly string[] | undefined
  /** The public URL of the endpoint the request came to: the proof's `htu`. */
  readonly endpoint: string
  /** The key the grant is already bound to (a `dpop_jkt` code, a bound refresh token). */
  readonly requiredJkt?: string | undefined
}

/** The client must prove possession of a key on every token request (RFC 9449 §5.2). */
export function requiresProof(client: ClientRecord): boolean {
  return client.token_binding === 'dpop' || client.dpop_bound_access_tokens
}

/**
 * @returns the confirmation for the tokens, or `null` for a bearer token.
 * @throws {DPoPProofError} when a proof is present but invalid, or required but missing.
 */
export async function bindTokenRequest(
  request: BindingRequest,
  context: ServerContext,
): Promise<Confirmation | null> {
  if (request.client.token_binding === 'mtls' || request.client.token_binding === 'pop') {
    // The certificate and signed-request bindings plug in here (their own issues).
    throw new InvalidRequestError(
      `token_binding "${request.client.token_binding}" is not available`,
    )
  }
  if (request.dpop === undefined) {
    if (request.requiredJkt !== undefined) {
      throw new DPoPProofError('missing_proof', { detail: 'the grant is bound to a DPoP key' })
    }
    if (requiresProof(request.client)) {
      throw new DPoPProofError('missing_proof', { detail: 'the client requires DPoP' })
    }
    // A client whose binding type is `none` gets a bearer token without a proof, and a bound
    // token when it sends one.
    return null
  }
  const { cnf } = await verifyTokenRequestProof(
    request.dpop,
    request.endpoint,
    proofPolicyOf(context),
    request.requiredJkt,
  )
  return cnf
}

/** How the server checks proofs at its own endpoints (token, PAR), from the configuration. */
export function proofPolicyOf(context: ServerContext): ProofPolicy {
  const { config } = context
  return {
    algs: config.dpop.algs,
    maxAge: config.dpop.iatWindow,
    clockTolerance: config.dpop.clockTolerance,
    replayCache: context.replayCache,
    ...(context.nonces ? { nonce: context.nonces } : {}),
  }
}

/**
 * Checks a confirmation from {@link bindTokenRequest} against the key a grant turned out to be
 * bound to, for a grant whose binding is only known once it has been spent: an authorization
 * code is consumed after its proof is verified, so that a `use_dpop_nonce` answer (RFC 9449 §8)
 * does not burn it. RFC 9449 §10: a code bound by `dpop_jkt` needs a proof of that key.
 *
 * @throws {DPoPProofError} `missing_proof` without a proof, `jkt_mismatch` for another key.
 */
export function checkBoundKey(cnf: Confirmation | null, requiredJkt: string | null): void {
  if (requiredJkt === null) return
  if (!cnf?.jkt) {
    throw new DPoPProofError('missing_proof', { detail: 'the grant is bound to a DPoP key' })
  }
  if (cnf.jkt !== requiredJkt) {
    throw new DPoPProofError('jkt_mismatch', { detail: `bound ${requiredJkt}, proof ${cnf.jkt}` })
  }
}
