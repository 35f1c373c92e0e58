/**
 * @module server/http/mtls
 *
 * The two things a request tells about mutual TLS (RFC 8705): the client certificate it came
 * with, and which set of endpoint URLs it was sent to (the issuer's, or the
 * `mtls_endpoint_aliases` of §5).
 */
import type { FastifyRequest } from 'fastify'
import type { PresentedCertificate } from '../../bindings/mtls/client-certificate.js'
import { InvalidRequestError } from '../../errors.js'
import type { ClientAuthRequest } from '../client-auth/types.js'
import type { Endpoints, ServerContext } from '../context.js'

const certificates = new WeakMap<FastifyRequest, PresentedCertificate | undefined>()

/**
 * The client certificate of the request, read once per request: from the TLS connection of the
 * HTTPS listener, or from the configured header of a trusted proxy. A header sent by anyone
 * else is ignored, with a warning in the log.
 *
 * @throws {InvalidRequestError} when a trusted proxy forwarded a certificate that does not
 *   decode: the client did present one, and which one cannot be told.
 */
export function clientCertificateOf(
  request: FastifyRequest,
  context: ServerContext,
): PresentedCertificate | undefined {
  if (!context.mtls.enabled) return undefined
  if (certificates.has(request)) return certificates.get(request)
  const result = context.mtls.certificates(request.raw, (header, remoteAddress) =>
    request.log.warn(
      { header, remoteAddress },
      'client certificate header from a peer that is not a trusted proxy: ignored',
    ),
  )
  if (result !== undefined && 'failure' in result) {
    throw new InvalidRequestError('the forwarded client certificate is malformed', {
      reason: result.failure,
      detail: result.detail,
    })
  }
  certificates.set(request, result)
  return result
}

/**
 * The endpoint URLs the request was sent to, for the `htu` of its DPoP proof (RFC 9449 §4.3):
 * the `mtls_endpoint_aliases` for a request on the HTTPS listener, or for one whose host
 * (`X-Forwarded-Host` from a trusted proxy) is the aliases' host when that differs from the
 * issuer's (a proxy serving the aliases on their own host); else the issuer's endpoints.
 */
export function endpointsFor(request: FastifyRequest, context: ServerContext): Endpoints {
  const aliases = context.mtls.endpoints
  if (aliases === undefined) return context.endpoints
  if ((request.raw.socket as { encrypted?: boolean }).encrypted === true) return aliases
  const aliasHost = context.mtls.aliasHost
  return aliasHost !== undefined && request.host.toLowerCase() === aliasHost
    ? aliases
    : context.endpoints
}

/** What client authentication reads from a request: the header, the form, the certificate. */
export function clientAuthRequestOf(
  request: FastifyRequest,
  params: Readonly<Record<string, string>>,
  context: ServerContext,
): ClientAuthRequest {
  return {
    authorization: request.headers.authorization,
    params,
    certificate: clientCertificateOf(request, context),
  }
}
