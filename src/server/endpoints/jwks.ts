/**
 * @module server/endpoints/jwks
 *
 * The JWK Set of the server's signing keys (RFC 7517 §5), current and retired ones, so that
 * tokens signed before a rotation still verify.
 */
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'

export function jwksEndpoint(context: ServerContext) {
  return async function plugin(app: FastifyInstance) {
    app.get('/jwks', async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json')
      return context.keys.jwks()
    })
  }
}
