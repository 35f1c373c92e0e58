/**
 * @module bindings/pop/sign
 *
 * The creating side of a signed request (wire format §2.2, §2.3): the compact JWS a client
 * sends as `Authorization: PoP <jws>`.
 *
 * Portable: it hashes with WebCrypto and signs with `jose` (`CompactSign`), so it runs in
 * browsers (it is part of `keybound/client`); a node `KeyObject` is accepted where one exists.
 * The rules of what is hashed are `canonical.ts`'s, shared with the verifier.
 */
import type { KeyObject, webcrypto } from 'node:crypto'
import { CompactSign, importJWK, type JWK } from 'jose'
import { CodedTypeError } from '../../errors.js'
import { ALGS, type AsymmetricAlg, isAsymmetricAlg } from '../../jose/algs.js'
import { algForKey, type KeyPair } from '../../jose/keys.js'
import {
  bodyBytes,
  headerList,
  hostParam,
  methodParam,
  type PopList,
  type PopListInput,
  type PopPair,
  parseQuery,
  pathParam,
  queryList,
} from './canonical.js'
import { sha256 } from './hash.js'

/** The parts of the request to cover; each one absent is not covered (§2.3 "Defaults"). */
export interface PopSignParts {
  readonly method?: string
  /** The host to sign as `u` (with `:port` for a .NET verifier on a non-default port, §3.3). */
  readonly host?: string
  /** The path (a query after `?` is ignored). */
  readonly path?: string
  /**
   * The query to cover: the raw query string (`?` optional, every parameter covered) or the
   * decoded pairs to cover (§2.4 steps 1-2).
   */
  readonly query?: string | readonly PopPair[]
  /** The headers to cover, one pair per value (§2.5 step 2). */
  readonly headers?: Readonly<Record<string, string | readonly string[]>> | readonly PopPair[]
  /** The raw body; `b` is omitted without one (§2.3). */
  readonly body?: Uint8Array | string
}

/**
 * A private key to sign with: a private `KeyObject` (Node), a private `CryptoKey` (WebCrypto,
 * may be non-extractable), a {@link KeyPair} (its private half signs), or a private JWK.
 */
export type PopSigningKey = KeyObject | webcrypto.CryptoKey | KeyPair | Record<string, unknown>

export interface CreatePopSignatureOptions {
  readonly key: PopSigningKey
  /**
   * Defaults to the JWK's `alg`, else the one that fits the key: RS256 for RSA (IdentityModel's
   * verifier takes RS256/384/512 only, §3.2 step 4), ES256/384/512 by curve for EC.
   */
  readonly alg?: AsymmetricAlg
  readonly accessToken: string
  /** Unix time in seconds (truncated); defaults to now. */
  readonly ts?: number
  readonly sign?: PopSignParts
}

/** The payload members, in the .NET order (§2.3): at, ts, m, u, p, q, h, b. */
export async function popPayload(
  accessToken: string,
  ts: number,
  sign: PopSignParts = {},
): Promise<Record<string, unknown>> {
  const payload: Record<string, unknown> = { at: accessToken, ts }
  if (sign.method !== undefined) payload.m = methodParam(sign.method)
  if (sign.host !== undefined) payload.u = hostParam(sign.host)
  if (sign.path !== undefined) payload.p = pathParam(sign.path)
  if (sign.query !== undefined) {
    const q = queryList(typeof sign.query === 'string' ? parseQuery(sign.query) : sign.query)
    if (q !== undefined) payload.q = await hashed(q)
  }
  if (sign.headers !== undefined) {
    const h = headerList(headerPairs(sign.headers))
    if (h !== undefined) payload.h = await hashed(h)
  }
  if (sign.body !== undefined) payload.b = await sha256(bodyBytes(sign.body))
  return payload
}

async function hashed(list: PopListInput): Promise<PopList> {
  return [list.names, await sha256(list.bytes)]
}

