/**
 * @module server/tokens/access-token
 *
 * Issues access tokens: JWTs per RFC 9068, or reference (opaque) tokens kept in the store and
 * answered by introspection (RFC 7662). Either way the confirmation (`cnf`) of a bound token is
 * part of it, and `token_type` says how the client must present it.
 */
import { hash, randomBytes, randomUUID } from 'node:crypto'
import { signCompact } from '../../jose/sign.js'
import type { ClientRecord, Confirmation } from '../../store/types.js'
import { epoch, type ServerContext } from '../context.js'

export interface AccessTokenRequest {
  readonly client: ClientRecord
  /** The resource owner; `undefined` for client_credentials, where `sub` is the client. */
  readonly sub: string | undefined
  readonly scope: string
  readonly aud: readonly string[]
  readonly cnf: Confirmation | null
  readonly grantId: string | null
}

export interface IssuedAccessToken {
  readonly access_token: string
  readonly token_type: TokenType
  readonly expires_in: number
}

/** RFC 6749 §7.1 token types: `DPoP` (RFC 9449 §5) for `jkt`, `pop` for `jwk`, else `Bearer`. */
export type TokenType = 'DPoP' | 'Bearer' | 'pop'

/**
 * The `token_type` a confirmation implies. A certificate-bound token stays `Bearer`: RFC 8705
 * §3 binds it without changing how it is presented.
 */
export function tokenTypeOf(cnf: Confirmation | null): TokenType {
  if (cnf?.jkt) return 'DPoP'
  if (cnf?.jwk) return 'pop'
  return 'Bearer'
}

/** The SHA-256 of a reference token, its key in the store. */
export const referenceId = (token: string) => hash('sha256', token, 'base64url')

export async function issueAccessToken(
  request: AccessTokenRequest,
  context: ServerContext,
): Promise<IssuedAccessToken> {
  const { config } = context
  const ttl = config.accessToken.ttl
  const iat = epoch()
  const token_type = tokenTypeOf(request.cnf)
  const format = request.client.access_token_format ?? config.accessToken.format
  const sub = request.sub ?? request.client.client_id

  if (format === 'reference') {
    const access_token = randomBytes(32).toString('base64url')
    await context.store.insertAccessToken({
      id: referenceId(access_token),
      grant_id: request.grantId,
      client_id: request.client.client_id,
      sub,
      scope: request.scope,
      aud: [...request.aud],
      cnf: request.cnf,
      token_type,
      iat,
      expires_at: iat + ttl,
      revoked_at: null,
    })
    return { access_token, token_type, expires_in: ttl }
  }

  const key = context.keys.current()
  // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope when granted.
  const claims: Record<string, unknown> = {
    iss: config.issuer,
    sub,
    aud: request.aud.length === 1 ? request.aud[0] : request.aud,
    client_id: request.client.client_id,
    iat,
    exp: iat + ttl,
    jti: randomUUID(),
  }
  if (request.scope) claims.scope = request.scope
  if (request.cnf) claims.cnf = request.cnf
  const access_token = signCompact(key.alg, key.key, { typ: 'at+jwt', kid: key.kid }, claims)
  return { access_token, token_type, expires_in: ttl }
}
