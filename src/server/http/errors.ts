/**
 * @module server/http/errors
 *
 * Turns every error into an RFC 6749 §5.2 JSON answer with the right status and
 * `Cache-Control: no-store`: never a stack trace, never Fastify's default body. Errors that
 * are not protocol errors become `server_error` and are logged with their stack.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DPoPProofError } from '../../bindings/dpop/errors.js'
import { InvalidRequestError, OAuthError, ServerError } from '../../errors.js'

/** Maps an error Fastify or a handler threw to the OAuth error to answer with. */
export function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err
  const e = err as FastifyError
  if (e?.validation)
    return new InvalidRequestError('invalid request parameters', { detail: e.message })
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new InvalidRequestError('unsupported content type')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OAuthError('invalid_request', {
        status: 413,
        description: 'request body is too large',
      })
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new InvalidRequestError('malformed request body', { detail: e.message })
  }
  if (e instanceof SyntaxError) return new InvalidRequestError('malformed request body')
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500
  if (status >= 400 && status < 500) {
    return new OAuthError('invalid_request', {
      status,
      description: 'invalid request',
      detail: e.message,
    })
  }
  return new ServerError(e?.message ?? String(err), err)
}

export function sendOAuthError(
  err: OAuthError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const fields = { error: err.error, reason: err.reason, detail: err.detail, status: err.status }
  if (err.status === 503) {
    // Replay detection unavailable or at capacity: the operator's to act on, not the client's.
    request.log.warn(fields, 'request refused: temporarily unavailable')
  } else if (err.status >= 500) {
    request.log.error({ ...fields, err: err.cause ?? err }, 'request failed')
  } else request.log.info(fields, 'request refused')
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  // RFC 6749 §5.2: a failed client authentication is a 401 with a challenge.
  if (err.error === 'invalid_client') reply.header('www-authenticate', 'Basic realm="keybound"')
  // RFC 6750 §3: a refused bearer token (the initial access token of /register, RFC 7591 §3).
  if (err.error === 'invalid_token')
    reply.header('www-authenticate', 'Bearer error="invalid_token"')
  // RFC 9449 §8: the nonce to use, with use_dpop_nonce.
  if (err instanceof DPoPProofError && err.nonce) reply.header('dpop-nonce', err.nonce)
  reply.status(err.status).send(err.toJSON())
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => sendOAuthError(toOAuthError(err), request, reply))
  app.setNotFoundHandler((request, reply) =>
    sendOAuthError(
      new OAuthError('invalid_request', { status: 404, description: 'not found' }),
      request,
      reply,
    ),
  )
}
