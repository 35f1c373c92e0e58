/**
 * @module server/endpoints/metadata
 *
 * Authorization server metadata (RFC 8414 §2, §3), listing only what this server implements.
 */
import type { FastifyInstance } from 'fastify'
import { ASYMMETRIC_ALGS } from '../../jose/algs.js'
import { CLIENT_AUTH_METHODS } from '../client-auth/index.js'
import type { ServerContext } from '../context.js'
import { GRANTS } from '../grants/index.js'

export function metadataOf(context: ServerContext): Record<string, unknown> {
  const { config, endpoints } = context
  return {
    issuer: config.issuer,
    token_endpoint: endpoints.token,
    jwks_uri: endpoints.jwks,
    scopes_supported: config.scopes,
    grant_types_supported: [...GRANTS.keys()],
    token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.map((m) => m.name),
    token_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGS,
    // RFC 9449 §5.1
    dpop_signing_alg_values_supported: config.dpop.algs,
  }
}

export function metadataEndpoint(context: ServerContext) {
  return async function plugin(app: FastifyInstance) {
    const metadata = metadataOf(context)
    app.get('/.well-known/oauth-authorization-server', async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return metadata
    })
  }
}
