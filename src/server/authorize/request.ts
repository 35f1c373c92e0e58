/**
 * @module server/authorize/request
 *
 * Validation of an authorization request (RFC 6749 §4.1.1), shared by the authorization
 * endpoint and the pushed authorization request endpoint, which validates "in the same way"
 * (RFC 9126 §2.1). It has two stages because RFC 6749 §4.1.2.1 treats them differently: a bad
 * client or redirect URI must never be redirected to (§3.1.2.4), every other problem is answered
 * at the redirect URI.
 */

import {
  InvalidRequestError,
  UnauthorizedClientError,
  UnsupportedResponseTypeError,
} from '../../errors.js'
import { isBase64url } from '../../jose/base64url.js'
import type { ClientRecord } from '../../store/types.js'
import type { ServerContext } from '../context.js'
import { resolveScope } from '../grants/scope.js'

/** The parameters of an authorization request keybound reads; a pushed request keeps these. */
export const AUTHORIZATION_PARAMETERS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
  'dpop_jkt',
  'response_mode',
] as const

/** A validated authorization request: what the code will carry. */
export interface AuthorizationRequest {
  readonly clientId: string
  readonly redirectUri: string
  readonly state: string | undefined
  readonly scope: string
  readonly codeChallenge: string | null
  readonly codeChallengeMethod: 'S256' | null
  readonly dpopJkt: string | null
}

type Params = Readonly<Record<string, string>>

/** A SHA-256 value in unpadded base64url: a PKCE S256 challenge, a JWK thumbprint. */
export const isSha256Base64url = (value: string) => value.length === 43 && isBase64url(value)

/**
 * Stage 1: the redirect URI, compared with the registered ones by exact string match (RFC 9700
 * §4.1.3, RFC 6749 §3.1.2.3). It may be omitted when exactly one is registered (§3.1.2.3).
 *
 * @throws {InvalidRequestError} which must be shown to the user, never redirected.
 */
export function resolveRedirectUri(redirectUri: string | undefined, client: ClientRecord): string {
  if (redirectUri === undefined) {
    const [only, ...others] = client.redirect_uris
    if (only !== undefined && others.length === 0) return only
    throw new InvalidRequestError('redirect_uri is required', { reason: 'redirect_uri_missing' })
  }
  if (!client.redirect_uris.includes(redirectUri)) {
    throw new InvalidRequestError('redirect_uri is not registered for this client', {
      reason: 'redirect_uri_unregistered',
    })
  }
  return redirectUri
}

/** RFC 7636 §4.3, §4.4.1: S256 only, required for public clients (RFC 9700 §2.1.1). */
function checkPkce(params: Params, client: ClientRecord): string | null {
  const challenge = params.code_challenge
  const method = params.code_challenge_method
  if (challenge === undefined) {
    if (method !== undefined) throw new InvalidRequestError('code_challenge is required')
    if (client.token_endpoint_auth_method === 'none') {
      throw new InvalidRequestError('code_challenge is required for public clients (PKCE)')
    }
    return null
  }
  // Without a method the challenge is `plain` (§4.3), which RFC 9700 §2.1.1 rules out.
  if (method !== 'S256') {
    throw new InvalidRequestError('code_challenge_method must be S256', {
      detail: `method ${method ?? '(none: plain)'}`,
    })
  }
  if (!isSha256Base64url(challenge)) {
    throw new InvalidRequestError('code_challenge must be a base64url SHA-256 (43 characters)')
  }
  return challenge
}

/**
 * Stage 2: every other parameter, for a client whose redirect URI is settled.
 *
 * @throws {OAuthError} to be answered at the redirect URI (or as JSON at the PAR endpoint).
 */
export function validateAuthorizationRequest(
  params: Params,
  client: ClientRecord,
  redirectUri: string,
  context: ServerContext,
): AuthorizationRequest {
  // RFC 9101 request objects are not supported; ignoring one would drop what it protects.
  if (params.request !== undefined) {
    throw new InvalidRequestError('request objects are not supported')
  }
  if (params.response_type === undefined) {
    throw new InvalidRequestError('response_type is required')
  }
  // RFC 9700 §2.1.2: only the code flow.
  if (params.response_type !== 'code') throw new UnsupportedResponseTypeError()
  if (params.response_mode !== undefined && params.response_mode !== 'query') {
    throw new InvalidRequestError('response_mode must be query')
  }
  if (!client.grant_types.includes('authorization_code')) {
    throw new UnauthorizedClientError('client may not use the authorization code grant')
  }
  const codeChallenge = checkPkce(params, client)
  const scope = resolveScope(params.scope, client, context.config.scopes)
  // RFC 9449 §10: the JWK SHA-256 thumbprint (RFC 7638) of the key the code is bound to.
  const dpopJkt = params.dpop_jkt ?? null
  if (dpopJkt !== null && !isSha256Base64url(dpopJkt)) {
    throw new InvalidRequestError('dpop_jkt must be a base64url JWK SHA-256 thumbprint')
  }
  return {
    clientId: client.client_id,
    redirectUri,
    state: params.state,
    scope,
    codeChallenge,
    codeChallengeMethod: codeChallenge === null ? null : 'S256',
    dpopJkt,
  }
}
