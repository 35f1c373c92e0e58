/**
 * @module resource/request-url
 *
 * The URL the client called, which a DPoP proof's `htu` must match (RFC 9449 §4.3 step 9).
 * Behind a proxy that is not the URL the application sees: it comes from `publicUrl`, or from
 * the proxy's `Forwarded` (RFC 7239) or `X-Forwarded-*` fields, read only when the peer that
 * sent the request is a trusted proxy. From anyone else those fields are ignored: a client could
 * otherwise make a proof captured for one URL pass at another.
 */
import { isIP } from 'node:net'
import type { ProxyTrust } from '../http/trust-proxy.js'
import { headerOf, type RequestHeaders } from './authorization.js'
import { invalidRequest } from './errors.js'

export { compileTrustProxy, type ProxyTrust, type TrustProxy } from '../http/trust-proxy.js'

/** One element of a `Forwarded` field: its parameters, names lower-cased (RFC 7239 §4). */
type ForwardedElement = Record<string, string>

/** Parses `Forwarded` (RFC 7239 §4): elements by `,`, pairs by `;`, values token or quoted. */
export function parseForwarded(value: string): ForwardedElement[] {
  const elements: ForwardedElement[] = []
  let current: ForwardedElement = {}
  const pair =
    /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[!#$%&'*+.^_`|~0-9A-Za-z:[\]-]*)\s*([;,]|$)/y
  pair.lastIndex = 0
  while (pair.lastIndex < value.length) {
    const match = pair.exec(value)
    if (!match) return [] // malformed: trust none of it
    const raw = match[2] as string
    current[(match[1] as string).toLowerCase()] = raw.startsWith('"')
      ? raw.slice(1, -1).replace(/\\(.)/g, '$1')
      : raw
    if (match[3] !== ';') {
      elements.push(current)
      current = {}
    }
    if (match[3] === '') break
  }
  return elements
}

/** The IP address of a `for` node (RFC 7239 §6): `[v6]:port`, `v4:port`, or bare. */
function nodeAddress(node: string | undefined): string | undefined {
  if (!node) return undefined
  if (node.startsWith('[')) return node.slice(1, node.indexOf(']'))
  return isIP(node) ? node : node.split(':')[0]
}

/** The last value of a list-valued field, trimmed: the one the nearest proxy set. */
function last(value: string | readonly string[] | undefined): string | undefined {
  const joined = Array.isArray(value) ? value.join(',') : (value as string | undefined)
  if (!joined) return undefined
  const item = joined.split(',').at(-1)?.trim()
  return item || undefined
}

export interface RequestTarget {
  /** The request-target as received: origin form (`/path?q`) or absolute form. */
  url: string
  headers: RequestHeaders
  /** The address of the peer that sent the request (`req.socket.remoteAddress`). */
  remoteAddress?: string | undefined
  /** Whether the request arrived over TLS. */
  encrypted?: boolean | undefined
}

export interface UrlPolicy {
  /** The external base URL of the API (scheme, host, port, and any path prefix a proxy strips). */
  publicUrl?: URL | undefined
  trusted: ProxyTrust
}

function pathOf(url: string): string {
  const end = url.search(/[?#]/)
  const path = end === -1 ? url : url.slice(0, end)
  if (path.startsWith('/')) return path
  try {
    return new URL(path).pathname
  } catch {
    throw invalidRequest('bad_request_target', 'request target is malformed')
  }
}

/**
 * The URL of the request as the client addressed it, without query and fragment.
 *
 * @throws {ResourceError} `invalid_request` when there is no way to tell (no `Host`).
 */
export function requestUrl(request: RequestTarget, policy: UrlPolicy): string {
  const path = pathOf(request.url)
  if (policy.publicUrl) {
    const base = policy.publicUrl
    return `${base.origin}${base.pathname.replace(/\/$/, '')}${path}`
  }
  let proto = request.encrypted ? 'https' : 'http'
  let host = last(headerOf(request.headers, 'host'))
  let prefix = ''
  if (policy.trusted(request.remoteAddress)) {
    const forwarded = headerOf(request.headers, 'forwarded')
    if (forwarded) {
      const elements = parseForwarded(
        Array.isArray(forwarded) ? forwarded.join(',') : (forwarded as string),
      )
      // Walk back from the element the nearest proxy added, through the proxies that are
      // trusted too: the outermost trusted one saw the scheme and host the client used.
      let i = elements.length - 1
      while (i > 0 && policy.trusted(nodeAddress(elements[i]?.for))) i--
      const element = elements[i]
      if (element?.proto) proto = element.proto.toLowerCase()
      if (element?.host) host = element.host
    } else {
      const xProto = last(headerOf(request.headers, 'x-forwarded-proto'))
      const xHost = last(headerOf(request.headers, 'x-forwarded-host'))
      const xPort = last(headerOf(request.headers, 'x-forwarded-port'))
      if (xProto) proto = xProto.toLowerCase()
      if (xHost) host = xHost
      if (xPort && host) host = `${host.replace(/:\d+$/, '')}:${xPort}`
    }
    const xPrefix = last(headerOf(request.headers, 'x-forwarded-prefix'))
    if (xPrefix) prefix = xPrefix.replace(/\/$/, '')
  }
  if (!host || (proto !== 'http' && proto !== 'https')) {
    throw invalidRequest('no_request_url', 'the request URL cannot be determined')
  }
  return `${proto}://${host}${prefix}${path}`
}
