/**
 * @module resource/gateway/request
 *
 * The request the verifier checks, with the URL the client called made explicit. A DPoP proof
 * is bound to that URL (`htu`, RFC 9449 §4.3 step 9), which is neither the upstream's nor, in
 * forward-auth, the sub-request's. The gateway works it out once and hands the verifier a
 * request that carries it as `Host` and scheme, with no forwarding fields left to interpret: the
 * same URL then goes upstream in `X-Forwarded-Proto`/`-Host` and `Forwarded` (RFC 7239).
 */
import type { IncomingMessage } from 'node:http'
import { maySignBody } from '../pop.js'
import { type RequestTarget, requestUrl, type UrlPolicy } from '../request-url.js'
import type { ResourceRequest } from '../verifier.js'
import type { PublicOrigin } from './headers.js'

/** What the verifier is given, and the origin the client used (when it could be told). */
export interface OriginalRequest {
  readonly resource: ResourceRequest
  readonly origin: PublicOrigin | undefined
  /** Whether it may be a signed request (PoP) whose body the verifier reads. */
  readonly maySignBody: boolean
}

/** Every `Authorization` field of the raw request: node keeps only the first in `headers`. */
function authorizationOf(req: IncomingMessage): string | string[] | undefined {
  const values: string[] = []
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'authorization') values.push(raw[i + 1] as string)
  }
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : values
}

/**
 * A request for the verifier: the credentials of `req` (every `Authorization` field, so a
 * repeated one is refused rather than the first believed), the method and target given, and
 * the URL's scheme and host as if the client had connected directly. A signed request (PoP)
 * gets every field too, for the headers its signature covers (`h`) and the form field.
 */
function originalRequest(
  req: IncomingMessage,
  method: string,
  url: string,
  origin: PublicOrigin | undefined,
): OriginalRequest {
  const authorization = authorizationOf(req)
  const credentials = { authorization, dpop: req.headers.dpop, host: origin?.host }
  const signed = maySignBody(authorization, req.headers['content-type'])
  return {
    resource: {
      method,
      url,
      headers: signed ? { ...req.headersDistinct, ...credentials } : credentials,
      encrypted: origin?.proto === 'https',
    },
    origin,
    maySignBody: signed,
  }
}

/** `proto://host/path` → the origin and the path, split as the verifier would join them. */
function split(url: string): { origin: PublicOrigin; path: string } {
  const scheme = url.indexOf('://')
  const slash = url.indexOf('/', scheme + 3)
  const end = slash === -1 ? url.length : slash
  return {
    origin: { proto: url.slice(0, scheme), host: url.slice(scheme + 3, end) },
    path: slash === -1 ? '/' : url.slice(slash),
  }
}

/**
 * The request as the gateway received it, for proxying. Its URL is `publicUrl` and the path, or
 * `Host` (and the forwarding fields of a trusted proxy) and the path. When that cannot be told,
 * the verifier gets no host, and refuses a DPoP proof with `invalid_request`.
 */
export function proxiedRequest(req: IncomingMessage, policy: UrlPolicy): OriginalRequest {
  const target: RequestTarget = {
    url: req.url ?? '/',
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
    encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
  }
  let full: string
  try {
    full = requestUrl(target, policy)
  } catch {
    return originalRequest(req, req.method ?? 'GET', target.url, undefined)
  }
  const { origin, path } = split(full)
  // The verifier gets the query too: a signed request may cover it (`q`).
  const q = target.url.indexOf('?')
  const query = q === -1 ? '' : target.url.slice(q)
  return originalRequest(req, req.method ?? 'GET', `${path}${query}`, origin)
}

/** The last value of a list-valued field, trimmed: the one the nearest proxy set. */
function last(value: string | string[] | undefined): string | undefined {
  const joined = Array.isArray(value) ? value.join(',') : value
  const item = joined?.split(',').at(-1)?.trim()
  return item || undefined
}

/** One value of a field that must not be repeated, or `undefined` when absent. */
function single(req: IncomingMessage, name: string): string | undefined | 'repeated' {
  let found: string | undefined
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== name) continue
    if (found !== undefined) return 'repeated'
    found = (raw[i + 1] as string).trim()
  }
  return found
}

/** The same field under its nginx and its Traefik/Caddy name: both must agree when both are sent. */
function either(req: IncomingMessage, forwarded: string, original: string) {
  const a = single(req, forwarded)
  const b = single(req, original)
  if (a === 'repeated' || b === 'repeated') return 'repeated'
  if (a !== undefined && b !== undefined && a !== b) return 'conflicting'
  return a ?? b
}

const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const PROTO = /^https?$/i
/** RFC 9110 §7.2 `uri-host [ ":" port ]`, loosely: no delimiter a URL would split on. */
const HOST = /^[^\s/?#@\\]+$/

/**
 * The original request of a forward-auth sub-request (nginx `auth_request`, Traefik
 * `ForwardAuth`, Caddy `forward_auth`): its method and URI from `X-Forwarded-Method` and
 * `X-Forwarded-Uri` or nginx's `X-Original-Method` and `X-Original-URI` (sent under both
 * names, they must agree: a client can add either name to what its proxy passes on), and its
 * scheme and host from `publicUrl`, or `X-Forwarded-Proto` and `X-Forwarded-Host`. `Forwarded`
 * and `X-Forwarded-Prefix` are not read: the original URI is complete.
 *
 * @returns the request, or why the proxy's fields are unusable (a misconfigured proxy).
 */
export function forwardAuthRequest(
  req: IncomingMessage,
  publicUrl: URL | undefined,
): OriginalRequest | { problem: string } {
  const method = either(req, 'x-forwarded-method', 'x-original-method')
  const uri = either(req, 'x-forwarded-uri', 'x-original-uri')
  if (method === 'repeated' || uri === 'repeated') {
    return { problem: 'the original method or URI field is repeated' }
  }
  if (method === 'conflicting' || uri === 'conflicting') {
    return { problem: 'X-Forwarded-Method/-Uri and X-Original-Method/-URI disagree' }
  }
  if (method === undefined || uri === undefined) {
    return {
      problem: 'no original method and URI (X-Forwarded-Method/-Uri or X-Original-Method/-URI)',
    }
  }
  if (!METHOD.test(method)) return { problem: 'the original method is malformed' }
  let path: string
  if (uri.startsWith('/') && !/[\s\\]/.test(uri)) path = uri
  else {
    try {
      const url = new URL(uri)
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme')
      path = `${url.pathname}${url.search}`
    } catch {
      return { problem: 'the original URI is malformed' }
    }
  }
  let origin: PublicOrigin
  if (publicUrl) origin = { proto: publicUrl.protocol.slice(0, -1), host: publicUrl.host }
  else {
    const proto = last(req.headers['x-forwarded-proto'])
    const host = last(req.headers['x-forwarded-host'])
    if (!proto || !host) {
      return { problem: 'no X-Forwarded-Proto and X-Forwarded-Host, and publicUrl is not set' }
    }
    if (!PROTO.test(proto) || !HOST.test(host)) {
      return { problem: 'X-Forwarded-Proto or X-Forwarded-Host is malformed' }
    }
    origin = { proto: proto.toLowerCase(), host }
  }
  return originalRequest(req, method, path, origin)
}
