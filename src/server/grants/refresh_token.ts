/**
 * @module server/grants/refresh_token
 *
 * `grant_type=refresh_token` (RFC 6749 §6), and the issuing of refresh tokens.
 *
 * Binding (RFC 9449 §5, RFC 8705 §4): a public client's refresh token is bound to its DPoP key,
 * or to its TLS client certificate, and keeps that binding for life, through every rotation;
 * refreshing it takes a proof of that key (else a DPoP error), or that certificate (else
 * `invalid_grant`). A confidential client's refresh token is not bound (the client
 * authenticates instead), so a refresh may prove any key or present any certificate, a new one
 * included, and the new access token is bound to it.
 *
 * Rotation (`refreshToken.rotation`, RFC 9700 §4.14.2): each refresh returns a new refresh
 * token and retires the one presented; presenting a retired one again revokes the whole grant.
 * Without rotation, the response returns the same refresh token, which stays valid until it
 * expires or is revoked.
 */
import { hash, randomBytes } from 'node:crypto'
import { InvalidGrantError, InvalidRequestError } from '../../errors.js'
import type { ClientRecord, Confirmation, RefreshTokenRecord } from '../../store/types.js'
import { epoch, type ServerContext } from '../context.js'
import { issueAccessToken } from '../tokens/access-token.js'
import { bindTokenRequest, popResponseMembers } from '../tokens/bind.js'
import { resolveAudience } from './audience.js'
import { narrowScope } from './scope.js'
import type { Grant } from './types.js'

const sha256 = (value: string) => hash('sha256', value, 'base64url')

interface RefreshTokenFields {
  readonly clientId: string
  readonly sub: string | null
  readonly scope: string
  readonly grantId: string
  readonly cnf: Confirmation | null
}

/** A new refresh token (256 random bits) and its record, keyed by its SHA-256. */
function newRefreshToken(fields: RefreshTokenFields, context: ServerContext) {
  const token = randomBytes(32).toString('base64url')
  const now = epoch()
  const record: RefreshTokenRecord = {
    id: sha256(token),
    grant_id: fields.grantId,
    client_id: fields.clientId,
    sub: fields.sub,
    scope: fields.scope,
    cnf: fields.cnf,
    created_at: now,
    expires_at: now + context.config.refreshToken.ttl,
    rotated_at: null,
    revoked_at: null,
  }
  return { token, record }
}

/** The binding a public client's refresh token keeps: the DPoP key, the PoP key or the certificate. */
function refreshBinding(cnf: Confirmation | null): Confirmation | null {
  if (cnf?.jkt) return { jkt: cnf.jkt }
  if (cnf?.jwk) return { jwk: cnf.jwk }
  const x5t = cnf?.['x5t#S256']
  return x5t ? { 'x5t#S256': x5t } : null
}

/**
 * Issues the first refresh token of a grant. `cnf` is the binding of the request: it binds the
 * refresh token of a public client only (RFC 9449 §5, RFC 8705 §4).
 */
export async function issueRefreshToken(
  request: {
    client: ClientRecord
    sub: string
    scope: string
    grantId: string
    cnf: Confirmation | null
  },
  context: ServerContext,
): Promise<string> {
  const isPublic = request.client.token_endpoint_auth_method === 'none'
  const { token, record } = newRefreshToken(
    {
      clientId: request.client.client_id,
      sub: request.sub,
      scope: request.scope,
      grantId: request.grantId,
      cnf: isPublic ? refreshBinding(request.cnf) : null,
    },
    context,
  )
  await context.store.insertRefreshToken(record)
  return token
}

const invalid = (reason: string) =>
  new InvalidGrantError('refresh token is invalid, expired or revoked', { reason })

/**
 * The live refresh token presented, issued to this client (RFC 6749 §6). A token that is not
 * live may be a retired one presented again: the store's `rotateRefreshToken` is where reuse is
 * detected (it revokes the family and answers `reused`), so it is asked. The replacement given
 * to it is never stored: it would be only if the token were live, and a token that is not live
 * never becomes live again.
 */
async function lookUp(
  presented: string,
  client: ClientRecord,
  context: ServerContext,
): Promise<RefreshTokenRecord> {
  const id = sha256(presented)
  const token = await context.store.getRefreshToken(id)
  if (!token) {
    const unused = newRefreshToken(
      { clientId: client.client_id, sub: null, scope: '', grantId: '', cnf: null },
      context,
    ).record
    const result = await context.store.rotateRefreshToken(id, unused, epoch())
    throw invalid(result.status === 'reused' ? 'refresh_token_reused' : 'refresh_token_not_found')
  }
  if (token.client_id !== client.client_id) throw invalid('refresh_token_of_another_client')
  return token
}

/** Retires `previous` for a new token of the same grant, scope and binding, atomically. */
async function rotate(previous: RefreshTokenRecord, context: ServerContext): Promise<string> {
  const next = newRefreshToken(
    {
      clientId: previous.client_id,
      sub: previous.sub,
      // RFC 6749 §6: the new refresh token's scope is the old one's, even after a narrowed refresh.
      scope: previous.scope,
      grantId: previous.grant_id,
      cnf: previous.cnf,
    },
    context,
  )
  const result = await context.store.rotateRefreshToken(previous.id, next.record, epoch())
  // `reused`: a concurrent refresh won; the store has revoked the family.
  if (result.status !== 'rotated') throw invalid(`refresh_token_${result.status}`)
  return next.token
}

export const refreshToken: Grant = {
  grantType: 'refresh_token',
  parameters: new Set(['refresh_token', 'scope', 'resource', 'token_type', 'alg', 'key']),
  async handle({ client, params, dpop, endpoint, certificate, context }) {
    // 1. The request's own parameters.
    const presented = params.refresh_token
    if (presented === undefined) throw new InvalidRequestError('refresh_token is required')
    const aud = resolveAudience(params.resource, context)
    // 2. The token: live, and this client's.
    const previous = await lookUp(presented, client, context)
    // 3. The scope may narrow, never widen (RFC 6749 §6).
    const scope = narrowScope(params.scope, previous.scope, client, context.config.scopes)
    // 4. A bound refresh token takes a proof of its key; an unbound one, any key or none.
    const cnf = await bindTokenRequest(
      {
        client,
        dpop,
        endpoint,
        certificate,
        requiredJkt: previous.cnf?.jkt,
        requiredX5t: previous.cnf?.['x5t#S256'],
        requiredJwk: previous.cnf?.jwk,
        params,
      },
      context,
    )
    // 5. Rotation, before the access token: of two concurrent refreshes, one gets tokens.
    const refresh_token = context.config.refreshToken.rotation
      ? await rotate(previous, context)
      : presented
    // 6. The access token, in the same grant.
    const token = await issueAccessToken(
      { client, sub: previous.sub ?? undefined, scope, aud, cnf, grantId: previous.grant_id },
      context,
    )
    return {
      ...token,
      ...(scope ? { scope } : {}),
      refresh_token,
      ...popResponseMembers(params, cnf),
    }
  },
}
