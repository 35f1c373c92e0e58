/**
 * @module bindings/dpop/verify
 *
 * Verification of a DPoP proof (RFC 9449 §4.3), shared by the authorization server's token
 * endpoint and the resource server. The checks themselves are in `checks.ts`.
 */
import type { KeyObject } from 'node:crypto'
import { CodedTypeError } from '../../errors.js'
import { ASYMMETRIC_ALGS, type AsymmetricAlg, isAsymmetricAlg } from '../../jose/algs.js'
import { jwkThumbprint, type PublicJwk } from '../../jose/jwk.js'
import type { ReplayCache } from '../../replay/types.js'
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
import { DPoPProofError } from './errors.js'
import type { NonceSource } from './nonce.js'

export interface VerifyProofOptions {
  /** The request method (RFC 9110 §9), compared case-sensitively with `htm`. */
  htm: string
  /** The URI the client called (query and fragment are ignored), compared with `htu`. */
  htu: string
  /** The access token presented with the proof, at a resource server: `ath` is then required. */
  accessToken?: string
  /** `computeAth(accessToken)`, when the caller has it already: saves hashing the token twice. */
  accessTokenHash?: string
  /** The `jkt` the proof key must have: `cnf.jkt` of the token, or the `dpop_jkt` of a code. */
  expectedJkt?: string
  /** Allowed `alg` values (default: every asymmetric alg keybound supports). */
  algs?: readonly AsymmetricAlg[]
  /** How old a proof may be, in seconds, measured from `iat` (default 60). */
  maxAge?: number
  /** Clock skew allowed in both directions, in seconds (default 5). */
  clockTolerance?: number
  /**
   * The server demands a nonce: a {@link NonceSource}, or the one value it expects. With a
   * `NonceSource`, a valid nonce stands in for the `iat` window (RFC 9449 §11.1), so a client
   * with a wrong clock recovers in one retry.
   */
  nonce?: NonceSource | string
  /**
   * Where each `jti` is remembered for its window (RFC 9449 §11.1). `null` turns replay
   * detection off; it must be said explicitly.
   */
  replayCache: ReplayCache | null
  /** The current time (default: now). */
  currentDate?: Date
}

/** What a verified proof establishes. */
export interface VerifiedProof {
  /** The JWK SHA-256 thumbprint (RFC 7638) of the proof key: the `cnf.jkt` to bind to. */
  readonly jkt: string
  readonly jwk: PublicJwk
  readonly alg: AsymmetricAlg
  readonly claims: ProofClaims
  /** Epoch milliseconds after which the proof is no longer accepted (and its `jti` forgotten). */
  readonly expiresAt: number
}

/** A proof header whose `typ`, `alg`, `jwk` and `crit` are checked, with its imported key. */
export interface CheckedHeader {
  readonly alg: AsymmetricAlg
  readonly jwk: PublicJwk
  readonly key: KeyObject
  readonly jkt: string
}

/**
 * Headers already checked, by their base64url text. A client's proofs share one header (same
 * `typ`, `alg`, `jwk`), so after its first proof decoding the header, checking the key, importing
 * it and computing its thumbprint are skipped. A header's checks depend only on its text, so the
 * cache is sound; it is bounded, first in first out.
 */
const headers = new Map<string, CheckedHeader>()
const HEADER_CACHE_SIZE = 1024

function checkHeader(segment: string, algs: readonly AsymmetricAlg[]): CheckedHeader {
  const cached = headers.get(segment)
  if (cached) {
    if (!algs.includes(cached.alg)) {
      throw new DPoPProofError('alg_not_allowed', { detail: `alg=${cached.alg}` })
    }
    return cached
  }
  const header = decodeSegment(segment)
  checkTyp(header)
  const alg = checkAlg(header, algs)
  const jwk = checkJwk(header, alg)
  checkCrit(header)
  const checked = { alg, jwk, key: importProofKey(jwk), jkt: jwkThumbprint(jwk) }
  if (headers.size >= HEADER_CACHE_SIZE) headers.delete(headers.keys().next().value as string)
  headers.set(segment, checked)
  return checked
}

const validatedAlgs = new WeakSet<readonly AsymmetricAlg[]>()

function validateOptions(options: VerifyProofOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new CodedTypeError('"options" must be an object', 'ERR_INVALID_ARG_TYPE')
  }
  if (typeof options.htm !== 'string' || typeof options.htu !== 'string') {
    throw new CodedTypeError(
      '"options.htm" and "options.htu" must be strings',
      'ERR_INVALID_ARG_TYPE',
    )
  }
  validateProofPolicy(options)
}

/**
 * Validates the options that are the same for every request (replay cache, algs, window).
 *
 * @throws {CodedTypeError} naming the wrong option.
 */
export function validateProofPolicy(options: Omit<VerifyProofOptions, 'htm' | 'htu'>): void {
  if (options.replayCache === undefined) {
    throw new CodedTypeError(
      '"options.replayCache" is required (pass null to turn replay detection off)',
      'ERR_INVALID_ARG_VALUE',
    )
  }
  const { algs } = options
  if (algs !== undefined && !validatedAlgs.has(algs)) {
    if (!Array.isArray(algs) || algs.length === 0 || !algs.every(isAsymmetricAlg)) {
      throw new CodedTypeError(
        `"options.algs" must be a non-empty list of ${ASYMMETRIC_ALGS.join(', ')}`,
        'ERR_INVALID_ARG_VALUE',
      )
    }
    validatedAlgs.add(algs)
  }
  for (const name of ['maxAge', 'clockTolerance'] as const) {
    const value = options[name]
    if (
      value !== undefined &&
      !(typeof value === 'number' && value >= 0 && Number.isFinite(value))
    ) {
      throw new CodedTypeError(
        `"options.${name}" must be a non-negative number of seconds`,
        'ERR_INVALID_ARG_VALUE',
      )
    }
  }
}

