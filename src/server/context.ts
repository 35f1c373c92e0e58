/**
 * @module server/context
 *
 * What every endpoint of the authorization server needs, passed explicitly (no hidden state).
 */
import type { NonceSource } from '../bindings/dpop/nonce.js'
import type { ClientCertificateSource } from '../bindings/mtls/client-certificate.js'
import type { Config } from '../config/index.js'
import type { ReplayCache } from '../replay/types.js'
import type { Store } from '../store/types.js'
import type { ClientLookup } from './clients.js'
import type { SigningKeys } from './tokens/keys.js'

export interface ServerContext {
  readonly config: Config
  readonly store: Store
  /** Client lookups for authentication, cached for a few seconds. */
  readonly clients: ClientLookup
  readonly replayCache: ReplayCache
  readonly keys: SigningKeys
  /** Present when `dpop.nonce` is `required` (RFC 9449 §8). */
  readonly nonces: NonceSource | undefined
  /** Absolute URLs of the endpoints, from the issuer (RFC 8414 §2). */
  readonly endpoints: Endpoints
  /** Mutual TLS (RFC 8705). */
  readonly mtls: MtlsContext
}

/** What the endpoints need for mutual TLS (RFC 8705). */
export interface MtlsContext {
  /** Whether client certificates can reach the server: an HTTPS listener or a proxy's header. */
  readonly enabled: boolean
  /** The `mtls_endpoint_aliases` (RFC 8705 §5), when they have a base URL. */
  readonly endpoints: Endpoints | undefined
  /** The host of the aliases when it is not the issuer's (a proxy serves them on their own host). */
  readonly aliasHost: string | undefined
  /** Reads the client certificate of a request (the TLS connection, or a trusted proxy's header). */
  readonly certificates: ClientCertificateSource
}

export interface Endpoints {
  readonly token: string
  readonly authorization: string
  readonly par: string
  readonly introspection: string
  readonly revocation: string
  readonly registration: string
  readonly jwks: string
}

/** Endpoint URLs under the issuer: `https://as.example/tenant` → `https://as.example/tenant/token`. */
export function endpointsOf(issuer: string): Endpoints {
  const base = issuer.replace(/\/+$/, '')
  return {
    token: `${base}/token`,
    authorization: `${base}/authorize`,
    par: `${base}/par`,
    introspection: `${base}/introspect`,
    revocation: `${base}/revoke`,
    registration: `${base}/register`,
    jwks: `${base}/jwks`,
  }
}

/** Epoch seconds. */
export const epoch = () => Math.floor(Date.now() / 1000)
