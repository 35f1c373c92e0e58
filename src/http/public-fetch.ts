/**
 * @module http/public-fetch
 *
 * Outbound requests made for a party the operator does not vouch for, such as fetching the
 * `jwks_uri` of a dynamically registered client. They may reach only public unicast addresses.
 * Otherwise anyone allowed to register a client could make the server call into its own network
 * (server-side request forgery, the concern of RFC 7591 §5 and RFC 9700 §4.15 with URLs a client
 * supplies): a cloud metadata service, an admin port on loopback, a database next door.
 *
 * The check is made where the connection is made, on the addresses the DNS answered. So a
 * name that resolves to a private address is refused too, and so is a name re-pointed between a
 * first check and the connection (DNS rebinding). An IP literal in the URL is never looked up,
 * so it is checked before the request.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns'
import { BlockList, isIP } from 'node:net'
import { Agent, fetch } from 'undici'

/**
 * Special-purpose ranges (IANA IPv4 and IPv6 Special-Purpose Address Registries, RFC 6890).
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) need no rule of their own: `BlockList`
 * checks them against the IPv4 rules.
 */
const NON_PUBLIC: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'], // "this network"
  ['10.0.0.0', 8, 'ipv4'], // private (RFC 1918)
  ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8, 'ipv4'], // loopback
  ['169.254.0.0', 16, 'ipv4'], // link-local, cloud metadata services
  ['172.16.0.0', 12, 'ipv4'], // private
  ['192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['192.0.2.0', 24, 'ipv4'], // documentation
  ['192.168.0.0', 16, 'ipv4'], // private
  ['198.18.0.0', 15, 'ipv4'], // benchmarking
  ['198.51.100.0', 24, 'ipv4'], // documentation
  ['203.0.113.0', 24, 'ipv4'], // documentation
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 128, 'ipv6'], // unspecified
  ['::1', 128, 'ipv6'], // loopback
  ['64:ff9b::', 96, 'ipv6'], // NAT64, likewise
  ['64:ff9b:1::', 48, 'ipv6'], // local-use NAT64
  ['100::', 64, 'ipv6'], // discard-only
  ['2001:db8::', 32, 'ipv6'], // documentation
  ['2002::', 16, 'ipv6'], // 6to4, embeds an IPv4 address
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['ff00::', 8, 'ipv6'], // multicast
]

const nonPublic = new BlockList()
for (const [network, prefix, type] of NON_PUBLIC) nonPublic.addSubnet(network, prefix, type)

/** Whether `address` (an IPv4 or IPv6 address, no brackets) is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 0) return false
  return !nonPublic.check(address, family === 6 ? 'ipv6' : 'ipv4')
}

/** An outbound request refused because its host is, or resolves to, a non-public address. */
export class NonPublicAddressError extends Error {
  readonly code = 'ERR_NON_PUBLIC_ADDRESS'
  constructor(host: string) {
    super(`${host} is not a public address`)
    this.name = 'NonPublicAddressError'
  }
}

type Lookup = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void

export interface PublicFetchOptions {
  /** Name resolution, `dns.lookup` by default; injectable for tests. */
  lookup?: Lookup
  /** Which addresses may be connected to, {@link isPublicAddress} by default. */
  isAllowed?: (address: string) => boolean
}

/** The fetch function of {@link createPublicFetch}, in the shape jose's `customFetch` takes. */
export type PublicFetch = (
  url: string,
  init: { headers?: Headers; method?: string; redirect?: 'manual'; signal?: AbortSignal },
) => Promise<Response>

/** A `fetch` that connects to allowed (by default: public) addresses only. */
export function createPublicFetch(options: PublicFetchOptions = {}): PublicFetch {
  const lookup: Lookup = options.lookup ?? dnsLookup
  const isAllowed = options.isAllowed ?? isPublicAddress
  const agent = new Agent({
    connect: {
      // net.connect and tls.connect call this for every name, with `all` when they try
      // several addresses (happy eyeballs): keep the allowed ones, refuse when none is left.
      lookup(hostname: string, opts: { all?: boolean }, callback: LookupCallback) {
        lookup(hostname, { ...opts, all: true }, (err, addresses) => {
          if (err) return callback(err, [])
          const allowed = addresses.filter((a) => isAllowed(a.address))
          const first = allowed[0]
          if (first === undefined) return callback(new NonPublicAddressError(hostname), [])
          if (opts.all) return callback(null, allowed)
          return callback(null, first.address, first.family)
        })
      },
    } as Record<string, unknown>,
  })
  return (url, init) => {
    const { hostname } = new URL(url)
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
    if (isIP(host) !== 0 && !isAllowed(host)) {
      return Promise.reject(new NonPublicAddressError(host))
    }
    // undici's own types for Headers and Response differ from the global ones it implements.
    const request = { ...init, dispatcher: agent } as unknown as Parameters<typeof fetch>[1]
    return fetch(url, request) as unknown as Promise<Response>
  }
}

type LookupCallback = (
  err: Error | null,
  address: string | LookupAddress[],
  family?: number,
) => void
