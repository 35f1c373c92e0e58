/**
 * @module client/pop-fetch
 *
 * `fetch` with signed-request PoP tokens, wire-compatible with IdentityModel.HttpSigning
 * (draft-ietf-oauth-signed-http-request; section numbers `§n` are those of
 * `pop-wire-format.md`): every request goes out with `Authorization: PoP <jws>`, a fresh
 * signature over the access token, the time and the parts of the request chosen to be covered.
 */

import type { PopPair } from '../bindings/pop/canonical.js'
import { parseQuery } from '../bindings/pop/canonical.js'
import { createPopSignature, type PopSigningKey, type PopSignParts } from '../bindings/pop/sign.js'
import { CodedTypeError } from '../errors.js'
import type { AsymmetricAlg } from '../jose/algs.js'
import { parseChallenges } from './challenge.js'
import type { AccessTokenSource, FetchLike } from './dpop-fetch.js'
import { checkTokenOptions, discard, requestOf } from './fetch-request.js'
import { isReplayableBody } from './request-body.js'

/**
 * The parts of each request to cover (§2.3). Each one left out is not covered: the default
 * payload is `{at, ts}` only, what .NET clients send by default. The server must check the
 * same parts (IdentityModel's verifier requires client and server options to be identical,
 * §3.3).
 */
export interface PopFetchSign {
  /** `m`: the method, as sent. */
  readonly method?: boolean
  /**
   * `u`: the URL's host, `host[:port]` (no port for the scheme's default one), which is what the
   * `Host` header carries. A .NET verifier compares `u` with the Host header, so this matches it
   * on any port (a .NET *client* signs the host without its port, §3.3).
   */
  readonly host?: boolean
  /** `p`: the URL's percent-encoded path, without the query. */
  readonly path?: boolean
  /**
   * `q`: `true` for every query parameter, or the names of the ones to cover (exact,
   * case-sensitive names, §2.4 step 2). Omitted when no parameter matches.
   */
  readonly query?: boolean | readonly string[]
  /**
   * `h`: the names of the headers to cover, as the request sends them (§2.5). A .NET verifier
   * only matches lower-case names. `content-type` may be covered: when the request sets none,
   * the one `fetch` would add for a string or `URLSearchParams` body is set, and covered.
   * Names the request does not send are left out; `h` is omitted when none is sent.
   */
  readonly headers?: readonly string[]
  /**
   * `b`: the SHA-256 of the body's bytes. The body must be bytes that can be hashed before
   * sending: a string, an `ArrayBuffer` or typed array, `URLSearchParams` or a `Blob`. A stream
   * (a `ReadableStream`, the body of a `Request`), or `FormData` (whose boundary `fetch`
   * chooses), is a `TypeError`. Omitted for a request without a body (§2.3, as .NET clients do).
   */
  readonly body?: boolean
}

export interface PopFetchOptions {
  /**
   * The private key the access token is bound to (its public JWK is the token's `cnf.jwk`): a
   * private `KeyObject`, a `CryptoKey`, a key pair or a private JWK. Use RSA (RS256) for a .NET
   * verifier (§3.2 step 4).
   */
  key: PopSigningKey
  /** The JWS alg; by default the JWK's `alg`, else the one that fits the key (RS256 for RSA). */
  alg?: AsymmetricAlg
  /** The PoP access token (`token_type: pop`), sent inside the signature as `at`. */
  accessToken?: string
  /** Instead of `accessToken`: where to take one from, and ask a fresh one from after a 401. */
  tokenSource?: AccessTokenSource
  /** The parts of each request to cover (default: none, only `at` and `ts`). */
  sign?: PopFetchSign
  /** The `fetch` to send requests with (default: the global `fetch`). */
  fetch?: FetchLike
}

/** A function with `fetch`'s signature that signs every request. */
export type PopFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** A request as it will be sent: what {@link popSignParts} reads. */
export interface PopRequestToSign {
  readonly url: URL
  /** The method as sent (`fetch` upper-cases the six standard ones). */
  readonly method: string
  readonly headers: Headers
  /** The body as given to `fetch`; `null` or `undefined` without one. */
  readonly body?: unknown
}

/** The access token of an `Authorization: PoP <token>` header the caller set (§2.1). */
function popTokenOf(headers: Headers): string | undefined {
  return /^PoP +(\S+) *$/i.exec(headers.get('authorization') ?? '')?.[1]
}

/**
 * The `Content-Type` `fetch` adds to a body without one (Fetch standard, "extract a body"), for
 * the bodies whose bytes are known before sending.
 */
function defaultContentType(body: unknown): string | undefined {
  if (typeof body === 'string') return 'text/plain;charset=UTF-8'
  if (body instanceof URLSearchParams) return 'application/x-www-form-urlencoded;charset=UTF-8'
  if (typeof Blob !== 'undefined' && body instanceof Blob && body.type !== '') return body.type
  return undefined
}

/**
 * The bytes `fetch` sends for `body`: a string and `URLSearchParams` as UTF-8 (the latter
 * serialized as `application/x-www-form-urlencoded`), bytes as they are, a `Blob`'s content.
 *
 * @throws {TypeError} for a body whose bytes are not known before sending (a stream, `FormData`).
 */
