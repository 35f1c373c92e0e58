/**
 * @module bindings/pop/verify
 *
 * The presenting side of a signed request: what a resource server checks (wire format §3.2,
 * §3.3; draft-ietf-oauth-signed-http-request §5). Beyond IdentityModel: EC and PS keys, a
 * replay cache keyed by the JWS signature, and a policy where a part that is signed but not
 * required is still checked.
 */
import { hash, timingSafeEqual } from 'node:crypto'
import { type AsymmetricAlg, isAsymmetricAlg } from '../../jose/algs.js'
import { decodeBase64urlText, isBase64url } from '../../jose/base64url.js'
import { checkPublicJwk, importPublicJwk, type PublicJwk } from '../../jose/jwk.js'
import { verifyJwsSignature } from '../../jose/signature.js'
import { type JsonObject, parseJsonObject } from '../../jose/strict-json.js'
import type { ReplayCache } from '../../replay/types.js'
import {
  asciiHash,
  bodyParam,
  headerString,
  hostParam,
  hostWithoutPort,
  methodParam,
  type PopPair,
  parseQuery,
  parseQueryKatana,
  pathParam,
  queryString,
  rebuildList,
} from './canonical.js'
import { PopSignatureError } from './errors.js'
import { headerPairs } from './sign.js'

/** The coverable parts, by payload member (§2.3), in the order they are checked. */
export const POP_PARTS = ['m', 'u', 'p', 'q', 'h', 'b'] as const
export type PopPart = (typeof POP_PARTS)[number]

export interface PopPolicy {
  /**
   * The parts that must be covered. Default none: only `at` and `ts`, as IdentityModel's
   * verifier by default (§2.3 "Defaults"). Recommended: m, u, p, q, b. A required `q`
   * must cover every query parameter; a required `b` is met by a request without a body.
   */
  readonly required?: readonly PopPart[]
  /** Accepted distance of `ts` from now, in seconds, both ways (default 300, §3.2 step 6). */
  readonly window?: number
  /**
   * IdentityModel compatibility (§3.3): the covered parts must be exactly `required` (a part
   * signed but not required is refused, `part_unexpected`), `u` is compared with the host
   * without its port, `q`/`h` are rebuilt from the `queryNames`/`headerNames` only (the query
   * parsed as Katana does: `&` and `;`, no parameter without `=`), and `b` is
   * the hash of the body even when empty.
   */
  readonly compat?: boolean
  /** Compatibility mode: the query names the server validates (`QueryParametersToValidate`). */
  readonly queryNames?: readonly string[]
  /** Header names that must be covered (lower-case); with `compat`, `RequestHeadersToValidate`. */
  readonly headerNames?: readonly string[]
  /** Algorithms accepted; default all asymmetric RS/PS/ES. Never `none` nor HS*. */
  readonly algs?: readonly AsymmetricAlg[]
}

export interface PopRequest {
  readonly method: string
  /** The Host header (`host[:port]`). */
  readonly host: string
  /** The path, percent-encoded as received (a query after `?` is ignored). */
  readonly path: string
  /** The raw query string (`?` optional). */
  readonly query: string
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>
  readonly body?: Uint8Array | string
}

export interface VerifyPopSignatureOptions {
  /** The `cnf.jwk` of the verified access token. */
  readonly cnfJwk: unknown
  readonly request: PopRequest
  readonly policy?: PopPolicy
  readonly replayCache?: ReplayCache
  /** The access token, as verified: the payload's `at` must equal it. */
  readonly accessToken: string
  /** Now, epoch milliseconds (tests). */
  readonly now?: number
}

export interface VerifiedPopSignature {
  readonly alg: AsymmetricAlg
  readonly ts: number
  /** The parts the signature covers. */
  readonly covered: readonly PopPart[]
  readonly payload: JsonObject
}

const DEFAULT_ALGS: readonly AsymmetricAlg[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
]

/** Splits and decodes the compact JWS; header and payload are strict JSON objects. */
export interface DecodedPopJws {
  readonly header: JsonObject
  readonly payload: JsonObject
  /** The compact serialization itself. */
  readonly jws: string
  /** Its signature segment, canonical base64url (decoded only to be verified). */
  readonly signaturePart: string
}

export function decodePopJws(jws: string): DecodedPopJws {
  const parts = jws.split('.')
  if (parts.length !== 3) throw new PopSignatureError('malformed_jws')
  const [h, p, s] = parts as [string, string, string]
  const headerText = decodeBase64urlText(h)
  const payloadText = decodeBase64urlText(p)
  if (headerText === undefined || payloadText === undefined || s === '' || !isBase64url(s)) {
    throw new PopSignatureError('bad_base64url')
  }
  const header = parseStrict(headerText)
  const payload = parseStrict(payloadText)
  return { header, payload, jws, signaturePart: s }
}

