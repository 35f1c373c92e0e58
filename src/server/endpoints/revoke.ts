/**
 * @module server/endpoints/revoke
 *
 * Token revocation (RFC 7009). The client authenticates (§2.1; a public client identifies
 * itself with `client_id`, so it can revoke its own tokens at logout) and may revoke only
 * tokens issued to itself. The answer is 200 with an empty body whether or not the token
 * existed, was already invalid, or belongs to another client (§2.2), so it tells nothing about
 * other clients' tokens.
 *
 * - A reference access token is revoked on its own (§2.1 allows, and does not require, revoking
 *   its refresh token too).
 * - A refresh token revokes its whole grant: every refresh and reference access token of it
 *   (§2.1: the server "SHOULD also invalidate all access tokens based on the same
 *   authorization grant").
 * - A JWT access token of the caller cannot be revoked (it is valid until its `exp`): the answer
 *   is 400 `unsupported_token_type` (§2.2.1), whatever the hint, so that the client does not
 *   believe it revoked. Other JWTs (invalid, expired, another client's) get the 200.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { InvalidRequestError, OAuthError } from '../../errors.js'
import { authenticateClient } from '../client-auth/index.js'
import { epoch, type ServerContext } from '../context.js'
import { formOf } from '../http/form.js'
import { clientAuthRequestOf } from '../http/mtls.js'
import { findToken } from '../tokens/lookup.js'

export function revokeEndpoint(context: ServerContext) {
  return async function plugin(app: FastifyInstance) {
    app.post('/revoke', async (request: FastifyRequest, reply) => {
      const params = formOf(request.body)
      const { client } = await authenticateClient(
        clientAuthRequestOf(request, params, context),
        context,
      )
      const token = params.token
      if (token === undefined) throw new InvalidRequestError('token is required')
      const found = await findToken(token, params.token_type_hint, context)
      if (found?.clientId === client.client_id) {
        switch (found.kind) {
          case 'jwt':
            throw new OAuthError('unsupported_token_type', {
              status: 400,
              description: 'a JWT access token cannot be revoked; it expires at its exp',
              reason: 'jwt_access_token',
            })
          case 'reference':
            await context.store.revokeAccessToken(found.record.id, epoch())
            break
          case 'refresh':
            await context.store.revokeGrant(found.record.grant_id, epoch())
            break
        }
      }
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return reply.status(200).send()
    })
  }
}
