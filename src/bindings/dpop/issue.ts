/**
 * @module bindings/dpop/issue
 *
 * The issuing side of the DPoP binding: what the authorization server checks on a token (or
 * PAR) request and which confirmation it puts in the token (RFC 9449 §5, §6.1).
 */
import type { Confirmation } from '../../store/types.js'
import type { VerifiedProof, VerifyProofOptions } from './verify.js'
import { verifyProof } from './verify.js'

export type ProofPolicy = Omit<VerifyProofOptions, 'htm' | 'htu' | 'accessToken' | 'expectedJkt'>

export interface TokenRequestProof {
  /** The confirmation to put in the access token: `{ jkt }` (RFC 9449 §6.1). */
  readonly cnf: Confirmation
  readonly proof: VerifiedProof
}

/**
 * Verifies the `DPoP` header of a request to an authorization server endpoint (no access token,
 * so no `ath`), and, when the grant is already bound to a key (a `dpop_jkt` code, a bound refresh
 * token), that the proof is made with that key.
 *
 * @param endpoint The endpoint's public URL: the `htu` the proof must carry.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function verifyTokenRequestProof(
  dpop: string | readonly string[] | undefined,
  endpoint: string,
  policy: ProofPolicy,
  expectedJkt?: string,
): Promise<TokenRequestProof> {
  const proof = await verifyProof(dpop, {
    ...policy,
    htm: 'POST',
    htu: endpoint,
    ...(expectedJkt === undefined ? {} : { expectedJkt }),
  })
  return { cnf: { jkt: proof.jkt }, proof }
}
