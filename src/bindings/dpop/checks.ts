/**
 * @module bindings/dpop/checks
 *
 * The checks of RFC 9449 §4.3, one function each. Each throws a {@link DPoPProofError} naming
 * its reason. `verify.ts` runs them in order and stops at the first failure; `inspect.ts` runs
 * them all to explain a refusal. Nothing about the proof format is written anywhere else.
 */
import type { KeyObject } from 'node:crypto'
import { type AsymmetricAlg, isAsymmetricAlg } from '../../jose/algs.js'
import { decodeBase64urlText } from '../../jose/base64url.js'
import { checkPublicJwk, importPublicJwk, type PublicJwk } from '../../jose/jwk.js'
import { verifyJwsSignature } from '../../jose/signature.js'
import { type JsonObject, parseJsonObject } from '../../jose/strict-json.js'
import { computeAth } from './ath.js'
import { DPoPProofError } from './errors.js'
import { normalizeHtu } from './htu.js'
import type { NonceSource } from './nonce.js'

/** Longest `DPoP` header value accepted, in characters (a 4096-bit RSA proof is under 2 KiB). */
export const MAX_PROOF_LENGTH = 8192
/** Longest `jti` accepted, in characters: it is stored by the replay cache. */
export const MAX_JTI_LENGTH = 256

/** RFC 9449 §4.3 step 1: "there is not more than one DPoP HTTP request header field". */
export function selectProof(values: string | readonly string[] | undefined): string {
  let value: string | undefined
  if (typeof values === 'string') value = values
  else if (Array.isArray(values)) {
    if (values.length > 1) throw new DPoPProofError('multiple_proofs')
    value = values[0]
  }
  if (value === undefined || value === '') throw new DPoPProofError('missing_proof')
  return value
}

export interface CompactParts {
  readonly proof: string
  readonly header: string
  readonly payload: string
  /** Where the signature segment begins (it is decoded only to be verified). */
  readonly signatureStart: number
}

/** RFC 9449 §4.3 step 2, first half: a compact JWS (RFC 7515 §7.1) of bounded size. */
export function splitCompact(proof: string): CompactParts {
  if (proof.length > MAX_PROOF_LENGTH) throw new DPoPProofError('proof_too_large')
  const first = proof.indexOf('.')
  const second = first === -1 ? -1 : proof.indexOf('.', first + 1)
  if (second === -1 || proof.indexOf('.', second + 1) !== -1) {
    // node:http joins repeated unknown headers with ", " (RFC 9110 §5.3). Two proofs joined
    // have more than two dots; looking for the comma only then keeps it off the common path.
    throw new DPoPProofError(proof.includes(',') ? 'multiple_proofs' : 'malformed_jws')
  }
  return {
    proof,
    header: proof.slice(0, first),
    payload: proof.slice(first + 1, second),
    signatureStart: second + 1,
  }
}

/** Decodes a header or payload segment into a JSON object with unique member names. */
export function decodeSegment(segment: string): JsonObject {
  const text = decodeBase64urlText(segment)
  if (text === undefined) throw new DPoPProofError('bad_base64url')
  if (text === null) throw new DPoPProofError('bad_json')
  const result = parseJsonObject(text)
  if (typeof result === 'string') throw new DPoPProofError(result)
  return result
}

/** RFC 9449 §4.3 step 4: "the typ JOSE Header Parameter has the value dpop+jwt". */
export function checkTyp(header: JsonObject): void {
  if (header.typ !== 'dpop+jwt')
    throw new DPoPProofError('bad_typ', { detail: `typ=${String(header.typ)}` })
}

/**
 * RFC 9449 §4.3 step 5: `alg` is a registered asymmetric algorithm, not `none`, and allowed by
 * local policy.
 */
export function checkAlg(header: JsonObject, algs: readonly AsymmetricAlg[]): AsymmetricAlg {
  const { alg } = header
  if (!isAsymmetricAlg(alg) || !algs.includes(alg)) {
    throw new DPoPProofError('alg_not_allowed', { detail: `alg=${String(alg)}` })
  }
  return alg
}

/** RFC 9449 §4.3 step 7 (checked before the signature): a public key that fits `alg`. */
export function checkJwk(header: JsonObject, alg: AsymmetricAlg): PublicJwk {
  const failure = checkPublicJwk(header.jwk, alg)
  if (failure) throw new DPoPProofError(failure)
  return header.jwk as PublicJwk
}

/**
 * No JWS extensions: keybound understands no `crit` parameter (RFC 7515 §4.1.11), and an
 * unencoded payload (RFC 7797 `b64`) has no place in a proof.
 */
export function checkCrit(header: JsonObject): void {
  if ('crit' in header) throw new DPoPProofError('crit_unsupported')
  if ('b64' in header) throw new DPoPProofError('b64_unsupported')
}

export function importProofKey(jwk: PublicJwk): KeyObject {
  try {
    return importPublicJwk(jwk)
  } catch (cause) {
    throw new DPoPProofError('jwk_invalid', { detail: String(cause) })
  }
}

/** The claims of RFC 9449 §4.2, once their presence and types are checked. */
export interface ProofClaims {
  readonly jti: string
  readonly htm: string
  readonly htu: string
  /** Seconds since the epoch. */
  readonly iat: number
  readonly ath?: string
  readonly nonce?: string
}

