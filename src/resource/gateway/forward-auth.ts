/**
 * @module resource/gateway/forward-auth
 *
 * Forward authentication: a proxy in front of the service (nginx `auth_request`, Traefik
 * `ForwardAuth`, Caddy `forward_auth`) asks the gateway about each request before forwarding
 * it, with a sub-request of its own (a `GET` to `paths.forwardAuth`) that carries the original
 * request's fields and names its method and URI in `X-Forwarded-Method`/`-Uri` or
 * `X-Original-Method`/`-URI`. The gateway verifies the ORIGINAL request (the proof's `htm` and
 * `htu` are the original method and URL, RFC 9449 §4.3), never the sub-request.
 *
 * - Only peers in `trustProxy` are answered; anyone else gets 403 `forbidden` (not 401: no
 *   credential can fix it, and a client must not get to name the request it is checked as).
 * - Allowed: 200, empty body, the identity headers (for the proxy to copy onto the request it
 *   forwards) and `DPoP-Nonce` when one is due.
 * - Refused: the verifier's status, `WWW-Authenticate`, `DPoP-Nonce`, JSON body, except that
 *   400 becomes 401: nginx's `auth_request` passes only 401 and 403 on and turns any other
 *   code into 500. The error code (`invalid_request`) stays in the challenge and the body.
 *   503 (the replay cache or the issuer unreachable) stays 503: nginx shows it as 500.
 * - A trusted proxy that sends no usable original method, URI and host (a configuration
 *   mistake) gets 400 `invalid_request` (nginx: 500), and the log says what is missing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ClientCertificate } from '../../bindings/mtls/thumbprint.js'
import { ResourceError } from '../errors.js'
import type { ProxyTrust } from '../request-url.js'
import type { Verifier } from '../verifier.js'
import type { GatewayConfig } from './config.js'
import { identityHeaders } from './headers.js'
import type { GatewayLogger } from './log.js'
import type { GatewayMetrics } from './metrics.js'
import { forwardAuthRequest } from './request.js'
import { FIXED, sendFixed, sendRefusal } from './respond.js'

export interface ForwardAuthOptions {
  config: GatewayConfig
  verifier: Verifier
  trusted: ProxyTrust
  publicUrl: URL | undefined
  logger: GatewayLogger
  metrics: GatewayMetrics
  /** The client certificate a trusted proxy forwarded (`certificateHeader`), RFC 8705 §3. */
  certificateOf: (req: IncomingMessage) => ClientCertificate | undefined
}

/** The status a refusal is answered with in forward-auth (see the module comment). */
export function forwardAuthStatus(status: number): number {
  return status === 400 ? 401 : status
}

export function createForwardAuth(options: ForwardAuthOptions) {
  const { config, verifier, trusted, publicUrl, logger, metrics, certificateOf } = options
  return async function forwardAuth(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const peer = req.socket.remoteAddress
    if (!trusted(peer)) {
      metrics.forwardAuth('untrusted_peer')
      logger.warn({ peer }, 'forward-auth request from a peer not in trustProxy')
      sendFixed(res, FIXED.forbiddenPeer)
      return
    }
    const original = forwardAuthRequest(req, publicUrl)
    if ('problem' in original) {
      metrics.forwardAuth('bad_request')
      logger.warn(
        { peer, problem: original.problem },
        'forward-auth request unusable: check the proxy configuration',
      )
      sendFixed(res, FIXED.badForwardAuth)
      return
    }
    let verified: Awaited<ReturnType<Verifier['verify']>>
    try {
      original.resource.clientCertificate = certificateOf(req)
      verified = await verifier.verify(original.resource)
    } catch (error) {
      if (!(error instanceof ResourceError)) throw error
      metrics.forwardAuth('refused')
      sendRefusal(res, error, forwardAuthStatus(error.status))
      return
    }
    metrics.forwardAuth('allowed')
    res.statusCode = 200
    for (const [name, value] of identityHeaders(verified, config)) res.setHeader(name, value)
    for (const [name, value] of Object.entries(verified.headers)) res.setHeader(name, value)
    res.setHeader('cache-control', 'no-store')
    res.setHeader('content-length', '0')
    res.end()
  }
}
