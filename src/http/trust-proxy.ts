/**
 * @module http/trust-proxy
 *
 * Which peers are trusted proxies: the ones whose forwarded fields (`Forwarded`,
 * `X-Forwarded-*`, a forwarded client certificate) are believed. Shared by the resource server
 * (the URL a DPoP proof must name) and the authorization server (the client certificate a
 * TLS-terminating proxy forwards, RFC 8705).
 */
import { BlockList, isIP } from 'node:net'
import { CodedTypeError } from '../errors.js'

/** `true` (every peer: only when nothing but the proxy can reach the app) or addresses/CIDRs. */
export type TrustProxy = boolean | string | readonly string[]

/** Answers whether a peer address is a trusted proxy. */
export type ProxyTrust = (address: string | undefined) => boolean

export function compileTrustProxy(trust: TrustProxy | undefined, field = 'trustProxy'): ProxyTrust {
  if (trust === undefined || trust === false) return () => false
  if (trust === true) return () => true
  const list = new BlockList()
  for (const entry of typeof trust === 'string' ? trust.split(',') : trust) {
    const [address, bits, extra] = entry.trim().split('/')
    const family = isIP(address ?? '')
    const prefix = bits === undefined ? undefined : Number(bits)
    if (
      family === 0 ||
      extra !== undefined ||
      (prefix !== undefined &&
        !(Number.isInteger(prefix) && prefix >= 0 && prefix <= (family === 4 ? 32 : 128)))
    ) {
      throw new CodedTypeError(
        `"${field}" must list IP addresses or CIDR ranges, got ${JSON.stringify(entry)}`,
        'ERR_INVALID_ARG_VALUE',
      )
    }
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (prefix === undefined) list.addAddress(address as string, type)
    else list.addSubnet(address as string, prefix, type)
  }
  return (address) => {
    if (!address) return false
    // node:http reports IPv4 peers of a dual-stack socket as IPv4-mapped IPv6.
    const plain =
      address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
    const family = isIP(plain)
    return family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6')
  }
}

/** The ranges behind the names `proxy-addr` (Fastify's `trustProxy`) knows. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

/**
 * The authorization server's `trustProxy` (Fastify's: `true`, `false`, a number of hops, or a
 * list of addresses, CIDR ranges and the names `loopback`, `linklocal`, `uniquelocal`) as the
 * question "is the peer that sent this request a trusted proxy?". A number of hops trusts the
 * peer when it is at least 1: the peer is the first hop.
 */
export function compileServerTrustProxy(
  trust: boolean | number | readonly string[],
  field = 'trustProxy',
): ProxyTrust {
  if (typeof trust === 'number') return trust >= 1 ? () => true : () => false
  if (typeof trust === 'boolean') return compileTrustProxy(trust, field)
  return compileTrustProxy(
    trust.flatMap((entry) => NAMED_RANGES[entry] ?? [entry]),
    field,
  )
}
