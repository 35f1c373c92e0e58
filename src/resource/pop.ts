/**
 * @module resource/pop
 *
 * Signed-request PoP at the resource server (draft-ietf-oauth-signed-http-request §5; the
 * IdentityModel wire format of `pop-wire-format.md` §3): where the signed request is found, the
 * access token it carries, and the request as the binding module checks it. The checks
 * themselves are the binding's (`bindings/pop/verify.ts`).
 */
import { PopSignatureError } from '../bindings/pop/errors.js'
import {
  type DecodedPopJws,
  type PopPolicy,
  type PopRequest,
  type VerifiedPopSignature,
  verifyPopSignature,
} from '../bindings/pop/verify.js'
import type { ReplayCache } from '../replay/types.js'
import { headerOf, type RequestHeaders } from './authorization.js'
import { invalidRequest, invalidToken, type ResourceError } from './errors.js'

/** What the verifier needs of a request to check a signed request against it. */
export interface SignedRequestSource {
  method: string
  url: string
  headers: RequestHeaders
  readBody?: (() => Promise<Uint8Array | undefined>) | undefined
}

/**
 * The access token of a signed request: its `at` (wire format §3.2), read before the JWS is
 * verified, since the key that verifies it is in the token.
 *
 * @throws {PopSignatureError} `at_invalid`.
 */
export function accessTokenOf(signed: DecodedPopJws): string {
  const { at } = signed.payload
  if (typeof at !== 'string' || at === '') throw new PopSignatureError('at_invalid')
  return at
}

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i

/**
 * Whether a request may be a signed request whose body matters, told from its fields alone
 * (before the body is read): the `PoP` scheme, or no `Authorization` and a form body (the
 * draft's `pop_access_token`, §5.2). Adapters that stream bodies keep the body of these only.
 */
export function maySignBody(
  authorization: string | readonly string[] | undefined,
  contentType: string | undefined,
): boolean {
  if (authorization !== undefined) {
    return typeof authorization === 'string' && /^pop(\s|$)/i.test(authorization)
  }
  return contentType !== undefined && FORM.test(contentType)
}

/**
 * The draft's form field `pop_access_token` (§5.2), tried only when the request has no
 * `Authorization` field, as IdentityModel does (wire format §3.1). The query parameter of §5.3
 * is not read: RFC 9700 §2.5 keeps access tokens out of URIs.
 *
 * @returns the signed request, or `undefined` when the body has none (or cannot be read).
 */
export async function formSignedRequest(request: SignedRequestSource): Promise<string | undefined> {
  const field = headerOf(request.headers, 'content-type')
  const type = Array.isArray(field) ? (field.length === 1 ? field[0] : undefined) : field
  if (typeof type !== 'string' || !FORM.test(type) || request.readBody === undefined) {
    return undefined
  }
  const body = await request.readBody()
  if (body === undefined || body.length === 0) return undefined
  const values = new URLSearchParams(new TextDecoder().decode(body)).getAll('pop_access_token')
  if (values.length > 1) {
    throw invalidRequest('multiple_pop_tokens', 'more than one pop_access_token')
  }
  return values[0] || undefined
}

/** The path and the raw query of a request-target. */
function queryOf(url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return ''
  const hash = url.indexOf('#', q)
  return url.slice(q + 1, hash === -1 ? undefined : hash)
}

/** `proto://host/path` → host and path, as `requestUrl` joined them. */
function hostAndPath(url: string): { host: string; path: string } {
  const start = url.indexOf('://') + 3
  const slash = url.indexOf('/', start)
  return slash === -1
    ? { host: url.slice(start), path: '/' }
    : { host: url.slice(start, slash), path: url.slice(slash) }
}

/**
 * The headers a signature can be checked against: those it lists in `h` and those the policy
 * requires, read by name (so a WHATWG `Headers` and node's record both do).
 */
function signedHeaders(
  headers: RequestHeaders,
  h: unknown,
  policy: PopPolicy,
): Record<string, string | readonly string[]> {
  const names = new Set<string>(policy.headerNames ?? [])
  if (Array.isArray(h) && Array.isArray(h[0])) {
    for (const name of h[0]) if (typeof name === 'string') names.add(name.toLowerCase())
  }
  const record: Record<string, string | readonly string[]> = {}
  for (const name of names) {
    const value = headerOf(headers, name)
    if (value !== undefined) record[name] = value
  }
  return record
}

/**
 * Verifies a signed request against the request it came with (wire format §3.2, §3.3). The body
 * is read only when the signature covers it or the policy requires it.
 *
 * @param url The URL the client called (`requestUrl`), computed only when `u` or `p` is checked.
 * @throws {PopSignatureError} with the reason of the first failed check.
 * @throws {ResourceError} `body_unavailable` when the body is needed and the adapter cannot
 *   give it (a body parser consumed it without keeping the bytes: a set-up mistake, logged).
 */
export async function verifySignedRequest(
  signed: DecodedPopJws,
  options: {
    request: SignedRequestSource
    url: () => string
    accessToken: string
    cnfJwk: unknown
    policy: PopPolicy
    replayCache: ReplayCache | null | undefined
  },
): Promise<VerifiedPopSignature> {
  const { request, policy } = options
  const { payload } = signed
  let body: Uint8Array | undefined
  if (payload.b !== undefined || policy.required?.includes('b')) {
    body = await request.readBody?.()
    if (body === undefined) {
      throw invalidToken('body_unavailable', 'the request body could not be checked', {
        binding: 'pop',
        detail: 'the body was not given to the verifier or was consumed before it',
      })
    }
  }
  let target: { host: string; path: string } | undefined
  const popRequest: PopRequest = {
    method: request.method,
    get host() {
      target ??= hostAndPath(options.url())
      return target.host
    },
    get path() {
      target ??= hostAndPath(options.url())
      return target.path
    },
    query: queryOf(request.url),
    headers: signedHeaders(request.headers, payload.h, policy),
    ...(body === undefined ? {} : { body }),
  }
  return verifyPopSignature(signed, {
    cnfJwk: options.cnfJwk,
    request: popRequest,
    policy,
    accessToken: options.accessToken,
    ...(options.replayCache ? { replayCache: options.replayCache } : {}),
  })
}

/** A refused signed request: 401 `invalid_token` (wire format §3.2), its reason kept. */
export function fromPopError(error: PopSignatureError): ResourceError {
  return invalidToken(error.reason, error.error_description, {
    binding: 'pop',
    ...(error.detail === undefined ? {} : { detail: error.detail }),
  })
}