/** A header or payload: valid UTF-8 (`null` is not) holding a JSON object, names unique. */
function parseStrict(text: string | null): JsonObject {
  if (text === null) throw new PopSignatureError('bad_json')
  const parsed = parseJsonObject(text)
  if (typeof parsed === 'string') throw new PopSignatureError(parsed)
  return parsed
}

/**
 * The header `alg` must be allowed and fit `cnf.jwk` (and equal the JWK's `alg` when it has
 * one, as IdentityModel's `Signature.Verify`, §3.2 step 5).
 */
export function checkAlg(header: JsonObject, jwk: unknown, algs: readonly AsymmetricAlg[]) {
  const alg = header.alg
  if (!isAsymmetricAlg(alg) || !algs.includes(alg)) {
    throw new PopSignatureError('alg_not_allowed', { detail: String(alg) })
  }
  const failure = checkPublicJwk(jwk, alg)
  if (failure !== undefined) throw new PopSignatureError(failure)
  const jwkAlg = (jwk as Record<string, unknown>).alg
  if (jwkAlg !== undefined && jwkAlg !== alg) {
    throw new PopSignatureError('jwk_alg_mismatch', { detail: `jwk ${String(jwkAlg)}, ${alg}` })
  }
  return alg
}

/** `at` is a string equal to the presented access token (§2.3, §3.1). */
export function checkAt(payload: JsonObject, accessToken: string): void {
  if (typeof payload.at !== 'string' || payload.at === '') throw new PopSignatureError('at_invalid')
  const a = Buffer.from(payload.at)
  const b = Buffer.from(accessToken)
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new PopSignatureError('at_mismatch')
}

/** `ts`: a positive integer, in seconds, within ±`window` of now, bounds inclusive (§3.2 step 6). */
export function checkTs(payload: JsonObject, nowSeconds: number, window: number): number {
  const ts = payload.ts
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts <= 0) {
    throw new PopSignatureError('ts_invalid')
  }
  if (ts < nowSeconds - window) throw new PopSignatureError('ts_too_old', { detail: `${ts}` })
  if (ts > nowSeconds + window) throw new PopSignatureError('ts_in_future', { detail: `${ts}` })
  return ts
}

/** `m`, `u`, `p`, `b` are strings; `q`, `h` are `[string[], string]` (§3.2 step 5). */
export function checkMemberTypes(payload: JsonObject): PopPart[] {
  const covered: PopPart[] = []
  for (const part of POP_PARTS) {
    const v = payload[part]
    if (v === undefined) continue
    const ok =
      part === 'q' || part === 'h'
        ? Array.isArray(v) &&
          v.length === 2 &&
          Array.isArray(v[0]) &&
          v[0].every((n: unknown) => typeof n === 'string') &&
          typeof v[1] === 'string'
        : typeof v === 'string'
    if (!ok) throw new PopSignatureError('member_invalid', { detail: part })
    covered.push(part)
  }
  return covered
}

const sameString = (a: string, b: string) => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** `m` equals the request method (§3.3). */
export function checkMethod(m: string, request: PopRequest): void {
  if (m !== methodParam(request.method)) throw new PopSignatureError('m_mismatch')
}

/**
 * `u` equals the Host header, lower-cased; in compatibility mode, the host without its port,
 * which is what a .NET client signs (§3.3).
 */
export function checkHost(u: string, request: PopRequest, compat: boolean): void {
  const expected = compat ? hostWithoutPort(request.host) : hostParam(request.host)
  if (u !== expected) throw new PopSignatureError('u_mismatch', { detail: `${u} vs ${expected}` })
}

/** `p` equals the request path (§3.3). */
export function checkPath(p: string, request: PopRequest): void {
  if (p !== pathParam(request.path)) throw new PopSignatureError('p_mismatch')
}

/**
 * `q`: rebuilt by the client's name list from the request's pairs (§3.3), then hashed as in
 * §2.4. With `all`, every request pair must be covered.
 *
 * @returns how many request pairs the list does not cover.
 */
export function checkList(
  part: 'q' | 'h',
  list: [string[], string],
  pairs: readonly PopPair[],
): number {
  const rebuilt = rebuildList(list[0], pairs)
  if (rebuilt === undefined) throw new PopSignatureError(`${part}_mismatch`, { detail: 'names' })
  const text = part === 'q' ? queryString(rebuilt.pairs) : headerString(rebuilt.pairs)
  if (!sameString(asciiHash(text), list[1])) throw new PopSignatureError(`${part}_mismatch`)
  return rebuilt.uncovered
}