/**
 * Verifies the `DPoP` header of a request: every check of RFC 9449 §4.3, in the RFC's order,
 * then replay detection (§11.1). The `jti` is recorded last, so that a proof refused for any
 * other reason does not take a place in the replay cache.
 *
 * @param dpop The `DPoP` header value(s) as received (`req.headers.dpop` or `headersDistinct`).
 * @throws {DPoPProofError} `invalid_dpop_proof`, or `use_dpop_nonce` with the fresh `nonce`.
 * @throws {ReplayCacheUnavailableError | ReplayCacheFullError} when replay detection cannot
 *   answer: verification fails closed.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export function verifyProof(
  dpop: string | readonly string[] | undefined,
  options: VerifyProofOptions,
): Promise<VerifiedProof> {
  try {
    validateOptions(options)
  } catch (error) {
    return Promise.reject(error)
  }
  return verifyCheckedProof(dpop, options)
}

/**
 * {@link verifyProof} for options already validated: the presenting side of the binding checks
 * its policy once, when the resource verifier is created, not on every request.
 *
 * @internal
 */
export function verifyCheckedProof(
  dpop: string | readonly string[] | undefined,
  options: VerifyProofOptions,
): Promise<VerifiedProof> {
  let read: ReadProof
  try {
    read = readProof(dpop, options.algs ?? ASYMMETRIC_ALGS, options.accessToken)
    checkProofSignature(read)
  } catch (error) {
    return Promise.reject(error)
  }
  return completeProof(read, options)
}

/** A proof read and checked up to its signature. */
export interface ReadProof {
  readonly header: CheckedHeader
  readonly claims: ProofClaims
  readonly parts: CompactParts
}

/**
 * RFC 9449 §4.3 steps 1–5 and 7: one well-formed proof, its header (`typ`, `alg`, `jwk`) and
 * its claims present with their types. The signature (step 6) is {@link checkProofSignature};
 * the rest is {@link completeProof}. Split so that a resource server can check the token's
 * signature and the proof's back to back (see resource/verifier.ts).
 *
 * @throws {DPoPProofError}
 * @internal
 */
export function readProof(
  dpop: string | readonly string[] | undefined,
  algs: readonly AsymmetricAlg[],
  accessToken: string | undefined,
): ReadProof {
  const proof = selectProof(dpop)
  const parts = splitCompact(proof)
  return {
    header: checkHeader(parts.header, algs),
    claims: checkClaims(decodeSegment(parts.payload), accessToken),
    parts,
  }
}

/**
 * RFC 9449 §4.3 step 6: the signature verifies with the header's `jwk`.
 *
 * @throws {DPoPProofError} `bad_signature`, or `bad_base64url` for the signature segment
 * @internal
 */
export function checkProofSignature(read: ReadProof): void {
  checkSignature(read.header.alg, read.header.key, read.parts)
}

/**
 * RFC 9449 §4.3 steps 8–12 on a proof whose signature is verified, then replay detection
 * (§11.1). The `jti` is recorded last, so that a proof refused for any other reason does not
 * take a place in the replay cache.
 *
 * @internal
 */
export async function completeProof(
  read: ReadProof,
  options: VerifyProofOptions,
): Promise<VerifiedProof> {
  const { header, claims } = read
  const now = options.currentDate?.getTime() ?? Date.now()
  const maxAge = options.maxAge ?? 60
  const clockTolerance = options.clockTolerance ?? 5

  checkHtm(claims.htm, options.htm)
  checkHtu(claims.htu, options.htu)
  let expiresAt = (claims.iat + maxAge + clockTolerance) * 1000
  if (typeof options.nonce === 'object') {
    // RFC 9449 §11.1: freshness is "determined by either the iat claim or a server managed
    // timestamp via the nonce claim". A valid server nonce proves the proof is at most one
    // nonce lifetime old, so a client whose clock is off still succeeds once it has a nonce;
    // its jti is then remembered for that lifetime.
    checkNonce(claims.nonce, options.nonce, now)
    expiresAt = now + options.nonce.lifetime * 1000
  } else {
    if (options.nonce !== undefined) checkNonce(claims.nonce, options.nonce, now)
    checkIat(claims.iat, now, maxAge, clockTolerance)
  }
  if (options.accessToken !== undefined) {
    checkAth(claims.ath, options.accessToken, options.accessTokenHash)
  }
  if (options.expectedJkt !== undefined) checkJkt(header.jkt, options.expectedJkt)

  if (
    options.replayCache &&
    !(await options.replayCache.firstUse(`${header.jkt}:${claims.jti}`, expiresAt))
  ) {
    throw new DPoPProofError('replayed_jti', { detail: `jti=${claims.jti}` })
  }
  return { jkt: header.jkt, jwk: header.jwk, alg: header.alg, claims, expiresAt }
}