/**
 * RFC 9449 §4.3 step 3: "all required claims per Section 4.2 are contained in the JWT", with
 * the types §4.2 gives them; `ath` is required when an access token is presented.
 */
export function checkClaims(payload: JsonObject, accessToken: string | undefined): ProofClaims {
  const { jti, htm, htu, iat, ath, nonce } = payload
  if (typeof jti !== 'string' || jti.length === 0) throw new DPoPProofError('jti_invalid')
  if (jti.length > MAX_JTI_LENGTH) throw new DPoPProofError('jti_too_long')
  if (typeof htm !== 'string' || htm.length === 0) throw new DPoPProofError('htm_invalid')
  if (typeof htu !== 'string' || htu.length === 0) throw new DPoPProofError('htu_invalid')
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DPoPProofError('iat_invalid')
  if (accessToken !== undefined && typeof ath !== 'string') throw new DPoPProofError('ath_missing')
  const claims: { -readonly [K in keyof ProofClaims]: ProofClaims[K] } = { jti, htm, htu, iat }
  if (typeof ath === 'string') claims.ath = ath
  if (typeof nonce === 'string') claims.nonce = nonce
  return claims
}

/**
 * RFC 9449 §4.3 step 6: "the JWT signature verifies with the public key contained in the jwk".
 * The signature segment is decoded here, as it is verified (see jose/signature.ts).
 */
export function checkSignature(alg: AsymmetricAlg, key: KeyObject, parts: CompactParts): void {
  const verified = verifyJwsSignature(alg, key, parts.proof, parts.signatureStart)
  if (verified === undefined) throw new DPoPProofError('bad_base64url')
  if (!verified) throw new DPoPProofError('bad_signature')
}

/** RFC 9449 §4.3 step 8: `htm` matches the request method (methods are case-sensitive, RFC 9110 §9.1). */
export function checkHtm(claimed: string, method: string): void {
  if (claimed !== method) {
    throw new DPoPProofError('htm_mismatch', { detail: `htm=${claimed} method=${method}` })
  }
}

/**
 * RFC 9449 §4.3 step 9: `htu` matches the request URI, ignoring query and fragment, after
 * normalisation. `expected` is the URI the client called, as the server reconstructs it.
 */
export function checkHtu(claimed: string, expected: string): void {
  // Equal strings have equal normal forms: skip the parse on the common path.
  if (claimed === expected && (expected.startsWith('https://') || expected.startsWith('http://'))) {
    return
  }
  const want = normalizeHtu(expected)
  if (want === undefined)
    throw new TypeError(`"htu" option is not an absolute http(s) URI: ${expected}`)
  const got = normalizeHtu(claimed)
  if (got === undefined) throw new DPoPProofError('htu_invalid', { detail: `htu=${claimed}` })
  if (got !== want)
    throw new DPoPProofError('htu_mismatch', { detail: `htu=${claimed} expected=${want}` })
}

/**
 * RFC 9449 §4.3 step 10 (§8, §9): when the server demands a nonce, the proof carries a valid one.
 * Both failures are `use_dpop_nonce` and carry the fresh nonce for the `DPoP-Nonce` header.
 */
export function checkNonce(claimed: unknown, source: NonceSource | string, now: number): void {
  const fresh = typeof source === 'string' ? source : source.current(now)
  if (claimed === undefined || claimed === '')
    throw new DPoPProofError('nonce_missing', { nonce: fresh })
  const valid =
    typeof claimed === 'string' &&
    (typeof source === 'string' ? claimed === source : source.verify(claimed, now))
  if (!valid) throw new DPoPProofError('nonce_invalid', { nonce: fresh })
}

/**
 * RFC 9449 §4.3 step 11 and §11.1: the proof was created within the acceptable window,
 * `[now - maxAge - clockTolerance, now + clockTolerance]`, all in seconds.
 */
export function checkIat(iat: number, now: number, maxAge: number, clockTolerance: number): void {
  const seconds = now / 1000
  if (iat < seconds - maxAge - clockTolerance) {
    throw new DPoPProofError('iat_too_old', { detail: `iat=${iat} now=${Math.floor(seconds)}` })
  }
  if (iat > seconds + clockTolerance) {
    throw new DPoPProofError('iat_in_future', { detail: `iat=${iat} now=${Math.floor(seconds)}` })
  }
}

/**
 * RFC 9449 §4.3 step 12: `ath` equals the hash of the presented access token.
 *
 * @param expected The hash, when the caller has computed it already (a resource server keys its
 *   token cache by it).
 */
export function checkAth(
  ath: string | undefined,
  accessToken: string,
  expected = computeAth(accessToken),
): void {
  if (ath !== expected) throw new DPoPProofError('ath_mismatch')
}

/**
 * RFC 9449 §4.3 step 12 (and §10 for `dpop_jkt`): the proof key is the key the token (`cnf.jkt`)
 * or the authorization code (`dpop_jkt`) is bound to.
 */
export function checkJkt(jkt: string, expected: string): void {
  if (jkt !== expected)
    throw new DPoPProofError('jkt_mismatch', { detail: `jkt=${jkt} expected=${expected}` })
}
