/**
 * @module server/app
 *
 * The Fastify application of the authorization server, and the one route table: every
 * endpoint the server answers is registered here.
 */
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { ServerContext } from './context.js'
import { authorizeEndpoint } from './endpoints/authorize.js'
import { introspectEndpoint } from './endpoints/introspect.js'
import { jwksEndpoint } from './endpoints/jwks.js'
import { metadataEndpoint } from './endpoints/metadata.js'
import { parEndpoint } from './endpoints/par.js'
import { registerEndpoint } from './endpoints/register.js'
import { revokeEndpoint } from './endpoints/revoke.js'
import { tokenEndpoint } from './endpoints/token.js'
import { registerErrorHandlers } from './http/errors.js'
import { registerFormParser } from './http/form.js'

/** Largest request body accepted, in bytes (413 above it). OAuth requests are small. */
export const BODY_LIMIT = 64 * 1024

export interface AppOptions {
  /** A pino logger configuration, `false` for none (tests). */
  logger?: FastifyServerOptions['logger']
}

/**
 * The logger configuration: structured JSON with a request id, and never a credential. Request
 * logs carry the path without the query string, and the headers that hold tokens, secrets and
 * proofs are redacted wherever they appear.
 */
export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.dpop',
        'req.headers.cookie',
        'headers.authorization',
        'headers.dpop',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (req: { method: string; url: string; ip?: string }) => ({
        method: req.method,
        path: req.url.split('?')[0],
        remoteAddress: req.ip,
      }),
    },
  }
}

export async function buildApp(
  context: ServerContext,
  options: AppOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions(context.config.log.level),
    trustProxy: context.config.trustProxy as boolean,
    bodyLimit: BODY_LIMIT,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
  })
  registerErrorHandlers(app)
  registerFormParser(app, BODY_LIMIT)

  app.get('/healthz', async () => ({ status: 'ok' }))
  await app.register(metadataEndpoint(context))
  await app.register(jwksEndpoint(context))
  await app.register(authorizeEndpoint(context))
  await app.register(parEndpoint(context))
  await app.register(tokenEndpoint(context))
  await app.register(introspectEndpoint(context))
  await app.register(revokeEndpoint(context))
  // Absent (404) unless registration.enabled.
  await app.register(registerEndpoint(context))
  return app
}
