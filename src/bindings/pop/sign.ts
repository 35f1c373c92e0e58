/**
 * @module bindings/pop/sign
 *
 * The creating side of a signed request (wire format §2.2, §2.3): the compact JWS a client
 * sends as `Authorization: PoP <jws>`.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { ALGS, type AsymmetricAlg, isAsymmetricAlg } from '../../jose/algs.js'
import { signCompact } from '../../jose/sign.js'
import {
  bodyParam,
  headerParam,
  hostParam,
  methodParam,
  type PopPair,
  parseQuery,
  pathParam,
  queryParam,
} from './canonical.js'

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

export interface CreatePopSignatureOptions {
  /** The private key (a `KeyObject` or a private JWK). */
  readonly key: KeyObject | Record<string, unknown>
  /** Defaults to the JWK's `alg`, else RS256 for RSA, ES256/384/512 by curve for EC. */
  readonly alg?: AsymmetricAlg
  readonly accessToken: string
  /** Unix time in seconds (truncated); defaults to now. */
  readonly ts?: number
  readonly sign?: PopSignParts
}

/** The payload members, in the .NET order (§2.3): at, ts, m, u, p, q, h, b. */
export function popPayload(
  accessToken: string,
  ts: number,
  sign: PopSignParts = {},
): Record<string, unknown> {
  const payload: Record<string, unknown> = { at: accessToken, ts }
  if (sign.method !== undefined) payload.m = methodParam(sign.method)
  if (sign.host !== undefined) payload.u = hostParam(sign.host)
  if (sign.path !== undefined) payload.p = pathParam(sign.path)
  if (sign.query !== undefined) {
    const q = queryParam(typeof sign.query === 'string' ? parseQuery(sign.query) : sign.query)
    if (q !== undefined) payload.q = q
  }
  if (sign.headers !== undefined) {
    const h = headerParam(headerPairs(sign.headers))
    if (h !== undefined) payload.h = h
  }
  const b = bodyParam(sign.body)
  if (b !== undefined) payload.b = b
  return payload
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

function defaultAlg(key: KeyObject): AsymmetricAlg {
  if (key.asymmetricKeyType === 'rsa') return 'RS256'
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    if (curve === 'prime256v1') return 'ES256'
    if (curve === 'secp384r1') return 'ES384'
    if (curve === 'secp521r1') return 'ES512'
  }
  throw new TypeError('createPopSignature: give an alg for this key')
}

/**
 * Signs a request: header `{"alg":…,"typ":"JWT"}` (§2.2, jose-jwt's exact header), payload
 * `at`, integer `ts` in seconds and the covered parts (§2.3).
 */
export function createPopSignature(options: CreatePopSignatureOptions): string {
  const jwk =
    'type' in options.key && typeof options.key.type === 'string'
      ? undefined
      : (options.key as Record<string, unknown>)
  const key: KeyObject =
    jwk === undefined
      ? (options.key as KeyObject)
      : createPrivateKey({ key: jwk as never, format: 'jwk' })
  if (key.type !== 'private') throw new TypeError('createPopSignature: key must be a private key')
  const alg = options.alg ?? (isAsymmetricAlg(jwk?.alg) ? jwk.alg : defaultAlg(key))
  if (!isAsymmetricAlg(alg) || ALGS[alg].kty === 'OKP') {
    throw new TypeError(`createPopSignature: unsupported alg ${String(alg)}`)
  }
  const ts = Math.trunc(options.ts ?? Date.now() / 1000)
  const payload = popPayload(options.accessToken, ts, options.sign)
  // signCompact puts `alg` last; jose-jwt writes alg first (§2.2), so it is given first here.
  return signCompact(alg, key, { alg, typ: 'JWT' }, payload)
}
