/**
 * @module resource/jwt-access-token
 *
 * Validation of JWT access tokens (RFC 9068 §4): a compact JWS signed by the issuer with an
 * allowed asymmetric alg, `typ` `at+jwt` (required when configured; otherwise `JWT` or no
 * `typ` are tolerated, as Keycloak, Auth0 and others issue them), `iss` equal to the issuer,
 * `aud` naming this resource, `exp` in the future and `nbf` in the past.
 */
import type { AsymmetricAlg } from '../jose/algs.js'
import { decodeBase64urlText } from '../jose/base64url.js'
import { verifyJwsSignature } from '../jose/signature.js'
import { type JsonObject, parseJsonObject } from '../jose/strict-json.js'
import { invalidToken, ResourceError } from './errors.js'
import type { JwksKey, RemoteKeySet } from './jwks.js'

/** The claims a resource server relies on (RFC 9068 §2.2, RFC 7519 §4.1, RFC 7800 §3.1). */
export interface AccessTokenClaims {
  readonly iss: string
  readonly sub?: string
  readonly aud?: string | readonly string[]
  readonly exp: number
  readonly iat?: number
  readonly nbf?: number
  readonly jti?: string
  readonly client_id?: string
  readonly scope?: string
  /** The confirmation (RFC 7800): `jkt` (DPoP), `x5t#S256` (mTLS), `jwk` (signed requests). */
  readonly cnf?: Readonly<Record<string, unknown>>
  readonly [claim: string]: unknown
}

export interface JwtPolicy {
  readonly issuer: string
  readonly audience: readonly string[]
  readonly algs: readonly AsymmetricAlg[]
  readonly requireAtJwtTyp: boolean
  /** Seconds of clock skew tolerated on `exp`, `nbf`, `iat`. */
  readonly clockTolerance: number
}

/** Longest token accepted, in characters: a header field, bounded by every HTTP server anyway. */
export const MAX_TOKEN_LENGTH = 16_384

const malformed = () => invalidToken('malformed_token', 'the access token is malformed')

/** The JSON text of a segment: canonical base64url (RFC 7515 §2) of valid UTF-8. */
function textOf(segment: string): string {
  const text = decodeBase64urlText(segment)
  if (typeof text !== 'string') throw malformed()
  return text
}

/** The JOSE header: duplicate member names refused (RFC 7515 §4), as for every header read. */
function decodeHeader(segment: string): JsonObject {
  const result = parseJsonObject(textOf(segment))
  if (typeof result === 'string') throw malformed()
  return result
}

/**
 * The claims, once the signature is verified: written by the issuer, not by the client, so the
 * option RFC 7519 §4 gives ("use a JSON parser that returns only the lexically last duplicate
 * member name") is taken, which saves a scan of the payload on every request.
 */
function decodeClaims(segment: string): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(textOf(segment))
  } catch {
    throw malformed()
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed()
  return value as JsonObject
}

/** Whether `token` has the shape of a JWS (three segments), rather than an opaque reference. */
export function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.')
  return first > 0 && token.indexOf('.', first + 1) > first + 1
}

const AT_JWT_TYPS = new Set(['at+jwt', 'application/at+jwt'])

/** Checks the claims of a token whose signature is verified (RFC 9068 §4 steps 3–9). */
export function checkClaims(claims: JsonObject, policy: JwtPolicy, now: number): AccessTokenClaims {
  const skew = policy.clockTolerance
  if (claims.iss !== policy.issuer) {
    throw invalidToken('iss_mismatch', 'the access token was not issued by this issuer', {
      detail: `iss=${String(claims.iss)} expected=${policy.issuer}`,
    })
  }
  const aud = claims.aud
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  if (!auds.some((a) => policy.audience.includes(a as string))) {
    throw invalidToken('aud_mismatch', 'the access token is not meant for this resource', {
      detail: `aud=${JSON.stringify(aud)} expected=${policy.audience.join(' ')}`,
    })
  }
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw malformed()
  if (claims.exp <= now - skew) {
    throw invalidToken('token_expired', 'the access token has expired', {
      detail: `exp=${claims.exp} now=${now}`,
    })
  }
  for (const name of ['nbf', 'iat'] as const) {
    const value = claims[name]
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isFinite(value)) throw malformed()
    if (value > now + skew) {
      throw invalidToken('token_not_yet_valid', 'the access token is not valid yet', {
        detail: `${name}=${value} now=${now}`,
      })
    }
  }
  for (const name of ['sub', 'client_id', 'scope', 'jti'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') throw malformed()
  }
  const cnf = claims.cnf
  if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf))) {
    throw malformed()
  }
  return claims as AccessTokenClaims
}

interface CheckedHeader {
  readonly alg: AsymmetricAlg
  readonly kid: string | undefined
}

