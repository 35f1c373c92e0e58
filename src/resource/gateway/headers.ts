/**
 * @module resource/gateway/headers
 *
 * The fields the gateway removes, rewrites and adds on each side:
 *
 * - hop-by-hop fields (RFC 9110 §7.6.1): `Connection` and every field it names, `Keep-Alive`,
 *   `Proxy-Connection`, `TE`, `Transfer-Encoding`, `Upgrade`, plus `Trailer` and the proxy
 *   credentials `Proxy-Authorization`/`Proxy-Authenticate` (RFC 9110 §11.7), both ways;
 * - the client's credentials (`Authorization` unless configured, always `DPoP`: RFC 9449 §7)
 *   and the client's own copies of the identity headers, whatever their case, every repeat;
 * - `Forwarded` (RFC 7239 §4) and `X-Forwarded-*`: extended when the peer is a trusted proxy,
 *   replaced otherwise, so a client cannot tell the upstream where it came from.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { VerifiedRequest } from '../verifier.js'
import type { GatewayConfig } from './config.js'

/** RFC 9110 §7.6.1 and §11.7: fields meant for one connection only, never forwarded. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
])

/** RFC 7239 and its de-facto predecessors: rewritten by the gateway, never passed blindly. */
const FORWARDING: ReadonlySet<string> = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
])

/** The identity headers' lower-case names, for matching. */
export function identityNames(config: GatewayConfig): Set<string> {
  const { forwardAuthorization: _, ...names } = config.headers
  return new Set(Object.values(names).map((name) => name.toLowerCase()))
}

/** The fields a `Connection` header names (RFC 9110 §7.6.1), lower-case; repeats joined. */
export function connectionOptions(value: string | readonly string[] | undefined): Set<string> {
  const out = new Set<string>()
  const list = value === undefined ? [] : typeof value === 'string' ? [value] : value
  for (const field of list) {
    for (const name of field.split(',')) {
      const trimmed = name.trim().toLowerCase()
      if (trimmed) out.add(trimmed)
    }
  }
  return out
}

/** `Connection` values of a raw header list (`[name, value, name, value, ...]`). */
function rawConnection(raw: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') out.push(raw[i + 1] as string)
  }
  return out
}

/**
 * Identity values are sent as they are when they are printable ASCII without `%`; otherwise
 * percent-encoded (RFC 3986 §2.1, UTF-8), so `decodeURIComponent` always restores them and no
 * claim can smuggle a line break or a byte a field may not hold (RFC 9110 §5.5).
 */
export function headerValue(value: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(value)) return value
  // A lone surrogate (possible in JSON) has no UTF-8 form: it becomes U+FFFD first.
  return value
    .replace(/[\ud800-\udfff]/gu, '\ufffd')
    .replace(/[^\x20-\x24\x26-\x7e]|%/gu, (c) => encodeURIComponent(c))
}

/** The identity of a verified request, as `[name, value]` pairs in the configured names. */
export function identityHeaders(
  verified: VerifiedRequest,
  config: GatewayConfig,
): [string, string][] {
  const names = config.headers
  const out: [string, string][] = [[names.binding, verified.binding]]
  if (verified.subject !== undefined) out.push([names.subject, headerValue(verified.subject)])
  if (verified.clientId !== undefined) out.push([names.clientId, headerValue(verified.clientId)])
  out.push([names.scope, headerValue(verified.scopes.join(' '))])
  const cnf = verified.claims.cnf ?? {}
  if (typeof cnf.jkt === 'string') out.push([names.jkt, headerValue(cnf.jkt)])
  const x5t = cnf['x5t#S256']
  if (typeof x5t === 'string') out.push([names.certThumbprint, headerValue(x5t)])
  return out
}

/** The scheme and authority the client used, for `X-Forwarded-*` and `Forwarded`. */
export interface PublicOrigin {
  /** `http` or `https`. */
  proto: string
  /** `host[:port]` as the client addressed it. */
  host: string
}

/** RFC 7239 §6: an IPv6 node is bracketed and the value quoted; `unknown` when none is known. */
function forwardedNode(address: string | undefined): string {
  if (!address) return 'unknown'
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address
  return plain.includes(':') ? `"[${plain}]"` : plain
}

/** A `Forwarded` parameter value: a token, or a quoted-string (RFC 7239 §4, RFC 9110 §5.6.4). */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)
    ? value
    : `"${value.replace(/[\\"]/g, '\\$&').replace(/[^\t\x20-\x7e]/g, '')}"`
}

export interface UpstreamRequestContext {
  /** The peer's address (`req.socket.remoteAddress`). */
  remoteAddress: string | undefined
  /** Whether the peer is a trusted proxy, whose forwarding fields are extended, not replaced. */
  trusted: boolean
  /** The scheme and host the client used, when known. */
  origin: PublicOrigin | undefined
  verified: VerifiedRequest
}

/**
 * The fields of the request sent upstream, as a flat `[name, value, ...]` list (repeats and
 * order kept), from the client's raw fields: hop-by-hop fields, `DPoP`, `Authorization` (unless
 * `headers.forwardAuthorization`), `Expect` (the gateway answered `100 Continue` itself), `Host`
 * (the upstream's own is sent), the forwarding fields of an untrusted peer and every copy of an
 * identity header are dropped; then the identity and forwarding fields are added.
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  config: GatewayConfig,
  context: UpstreamRequestContext,
): string[] {
  const drop = identityNames(config)
  for (const name of HOP_BY_HOP) drop.add(name)
  for (const name of connectionOptions(rawConnection(raw))) drop.add(name)
  drop.add('dpop')
  drop.add('expect')
  drop.add('host')
  if (!config.headers.forwardAuthorization) drop.add('authorization')
  // The gateway sets these from the URL the client used; a trusted proxy's chain is extended.
  drop.add('x-forwarded-proto')
  drop.add('x-forwarded-host')
  if (!context.trusted) for (const name of FORWARDING) drop.add(name)

  const out: string[] = []
  const forwarded: string[] = []
  const forwardedFor: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    const lower = name.toLowerCase()
    if (drop.has(lower)) continue
    if (lower === 'forwarded') forwarded.push(value)
    else if (lower === 'x-forwarded-for') forwardedFor.push(value)
    else out.push(name, value)
  }
  for (const [name, value] of identityHeaders(context.verified, config)) out.push(name, value)

  const peer = context.remoteAddress?.startsWith('::ffff:')
    ? context.remoteAddress.slice(7)
    : context.remoteAddress
  const element = [`for=${forwardedNode(context.remoteAddress)}`]
  if (context.origin) {
    element.push(`host=${forwardedValue(context.origin.host)}`)
    element.push(`proto=${context.origin.proto}`)
    out.push('X-Forwarded-Proto', context.origin.proto, 'X-Forwarded-Host', context.origin.host)
  }
  forwarded.push(element.join(';'))
  if (peer) forwardedFor.push(peer)
  out.push('Forwarded', forwarded.join(', '))
  if (forwardedFor.length > 0) out.push('X-Forwarded-For', forwardedFor.join(', '))
  return out
}

/**
 * The upstream's response fields to send to the client: without the hop-by-hop fields and
 * those its `Connection` names (RFC 9110 §7.6.1). Node sets the client connection's own.
 */
export function downstreamResponseHeaders(
  headers: IncomingHttpHeaders,
): [string, string | string[]][] {
  const drop = connectionOptions(headers.connection)
  const out: [string, string | string[]][] = []
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name)) continue
    out.push([name, value])
  }
  return out
}