/** `b` equals the hash of the body (the empty body in compatibility mode, §3.3). */
export function checkBody(b: string, request: PopRequest): void {
  const expected = bodyParam(request.body ?? '') as string
  if (!sameString(b, expected)) throw new PopSignatureError('b_mismatch')
}

function requestHeaderPairs(request: PopRequest, names?: readonly string[]): PopPair[] {
  const record: Record<string, string | readonly string[]> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue
    const lower = name.toLowerCase()
    if (names !== undefined && !names.includes(lower)) continue
    record[lower] = value
  }
  return headerPairs(record)
}

/**
 * Verifies a signed request (§3.2), in order: the JWS and its `alg` against `cnf.jwk`, the
 * signature, `at`, `ts`, every covered part against the request, the policy's required parts,
 * and last the replay cache (so that a forged request cannot burn a real one).
 *
 * @throws {PopSignatureError} with the reason of the first failed check.
 */
export async function verifyPopSignature(
  jws: string | DecodedPopJws,
  options: VerifyPopSignatureOptions,
): Promise<VerifiedPopSignature> {
  const policy = options.policy ?? {}
  const window = policy.window ?? 300
  const compat = policy.compat === true
  const required = policy.required ?? []
  const decoded = typeof jws === 'string' ? decodePopJws(jws) : jws
  const { header, payload, signaturePart } = decoded
  const alg = checkAlg(header, options.cnfJwk, policy.algs ?? DEFAULT_ALGS)
  let key: ReturnType<typeof importPublicJwk>
  try {
    key = importPublicJwk(options.cnfJwk as PublicJwk)
  } catch {
    throw new PopSignatureError('jwk_invalid')
  }
  const signatureStart = decoded.jws.length - signaturePart.length
  if (!verifyJwsSignature(alg, key, decoded.jws, signatureStart)) {
    throw new PopSignatureError('bad_signature')
  }
  checkAt(payload, options.accessToken)
  const nowMs = options.now ?? Date.now()
  const ts = checkTs(payload, Math.floor(nowMs / 1000), window)
  const covered = checkMemberTypes(payload)
  const { request } = options
  for (const part of required) {
    if (covered.includes(part)) continue
    // A required part the request does not have is met: the client omits `b` without a body,
    // `q` without a query parameter, `h` without a header to cover (§2.3).
    if (!compat) {
      if (part === 'b' && (request.body === undefined || request.body.length === 0)) continue
      if (part === 'q' && parseQuery(request.query).length === 0) continue
      if (part === 'h' && requestHeaderPairs(request, policy.headerNames ?? []).length === 0) {
        continue
      }
    }
    // IdentityModel expects no `q`/`h` when the request has no pair to validate (§3.3).
    if (compat && part === 'q' && compatQueryPairs(request, policy).length === 0) continue
    if (
      compat &&
      part === 'h' &&
      requestHeaderPairs(request, policy.headerNames ?? []).length === 0
    ) {
      continue
    }
    throw new PopSignatureError('part_missing', { detail: part })
  }
  for (const part of covered) {
    if (compat && !required.includes(part)) {
      throw new PopSignatureError('part_unexpected', { detail: part })
    }
    const value = payload[part]
    switch (part) {
      case 'm':
        checkMethod(value as string, request)
        break
      case 'u':
        checkHost(value as string, request, compat)
        break
      case 'p':
        checkPath(value as string, request)
        break
      case 'q': {
        const pairs = compat ? compatQueryPairs(request, policy) : parseQuery(request.query)
        const uncovered = checkList('q', value as [string[], string], pairs)
        if (!compat && required.includes('q') && uncovered > 0) {
          throw new PopSignatureError('q_mismatch', { detail: `${uncovered} not covered` })
        }
        break
      }
      case 'h': {
        const names = compat ? (policy.headerNames ?? []) : undefined
        const list = value as [string[], string]
        checkList('h', list, requestHeaderPairs(request, names))
        if (!compat && required.includes('h')) {
          for (const name of policy.headerNames ?? []) {
            if (!list[0].includes(name)) throw new PopSignatureError('h_mismatch', { detail: name })
          }
        }
        break
      }
      case 'b':
        checkBody(value as string, request)
        break
    }
  }
  if (options.replayCache) {
    const id = hash('sha256', signaturePart, 'base64url')
    const fresh = await options.replayCache.firstUse(`pop:${id}`, (ts + window) * 1000 + 1000)
    if (!fresh) throw new PopSignatureError('replayed_signature')
  }
  return { alg, ts, covered, payload }
}

/** Compatibility mode: the request's query pairs the server validates (§3.3, Katana's parse). */
function compatQueryPairs(request: PopRequest, policy: PopPolicy): PopPair[] {
  return parseQueryKatana(request.query).filter(([n]) => policy.queryNames?.includes(n) === true)
}
