/**
 * @module server/context
 *
 * What every endpoint of the authorization server needs, passed explicitly (no hidden state).
 */
import type { NonceSource } from '../bindings/dpop/nonce.js'
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
