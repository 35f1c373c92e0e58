/**
 * @module resource/requirements
 *
 * What one route demands beyond a valid, bound token: an audience narrower than the verifier's,
 * and scopes (RFC 6750 §3.1 `insufficient_scope`, 403, with the scopes in the challenge).
 */
import { invalidToken, ResourceError } from './errors.js'
import type { AccessTokenClaims } from './jwt-access-token.js'

/** What one route demands beyond a valid token. */
export interface Requirements {
  /** Scopes the token must all carry (`insufficient_scope`, 403, otherwise). */
  scope?: string | readonly string[]
  /** Audiences of which the token's `aud` must contain one (narrower than the verifier's). */
  audience?: string | readonly string[]
}

const list = (value: string | readonly string[]) => (typeof value === 'string' ? [value] : value)

/** `scope` (RFC 9068 §2.2.3, a space-separated string), or Okta's `scp` array. */
export function scopesOf(claims: AccessTokenClaims): string[] {
  if (typeof claims.scope === 'string') return claims.scope.split(' ').filter(Boolean)
  return Array.isArray(claims.scp) ? claims.scp.filter((s) => typeof s === 'string') : []
}

/** @throws {ResourceError} `invalid_token` (401) for another audience. */
export function checkAudience(claims: AccessTokenClaims, requirements: Requirements | undefined) {
  if (requirements?.audience === undefined) return
  const wanted = list(requirements.audience)
  const aud = claims.aud === undefined ? [] : list(claims.aud)
  if (!aud.some((a) => wanted.includes(a))) {
    throw invalidToken('aud_mismatch', 'the access token is not meant for this resource', {
      detail: `aud=${JSON.stringify(claims.aud)} expected=${wanted.join(' ')}`,
    })
  }
}

/** @throws {ResourceError} `insufficient_scope` (403) naming every scope the route needs. */
export function checkScope(scopes: readonly string[], requirements: Requirements | undefined) {
  if (requirements?.scope === undefined) return
  const needed = list(requirements.scope)
  const missing = needed.filter((s) => !scopes.includes(s))
  if (missing.length > 0) {
    throw new ResourceError('insufficient_scope', {
      status: 403,
      description: 'the access token lacks a scope this resource requires',
      reason: 'insufficient_scope',
      scope: needed.join(' '),
      detail: `missing=${missing.join(' ')}`,
    })
  }
}