/** Header pairs from a record (one pair per value) or from pairs. */
export function headerPairs(
  headers: Readonly<Record<string, string | readonly string[]>> | readonly PopPair[],
): PopPair[] {
  if (Array.isArray(headers)) return [...(headers as readonly PopPair[])]
  const pairs: PopPair[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') pairs.push([name, value])
    else for (const v of value as readonly string[]) pairs.push([name, v])
  }
  return pairs
}

const isJwk = (key: object): key is Record<string, unknown> =>
  typeof (key as { kty?: unknown }).kty === 'string'

const isPair = (key: object): key is KeyPair => 'privateKey' in key && 'publicKey' in key

/** The `alg` that fits a private JWK: RS256 for RSA, ES256/384/512 by curve for EC. */
function jwkAlg(jwk: Record<string, unknown>): AsymmetricAlg {
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'EC') {
    if (jwk.crv === 'P-256') return 'ES256'
    if (jwk.crv === 'P-384') return 'ES384'
    if (jwk.crv === 'P-521') return 'ES512'
  }
  throw new CodedTypeError(
    `createPopSignature: unsupported JWK (kty ${String(jwk.kty)}); give an RSA or EC key`,
    'ERR_INVALID_ARG_VALUE',
  )
}

/** The private key to sign with, and its `alg`. */
async function signingKey(
  key: PopSigningKey,
  alg: AsymmetricAlg | undefined,
): Promise<{ privateKey: KeyObject | webcrypto.CryptoKey; alg: AsymmetricAlg }> {
  if (typeof key !== 'object' || key === null) {
    throw new CodedTypeError(
      '"key" must be a private KeyObject, CryptoKey, key pair or JWK',
      'ERR_INVALID_ARG_TYPE',
    )
  }
  if (isJwk(key)) {
    if (typeof key.d !== 'string') {
      throw new CodedTypeError('"key" must be a private JWK (with "d")', 'ERR_INVALID_ARG_VALUE')
    }
    const chosen = alg ?? (isAsymmetricAlg(key.alg) ? key.alg : jwkAlg(key))
    checkAlg(chosen)
    // Only the key material: WebCrypto refuses odd members (`key_ops: []`, a foreign `alg`).
    const { kty, crv, n, e, d, p, q, dp, dq, qi, x, y } = key as JWK
    const material = Object.fromEntries(
      Object.entries({ kty, crv, n, e, d, p, q, dp, dq, qi, x, y }).filter(
        ([, v]) => v !== undefined,
      ),
    )
    const privateKey = (await importJWK(material, chosen)) as webcrypto.CryptoKey
    return { privateKey, alg: chosen }
  }
  const privateKey = isPair(key) ? key.privateKey : key
  if (privateKey.type !== 'private') {
    throw new CodedTypeError('"key" must be a private key', 'ERR_INVALID_ARG_VALUE')
  }
  const chosen = alg ?? algForKey(privateKey)
  checkAlg(chosen)
  return { privateKey, alg: chosen }
}

/** RS/PS/ES only: the algs a PoP verifier accepts (never EdDSA, `none` or HS*). */
function checkAlg(alg: unknown): asserts alg is AsymmetricAlg {
  if (!isAsymmetricAlg(alg) || ALGS[alg].kty === 'OKP') {
    throw new CodedTypeError(
      `createPopSignature: unsupported alg ${String(alg)}`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
}

/**
 * Signs a request: protected header exactly `{"alg":…,"typ":"JWT"}` in that order (§2.2,
 * jose-jwt's header), payload `at`, integer `ts` in seconds and the covered parts in the .NET
 * order (§2.3). RS256 is deterministic: the worked example of §4 is reproduced byte for byte.
 *
 * @returns the compact JWS, sent as `Authorization: PoP <jws>` (§2.1).
 */
export async function createPopSignature(options: CreatePopSignatureOptions): Promise<string> {
  const { privateKey, alg } = await signingKey(options.key, options.alg)
  const ts = Math.trunc(options.ts ?? Date.now() / 1000)
  const payload = await popPayload(options.accessToken, ts, options.sign)
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg, typ: 'JWT' })
    .sign(privateKey)
}
