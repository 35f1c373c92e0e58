/**
 * @module server/endpoints/token
 *
 * The token endpoint (RFC 6749 §3.2): authenticate the client, check the grant type, hand the
 * request to its grant module. The steps follow the RFC's processing rules, top down.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import {
  InvalidRequestError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
} from '../../errors.js'
import { authenticateClient } from '../client-auth/index.js'
import type { ServerContext } from '../context.js'
import { GRANTS } from '../grants/index.js'
import type { Grant, TokenResponse } from '../grants/types.js'
import { formOf } from '../http/form.js'
import { clientAuthRequestOf, clientCertificateOf, endpointsFor } from '../http/mtls.js'

const tokenResponse = {
  type: 'object',
  required: ['access_token', 'token_type', 'expires_in'],
  additionalProperties: false,
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' },
    refresh_token: { type: 'string' },
    // The PoP binding echoes the requested alg (docs/bindings/pop.md).
    alg: { type: 'string' },
  },
} as const

function selectGrant(params: Readonly<Record<string, string>>): Grant {
  const grantType = params.grant_type
  if (grantType === undefined) throw new InvalidRequestError('grant_type is required')
  const grant = GRANTS.get(grantType)
  if (!grant) throw new UnsupportedGrantTypeError()
  return grant
}

export function tokenEndpoint(context: ServerContext) {
  return async function plugin(app: FastifyInstance) {
    app.post(
      '/token',
      { schema: { response: { 200: tokenResponse } } },
      async (request: FastifyRequest, reply) => {
        const params = formOf(request.body)
        const grant = selectGrant(params)
        const { client } = await authenticateClient(
          clientAuthRequestOf(request, params, context),
          context,
        )
        if (!client.grant_types.includes(grant.grantType)) {
          throw new UnauthorizedClientError(`client may not use grant_type ${grant.grantType}`)
        }
        const response: TokenResponse = await grant.handle({
          client,
          params,
          dpop: request.headers.dpop,
          endpoint: endpointsFor(request, context).token,
          certificate: clientCertificateOf(request, context),
          context,
        })
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
        if (context.nonces) reply.header('dpop-nonce', context.nonces.current())
        return response
      },
    )
  }
}
