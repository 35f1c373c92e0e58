/**
 * @module server/authorize/response
 *
 * The authorization response (RFC 6749 §4.1.2): a new code, or an error (§4.1.2.1), as query
 * parameters of the redirect URI, with `iss` (RFC 9207 §2) so that the client can tell which
 * server answered (mix-up attacks, RFC 9700 §4.4).
 */
import { hash, randomBytes } from 'node:crypto'
import type { OAuthError } from '../../errors.js'
import { epoch, type ServerContext } from '../context.js'
import type { AuthorizationRequest } from './request.js'

/**
 * The redirect URI with `params` added to its query. The registered URI's own query is kept as
 * it is (RFC 6749 §3.1.2: "MUST retain the query component"); it has no fragment (§3.1.2).
 */
export function redirectTo(
  redirectUri: string,
  params: Readonly<Record<string, string | undefined>>,
): string {
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) query.append(name, value)
  }
  const separator = !redirectUri.includes('?') ? '?' : /[?&]$/.test(redirectUri) ? '' : '&'
  return `${redirectUri}${separator}${query}`
}

/** The error response (RFC 6749 §4.1.2.1). */
export function errorRedirect(
  redirectUri: string,
  state: string | undefined,
  err: OAuthError,
  context: ServerContext,
): string {
  return redirectTo(redirectUri, {
    error: err.error,
    error_description: err.error_description,
    state,
    iss: context.config.issuer,
  })
}

/**
 * Issues the code and answers the success response (RFC 6749 §4.1.2). The code is 256 random
 * bits, stored as its SHA-256 only, and starts a new grant: every token issued from it shares
 * `grant_id`, so that a replay of the code can revoke them (RFC 6749 §4.1.2).
 */
export async function codeRedirect(
  request: AuthorizationRequest,
  user: { sub: string; authTime: number },
  context: ServerContext,
): Promise<string> {
  const code = randomBytes(32).toString('base64url')
  await context.store.insertCode({
    id: hash('sha256', code, 'base64url'),
    grant_id: randomBytes(16).toString('base64url'),
    client_id: request.clientId,
    sub: user.sub,
    redirect_uri: request.redirectUri,
    scope: request.scope,
    code_challenge: request.codeChallenge,
    code_challenge_method: request.codeChallengeMethod,
    dpop_jkt: request.dpopJkt,
    auth_time: user.authTime,
    expires_at: epoch() + context.config.authorizationCode.ttl,
    consumed_at: null,
  })
  return redirectTo(request.redirectUri, { code, state: request.state, iss: context.config.issuer })
}
