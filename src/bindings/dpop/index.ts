/**
 * @module bindings/dpop
 *
 * The DPoP binding (RFC 9449): proofs created by the client, verified by the authorization
 * server (which then confirms the key as `cnf.jkt`) and by the resource server.
 */
export { computeAth } from './ath.js'
export { MAX_JTI_LENGTH, MAX_PROOF_LENGTH, type ProofClaims } from './checks.js'
export { DPOP_FAILURE_REASONS, type DPoPFailureReason, DPoPProofError } from './errors.js'
export { htuOf, normalizeHtu } from './htu.js'
export {
  type Inspection,
  type InspectionStep,
  type InspectProofOptions,
  inspectProof,
} from './inspect.js'
export { createNonceProvider, type NonceProviderOptions, type NonceSource } from './nonce.js'
export { checkProofPolicy, type Presentation, verifyPresentedProof } from './present.js'
export { type CreateProofOptions, createProof } from './proof.js'
export { type VerifiedProof, type VerifyProofOptions, verifyProof } from './verify.js'