/**
 * Headers already checked, by their base64url text and the policy they were checked against.
 * An issuer's tokens share a handful of headers (one per signing key), so decoding and checking
 * them is done once; the cache is bounded, first in first out.
 */
const headers = new WeakMap<JwtPolicy, Map<string, CheckedHeader>>()
const HEADER_CACHE_SIZE = 64

/** RFC 9068 §4 steps 1 and 2 (and RFC 7515 §4.1.11 `crit`), on the JOSE header. */
function checkHeader(segment: string, policy: JwtPolicy): CheckedHeader {
  let cache = headers.get(policy)
  const cached = cache?.get(segment)
  if (cached) return cached
  const header = decodeHeader(segment)
  const { alg, kid, typ } = header
  if (typeof alg !== 'string' || !policy.algs.includes(alg as AsymmetricAlg)) {
    throw invalidToken('alg_not_allowed', 'the access token is signed with an alg not allowed', {
      detail: `alg=${String(alg)}`,
    })
  }
  // RFC 9068 §4 step 1 and RFC 8725 §3.11: explicit typing keeps other JWTs of the same
  // issuer (ID tokens, logout tokens, DPoP proofs) from passing as access tokens.
  const typName = typeof typ === 'string' ? typ.toLowerCase() : typ
  if (
    !AT_JWT_TYPS.has(typName as string) &&
    (policy.requireAtJwtTyp || (typName !== undefined && typName !== 'jwt'))
  ) {
    throw invalidToken('bad_typ', 'the access token is not an RFC 9068 JWT access token', {
      detail: `typ=${String(typ)}`,
    })
  }
  if ('crit' in header) throw malformed()
  if (kid !== undefined && typeof kid !== 'string') throw malformed()
  const checked = { alg: alg as AsymmetricAlg, kid }
  if (!cache) {
    cache = new Map()
    headers.set(policy, cache)
  }
  if (cache.size >= HEADER_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
  cache.set(segment, checked)
  return checked
}

/** A JWT access token read up to its signature: header checked, keys found, nothing trusted. */
export interface ReadJwt {
  readonly alg: AsymmetricAlg
  readonly candidates: readonly JwksKey[]
  readonly token: string
  /** Where the signature segment begins (it is decoded only to be verified). */
  readonly signatureStart: number
  /** The claims segment, decoded once the signature is verified. */
  readonly payload: string
}

/**
 * Reads a JWT access token (RFC 7515 §5.2 steps 1–7 on the header): three segments, an
 * allowed `alg` and `typ`, a signature, and the issuer's keys it may be signed with.
 *
 * @throws {ResourceError} `invalid_token` (401), or `temporarily_unavailable` (503) when the
 *   issuer's keys cannot be fetched.
 */
export async function readJwtAccessToken(
  token: string,
  keys: RemoteKeySet,
  policy: JwtPolicy,
): Promise<ReadJwt> {
  if (token.length > MAX_TOKEN_LENGTH) throw malformed()
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first === -1 || second === -1 || token.indexOf('.', second + 1) !== -1) throw malformed()
  const { alg, kid } = checkHeader(token.slice(0, first), policy)
  if (second + 1 === token.length) throw malformed()

  let candidates = keys.known(kid, alg)
  if (candidates === undefined) {
    try {
      candidates = await keys.candidates(kid, alg)
    } catch (cause) {
      throw new ResourceError('temporarily_unavailable', {
        status: 503,
        description: "the issuer's keys are unavailable",
        reason: 'jwks_unavailable',
        detail: (cause as Error).message,
        cause,
      })
    }
  }
  if (candidates.length === 0) {
    throw invalidToken('unknown_key', 'the access token is signed with an unknown key', {
      detail: `kid=${String(kid)} alg=${alg}`,
    })
  }
  return {
    alg,
    candidates,
    token,
    signatureStart: second + 1,
    payload: token.slice(first + 1, second),
  }
}

/**
 * RFC 7515 §5.2 step 8: the signature verifies with one of the issuer's keys.
 *
 * @throws {ResourceError} `invalid_token` with reason `bad_signature`, or `malformed_token` when
 *   the signature segment is not base64url.
 */
export function checkJwtSignature(read: ReadJwt): void {
  for (const candidate of read.candidates) {
    const verified = verifyJwsSignature(read.alg, candidate.key, read.token, read.signatureStart)
    if (verified === undefined) throw malformed()
    if (verified) return
  }
  throw invalidToken('bad_signature', 'the access token signature is invalid')
}

/**
 * The claims of a token whose signature is verified, decoded and checked (RFC 9068 §4).
 *
 * @throws {ResourceError} `invalid_token`
 */
export function checkJwtClaims(read: ReadJwt, policy: JwtPolicy, now: number): AccessTokenClaims {
  return checkClaims(decodeClaims(read.payload), policy, now)
}
