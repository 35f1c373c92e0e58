/**
 * @module resource/introspection
 *
 * Opaque (reference) access tokens, resolved by token introspection (RFC 7662) at the
 * authorization server, authenticated with `client_secret_basic` (RFC 6749 §2.3.1). An active
 * answer is cached for a short time, keyed by the token's SHA-256, never past its `exp`; the
 * token itself is never kept.
 */
import { invalidToken, ResourceError } from './errors.js'
import type { AccessTokenClaims, JwtPolicy } from './jwt-access-token.js'
import { checkClaims } from './jwt-access-token.js'
import type { TokenCache } from './token-cache.js'

export interface IntrospectionOptions {
  /** The introspection endpoint; by default `introspection_endpoint` from the metadata. */
  endpoint?: string
  clientId: string
  clientSecret: string
  /** How long an active answer is reused, in seconds (default 30), never past the token's `exp`. */
  cacheTtl?: number
}

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding. */
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

const unavailable = (detail: string, cause?: unknown) =>
  new ResourceError('temporarily_unavailable', {
    status: 503,
    description: 'token introspection is unavailable',
    reason: 'introspection_unavailable',
    detail,
    cause,
  })

export interface Introspector {
  introspect(token: string, tokenHash: string, now: number): Promise<AccessTokenClaims>
}

export function createIntrospector(
  options: IntrospectionOptions,
  endpoint: () => Promise<URL>,
  policy: JwtPolicy,
  cache: TokenCache,
  fetchImpl: typeof fetch,
  timeout: number,
): Introspector {
  const authorization = basic(options.clientId, options.clientSecret)
  const ttl = options.cacheTtl ?? 30
  return {
    async introspect(token, tokenHash, now) {
      const cached = cache.get(tokenHash, now)
      if (cached) return cached
      let response: Response
      try {
        response = await fetchImpl(await endpoint(), {
          method: 'POST',
          headers: {
            authorization,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
          redirect: 'error',
          signal: AbortSignal.timeout(timeout),
        })
      } catch (cause) {
        throw unavailable((cause as Error).message, cause)
      }
      if (response.status !== 200) {
        await response.body?.cancel()
        throw unavailable(`introspection answered HTTP ${response.status}`)
      }
      let answer: Record<string, unknown>
      try {
        answer = (await response.json()) as Record<string, unknown>
      } catch (cause) {
        throw unavailable('introspection answer is not JSON', cause)
      }
      // RFC 7662 §2.2: `active` is REQUIRED and boolean; anything but `true` is inactive.
      if (answer?.active !== true) {
        throw invalidToken('token_inactive', 'the access token is not active')
      }
      // An answer without `iss` is the configured issuer's own (RFC 7662 §2.2 makes it
      // optional); `exp` is needed to bound the cache and the token's life.
      const claims = checkClaims({ iss: policy.issuer, ...answer } as never, policy, now)
      cache.set(tokenHash, claims, Math.min(now + ttl, claims.exp))
      return claims
    },
  }
}
