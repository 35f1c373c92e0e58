/**
 * @module server/endpoints/introspect
 *
 * Token introspection (RFC 7662). The caller authenticates as a client (§2.1; a public client,
 * `none`, proves nothing and is refused). Who may see what:
 * - an access token: the client it was issued to, and clients whose metadata sets
 *   `"introspection": true` (resource servers);
 * - a refresh token: only the client it was issued to. A resource server never needs one, and
 *   an active answer could let a refresh token pass for an access token.
 * Any other token, and every token that is unknown, expired, revoked or not the caller's to
 * see, gives exactly `{"active":false}` (§2.2, §4: nothing that helps token scanning).
 *
 * An active answer carries `token_type` (`DPoP` for `cnf.jkt`, else `Bearer`, RFC 7662 §2.2
 * with RFC 6749 §7.1) and the confirmation `cnf` of a bound token (RFC 9449 §6.2, RFC 8705
 * §3.2), so the resource server can check the proof. `token_type` is an access token type, so
 * refresh tokens have none. A JWT access token stays active until its `exp` even when its grant
 * is revoked: only reference tokens can be revoked.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { JWTPayload } from 'jose'
import { InvalidClientError, InvalidRequestError } from '../../errors.js'
import type { ClientRecord, Confirmation } from '../../store/types.js'
import { authenticateClient } from '../client-auth/index.js'
import type { ServerContext } from '../context.js'
import { formOf } from '../http/form.js'
import { clientAuthRequestOf } from '../http/mtls.js'
import { tokenTypeOf } from '../tokens/access-token.js'
import { type FoundToken, findToken } from '../tokens/lookup.js'

type Answer = Record<string, unknown>

const INACTIVE: Answer = { active: false }

/** Whether `caller` may learn about a token issued to `found.clientId`. */
function maySee(caller: ClientRecord, found: FoundToken): boolean {
  if (found.clientId === caller.client_id) return true
  return found.kind !== 'refresh' && caller.metadata.introspection === true
}

/** `aud` as RFC 7662 §2.2 allows it: a string for one audience, else an array. */
const audience = (aud: readonly string[]) => (aud.length === 1 ? aud[0] : [...aud])

const withCnf = (answer: Answer, cnf: Confirmation | null | undefined): Answer =>
  cnf ? { ...answer, cnf } : answer

function jwtAnswer(claims: JWTPayload): Answer {
  const cnf = typeof claims.cnf === 'object' ? (claims.cnf as Confirmation) : null
  const answer: Answer = {
    active: true,
    iss: claims.iss,
    client_id: claims.client_id,
    sub: claims.sub,
    aud: claims.aud,
    iat: claims.iat,
    exp: claims.exp,
    jti: claims.jti,
    token_type: tokenTypeOf(cnf),
  }
  if (typeof claims.scope === 'string') answer.scope = claims.scope
  return withCnf(answer, cnf)
}

function answerOf(found: FoundToken, issuer: string): Answer {
  switch (found.kind) {
    case 'jwt':
      return jwtAnswer(found.claims)
    case 'reference': {
      const r = found.record
      return withCnf(
        {
          active: true,
          iss: issuer,
          client_id: r.client_id,
          ...(r.sub === null ? {} : { sub: r.sub }),
          aud: audience(r.aud),
          iat: r.iat,
          exp: r.expires_at,
          ...(r.scope ? { scope: r.scope } : {}),
          token_type: r.token_type,
        },
        r.cnf,
      )
    }
    case 'refresh': {
      const r = found.record
      return withCnf(
        {
          active: true,
          iss: issuer,
          client_id: r.client_id,
          ...(r.sub === null ? {} : { sub: r.sub }),
          iat: r.created_at,
          exp: r.expires_at,
          ...(r.scope ? { scope: r.scope } : {}),
        },
        r.cnf,
      )
    }
  }
}

export function introspectEndpoint(context: ServerContext) {
  return async function plugin(app: FastifyInstance) {
    app.post('/introspect', async (request: FastifyRequest, reply) => {
      const params = formOf(request.body)
      const { client, method } = await authenticateClient(
        clientAuthRequestOf(request, params, context),
        context,
      )
      if (method === 'none') {
        throw new InvalidClientError('introspection requires client authentication', {
          reason: 'public_client',
        })
      }
      const token = params.token
      if (token === undefined) throw new InvalidRequestError('token is required')
      const found = await findToken(token, params.token_type_hint, context)
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return found && maySee(client, found) ? answerOf(found, context.config.issuer) : INACTIVE
    })
  }
}
