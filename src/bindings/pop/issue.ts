/**
 * @module bindings/pop/issue
 *
 * The issuing side of the PoP binding: the token request parameters `token_type=pop`, `alg` and
 * `key` (wire format §1.1; draft-ietf-oauth-pop-key-distribution), read and validated. Unlike
 * IdentityServer3, which embeds the decoded text unchecked (§1.1 "How key is encoded"), keybound
 * validates the key and stores a clean JWK for `cnf: { jwk }` (RFC 7800 §3.2).
 */

import { InvalidRequestError } from '../../errors.js'
import { type AsymmetricAlg, isAsymmetricAlg } from '../../jose/algs.js'
import { checkPublicJwk, type JwkFailure } from '../../jose/jwk.js'
import { parseJsonObject } from '../../jose/strict-json.js'

/** The `alg` values IdentityServer3 accepts (§1.1, `Constants.AllowedProofKeyAlgorithms`). */
export const POP_TOKEN_ALGS: readonly AsymmetricAlg[] = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
]

/** `InputLengthRestrictions.ProofKey` (§1.1): the longest accepted encoded `key`. */
export const MAX_POP_KEY_LENGTH = 2048

/** The token request parameters of the binding. */
export const POP_TOKEN_PARAMETERS = ['token_type', 'alg', 'key'] as const

export interface PopTokenRequest {
  /** The clean public JWK for `cnf: { jwk }`. */
  readonly jwk: Record<string, string>
  /** The requested `alg`, echoed in the token response (§1.2), when given. */
  readonly alg: AsymmetricAlg | undefined
}

/** Whether the request asks for a PoP token: `token_type=pop`, exact and case-sensitive (§1.1). */
export function wantsPopToken(params: Readonly<Record<string, string | undefined>>): boolean {
  return params.token_type === 'pop'
}

/** `alg`: optional, one of RS/ES/PS 256/384/512 (§1.1). */
export function readPopAlg(alg: string | undefined): AsymmetricAlg | undefined {
  if (alg === undefined) return undefined
  if (!isAsymmetricAlg(alg) || !POP_TOKEN_ALGS.includes(alg)) {
    throw new InvalidRequestError('invalid alg: use RS, ES or PS with 256, 384 or 512', {
      reason: 'pop_alg_invalid',
    })
  }
  return alg
}

/**
 * `key`: base64url of the JWK's UTF-8 JSON, padded or not (IdentityModel's `Base64Url.Decode`
 * re-pads, §1.1), at most {@link MAX_POP_KEY_LENGTH} characters; strict JSON object.
 */
export function decodePopKey(key: string | undefined): Record<string, unknown> {
  if (key === undefined || key === '') {
    throw new InvalidRequestError('key is required for token_type pop', {
      reason: 'pop_key_missing',
    })
  }
  if (key.length > MAX_POP_KEY_LENGTH) {
    throw new InvalidRequestError(`invalid key: longer than ${MAX_POP_KEY_LENGTH} characters`, {
      reason: 'pop_key_too_long',
    })
  }
  const unpadded = key.replace(/={1,2}$/, '')
  if (!/^[A-Za-z0-9_-]*$/.test(unpadded) || unpadded.length % 4 === 1) {
    throw new InvalidRequestError('invalid key: not base64url', { reason: 'pop_key_encoding' })
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(unpadded, 'base64url'))
  } catch {
    throw new InvalidRequestError('invalid key: not UTF-8', { reason: 'pop_key_encoding' })
  }
  const parsed = parseJsonObject(text)
  if (typeof parsed === 'string') {
    throw new InvalidRequestError('invalid key: not a JSON object (JWK)', {
      reason: 'pop_key_json',
      detail: parsed,
    })
  }
  return parsed
}

/** The alg a key is checked against when the request names none. */
function algOfKey(jwk: Record<string, unknown>, requested: AsymmetricAlg | undefined) {
  if (requested !== undefined) return requested
  if (isAsymmetricAlg(jwk.alg) && POP_TOKEN_ALGS.includes(jwk.alg)) return jwk.alg
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'EC') {
    return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256'
  }
  return undefined
}

const JWK_PROBLEMS: Readonly<Record<JwkFailure, string>> = {
  jwk_missing: 'invalid key: not a JWK',
  jwk_private: 'invalid key: it holds private key members; send the public key only',
  jwk_invalid: 'invalid key: malformed public JWK',
  jwk_alg_mismatch: 'invalid key: it does not fit alg (type, curve or RSA size under 2048 bits)',
}

/**
 * Validates the decoded JWK: public (a private member is refused), asymmetric RSA or EC, fitting
 * `alg` (and its own `alg` member, when it has one), RSA of at least 2048 bits. Tolerates the
 * members a .NET client adds (`key_ops: []`, `x5c: []`, `KeySize`, `HasPrivateKey`, §1.1) and
 * returns the clean JWK: `kty`, the public members, `alg`, `kid` when given.
 */
export function cleanPopJwk(
  jwk: Record<string, unknown>,
  requested: AsymmetricAlg | undefined,
): Record<string, string> {
  if (jwk.kty === 'oct' || 'k' in jwk) {
    throw new InvalidRequestError('invalid key: symmetric keys are not accepted', {
      reason: 'pop_key_symmetric',
    })
  }
  if (jwk.HasPrivateKey === true) {
    throw new InvalidRequestError(JWK_PROBLEMS.jwk_private, { reason: 'pop_key_private' })
  }
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') {
    throw new InvalidRequestError('invalid key: kty must be RSA or EC', { reason: 'pop_key_kty' })
  }
  const alg = algOfKey(jwk, requested)
  if (alg === undefined) {
    throw new InvalidRequestError('invalid key: kty must be RSA or EC', { reason: 'pop_key_kty' })
  }
  const failure = checkPublicJwk(jwk, alg)
  if (failure !== undefined) {
    throw new InvalidRequestError(JWK_PROBLEMS[failure], {
      reason: failure === 'jwk_private' ? 'pop_key_private' : 'pop_key_invalid',
      detail: failure,
    })
  }
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw new InvalidRequestError('invalid key: its alg member differs from alg', {
      reason: 'pop_key_alg_mismatch',
    })
  }
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid.length > 256)) {
    throw new InvalidRequestError('invalid key: kid must be a short string', {
      reason: 'pop_key_invalid',
    })
  }
  const clean: Record<string, string> =
    jwk.kty === 'RSA'
      ? { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }
      : { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string }
  // The verifier (IdentityModel's too, §3.2 step 4) takes the signing alg from the key.
  clean.alg = alg
  if (typeof jwk.kid === 'string') clean.kid = jwk.kid
  return clean
}

/**
 * Reads the PoP parameters of a token request: `undefined` without `token_type=pop`, else the
 * clean JWK for `cnf: { jwk }` and the `alg` to echo.
 *
 * @throws {InvalidRequestError} naming the problem (a 400, never a 500).
 */
export function readPopTokenRequest(
  params: Readonly<Record<string, string | undefined>>,
): PopTokenRequest | undefined {
  if (!wantsPopToken(params)) return undefined
  const alg = readPopAlg(params.alg)
  const jwk = cleanPopJwk(decodePopKey(params.key), alg)
  return { jwk, alg }
}