async function bodyBytesOf(body: unknown): Promise<Uint8Array | string | undefined> {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return body
  if (body instanceof URLSearchParams) return body.toString()
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  if (typeof Blob !== 'undefined' && body instanceof Blob) {
    return new Uint8Array(await body.arrayBuffer())
  }
  throw new CodedTypeError(
    'popFetch: sign.body needs a body whose bytes are known before sending (a string, an ArrayBuffer or typed array, URLSearchParams or a Blob), not a stream or FormData',
    'ERR_INVALID_ARG_TYPE',
  )
}

/**
 * The parts of `request` that `sign` selects, as {@link createPopSignature} takes them (§2.3):
 * the method, the URL's `host[:port]` and path, the decoded query pairs selected (§2.4 step 1-2),
 * the headers selected (one pair per header, names lower-cased) and the body's bytes.
 *
 * @throws {TypeError} when `sign.body` is on and the body is a stream or `FormData`.
 */
export async function popSignParts(
  request: PopRequestToSign,
  sign: PopFetchSign = {},
): Promise<PopSignParts> {
  const { url, headers } = request
  const parts: { -readonly [K in keyof PopSignParts]: PopSignParts[K] } = {}
  if (sign.method) parts.method = request.method
  if (sign.host) parts.host = url.host
  if (sign.path) parts.path = url.pathname === '' ? '/' : url.pathname
  if (sign.query) {
    const names = sign.query === true ? undefined : sign.query
    parts.query = parseQuery(url.search).filter(([n]) => names === undefined || names.includes(n))
  }
  if (sign.headers !== undefined) {
    const pairs: PopPair[] = []
    for (const name of new Set(sign.headers.map((n) => n.toLowerCase()))) {
      const value = headers.get(name)
      if (value !== null) pairs.push([name, value])
    }
    parts.headers = pairs
  }
  if (sign.body) {
    const body = await bodyBytesOf(request.body)
    if (body !== undefined) parts.body = body
  }
  return parts
}

/** The `error` of the `PoP` challenge of a 401 answer (§3.2: `PoP error="invalid_token"`). */
function popChallengeError(response: Response): string | undefined {
  if (response.status !== 401) return undefined
  const header = response.headers.get('www-authenticate')
  if (header === null) return undefined
  return parseChallenges(header).find((challenge) => challenge.scheme === 'pop')?.params.error
}

/**
 * Returns a function with `fetch`'s signature that sends each request with
 * `Authorization: PoP <jws>` (§2.1): header `{"alg":…,"typ":"JWT"}`, payload `at` (the access
 * token), `ts` (integer seconds) and the parts `sign` selects, taken from the request as it is
 * sent (§2.3-§2.5). The access token is `accessToken`, else the `tokenSource`'s, else the one
 * the caller put in an `Authorization: PoP <token>` header (as the .NET handler does, §2.1).
 *
 * With a `tokenSource`, a 401 whose `PoP` challenge says `invalid_token` invalidates the token
 * and the request is sent once more with a fresh one, when the body can be sent again.
 *
 * @throws {TypeError} (the returned promise rejects) when there is no access token, or when
 *   `sign.body` is on and the body is a stream or `FormData`.
 */
export function popFetch(options: PopFetchOptions): PopFetch {
  checkTokenOptions(options)
  if (typeof options.key !== 'object' || options.key === null) {
    throw new CodedTypeError(
      '"key" must be a private KeyObject, CryptoKey, key pair or JWK',
      'ERR_INVALID_ARG_TYPE',
    )
  }
  const { key, alg, tokenSource, sign = {} } = options
  const send: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))

  return async function fetchWithPoP(input, init = {}) {
    const { url, method, body, ...described } = requestOf(input, init)
    const headers = new Headers(described.headers)
    let accessToken =
      options.accessToken ??
      (tokenSource ? await tokenSource.getAccessToken() : popTokenOf(headers))
    if (accessToken === undefined) {
      throw new CodedTypeError(
        'popFetch: no access token (give "accessToken" or "tokenSource", or set "Authorization: PoP <token>")',
        'ERR_INVALID_ARG_VALUE',
      )
    }
    if (sign.headers?.some((n) => n.toLowerCase() === 'content-type')) {
      // Covered, so it must be the one sent: set the one `fetch` would add.
      const type = headers.has('content-type') ? undefined : defaultContentType(body)
      if (type !== undefined) headers.set('content-type', type)
    }
    const parts = await popSignParts({ url, method, headers, body }, sign)

    const attempt = async (token: string): Promise<Response> => {
      const jws = await createPopSignature({
        key,
        ...(alg === undefined ? {} : { alg }),
        accessToken: token,
        sign: parts,
      })
      headers.set('authorization', `PoP ${jws}`)
      return send(input, { ...init, headers })
    }

    const response = await attempt(accessToken)
    if (
      tokenSource === undefined ||
      !isReplayableBody(body) ||
      popChallengeError(response) !== 'invalid_token'
    ) {
      return response
    }
    tokenSource.invalidate?.(accessToken)
    const fresh = await tokenSource.getAccessToken()
    if (fresh === accessToken) return response
    accessToken = fresh
    await discard(response)
    return attempt(accessToken)
  }
}
