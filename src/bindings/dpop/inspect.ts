/**
 * @module bindings/dpop/inspect
 *
 * Explains a DPoP proof: runs every check of RFC 9449 §4.3 that the given context allows and
 * reports each as passed, failed (with its reason) or skipped, instead of stopping at the
 * first failure as `verifyProof` does. The checks are the same functions (`checks.ts`).
 */
import type { KeyObject } from 'node:crypto'
import { ASYMMETRIC_ALGS, type AsymmetricAlg } from '../../jose/algs.js'
import { jwkThumbprint, type PublicJwk } from '../../jose/jwk.js'
import type { JsonObject } from '../../jose/strict-json.js'
import {
  type CompactParts,
  checkAlg,
  checkAth,
  checkClaims,
  checkCrit,
  checkHtm,
  checkHtu,
  checkIat,
  checkJkt,
  checkJwk,
  checkNonce,
  checkSignature,
  checkTyp,
  decodeSegment,
  importProofKey,
  type ProofClaims,
  selectProof,
  splitCompact,
} from './checks.js'
import { type DPoPFailureReason, DPoPProofError } from './errors.js'

export interface InspectProofOptions {
  htm?: string
  htu?: string
  accessToken?: string
  expectedJkt?: string
  nonce?: string
  algs?: readonly AsymmetricAlg[]
  maxAge?: number
  clockTolerance?: number
  currentDate?: Date
}

export interface InspectionStep {
  /** The check, named after the claim or header parameter it is about. */
  readonly check: string
  readonly status: 'pass' | 'fail' | 'skip'
  readonly reason?: DPoPFailureReason
  /** For a failure: what was expected and received; for a skip: why. */
  readonly detail?: string
}

export interface Inspection {
  readonly valid: boolean
  readonly header?: JsonObject
  readonly payload?: JsonObject
  readonly jkt?: string
  readonly steps: readonly InspectionStep[]
}

/**
 * Runs the §4.3 checks one by one. Replay detection is not among them (it needs the server's
 * cache); `valid` means every check that ran passed and none was skipped for a failure.
 */
export function inspectProof(
  dpop: string | readonly string[],
  options: InspectProofOptions = {},
): Inspection {
  const steps: InspectionStep[] = []
  const run = <T>(check: string, fn: () => T): T | undefined => {
    try {
      const value = fn()
      steps.push({ check, status: 'pass' })
      return value
    } catch (err) {
      if (!(err instanceof DPoPProofError)) throw err
      steps.push({
        check,
        status: 'fail',
        reason: err.reason,
        detail: err.detail ?? err.error_description,
      })
      return undefined
    }
  }
  const skip = (check: string, detail: string) => steps.push({ check, status: 'skip', detail })
  const now = options.currentDate?.getTime() ?? Date.now()

  const proof = run('one DPoP header', () => selectProof(dpop))
  const parts: CompactParts | undefined =
    proof === undefined ? undefined : run('compact JWS', () => splitCompact(proof))
  const header = parts && run('header is a JSON object', () => decodeSegment(parts.header))
  const payload = parts && run('payload is a JSON object', () => decodeSegment(parts.payload))

  let alg: AsymmetricAlg | undefined
  let jwk: PublicJwk | undefined
  let key: KeyObject | undefined
  if (header) {
    run('typ', () => checkTyp(header))
    alg = run('alg', () => checkAlg(header, options.algs ?? ASYMMETRIC_ALGS))
    if (alg !== undefined) {
      const fit = alg
      jwk = run('jwk', () => checkJwk(header, fit))
    } else skip('jwk', 'alg failed')
    run('crit, b64', () => checkCrit(header))
    if (jwk) {
      const publicJwk = jwk
      key = run('jwk imports', () => importProofKey(publicJwk))
    }
  }
  const claims: ProofClaims | undefined =
    payload && run('required claims', () => checkClaims(payload, options.accessToken))

  if (parts && alg && key) {
    const [a, k, p] = [alg, key, parts]
    run('signature', () => checkSignature(a, k, p))
  } else skip('signature', 'no usable alg and jwk')

  const withClaims = (check: string, given: unknown, fn: (c: ProofClaims) => void) => {
    if (!claims) skip(check, 'claims failed')
    else if (given === undefined) skip(check, 'not given')
    else run(check, () => fn(claims))
  }
  withClaims('htm', options.htm, (c) => checkHtm(c.htm, options.htm as string))
  withClaims('htu', options.htu, (c) => checkHtu(c.htu, options.htu as string))
  withClaims('nonce', options.nonce, (c) => checkNonce(c.nonce, options.nonce as string, now))
  withClaims('iat', true, (c) =>
    checkIat(c.iat, now, options.maxAge ?? 60, options.clockTolerance ?? 5),
  )
  withClaims('ath', options.accessToken, (c) => checkAth(c.ath, options.accessToken as string))

  const jkt = jwk ? jwkThumbprint(jwk) : undefined
  if (jkt === undefined) skip('jkt', 'no usable jwk')
  else if (options.expectedJkt === undefined) skip('jkt', 'not given')
  else run('jkt', () => checkJkt(jkt, options.expectedJkt as string))

  return {
    valid: steps.every(
      (s) => s.status === 'pass' || (s.status === 'skip' && s.detail === 'not given'),
    ),
    ...(header ? { header } : {}),
    ...(payload ? { payload } : {}),
    ...(jkt ? { jkt } : {}),
    steps,
  }
}
