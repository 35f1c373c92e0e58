/**
 * @module resource/adapters/node-http
 *
 * The verifier for a plain `node:http` (or `node:https`) server: `protect` wraps a request
 * listener, `verifyNodeRequest` verifies one request and leaves the answer to the caller.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ResourceError } from '../errors.js'
import type { Requirements, VerifiedRequest, Verifier } from '../verifier.js'
import { sendResourceError, setVerifiedHeaders, toResourceRequest, verifiedTwice } from './http.js'

/** A request that passed verification: `keybound` is what the verifier found. */
export type ProtectedRequest<Req extends IncomingMessage = IncomingMessage> = Req & {
  keybound: VerifiedRequest
}

export interface ProtectOptions {
  /**
   * Told of a verification that failed unexpectedly (a bug, not a bad token), after the 500 is
   * sent. Default: `console.error`.
   */
  onError?: (error: unknown, req: IncomingMessage) => void
}

/**
 * Verifies one `node:http` request. Nothing is written to the response: answer a
 * {@link ResourceError} with `sendResourceError(res, error)`, and add `verified.headers` to
 * the response of a request that passed.
 *
 * @throws {ResourceError} when the request is refused (RFC 6750 §3.1, RFC 9449 §7.1).
 */
export function verifyNodeRequest(
  verifier: Verifier,
  req: IncomingMessage,
  requirements?: Requirements,
): Promise<VerifiedRequest> {
  return verifier.verify(toResourceRequest(req), requirements)
}

const reportToConsole = (error: unknown) => {
  console.error('keybound: a request could not be verified', error)
}

/**
 * Wraps a request listener: `handler` runs only for requests that pass, with `req.keybound`
 * set and the verifier's response headers (`DPoP-Nonce`) already on `res`. A refused request
 * is answered with its status, `WWW-Authenticate` challenge and JSON error (RFC 6750 §3,
 * RFC 9449 §7.1); an unexpected failure with a generic 500, reported to `options.onError`.
 *
 * What `handler` returns (or rejects with) is returned as is: its errors are its own.
 */
export function protect<Req extends IncomingMessage, Res extends ServerResponse>(
  verifier: Verifier,
  handler: (req: ProtectedRequest<Req>, res: Res) => unknown,
  requirements?: Requirements,
  options: ProtectOptions = {},
): (req: Req, res: Res) => Promise<unknown> {
  const onError = options.onError ?? reportToConsole
  return async (req, res) => {
    let verified: VerifiedRequest
    try {
      if ((req as { keybound?: unknown }).keybound !== undefined) throw verifiedTwice()
      verified = await verifyNodeRequest(verifier, req, requirements)
    } catch (error) {
      sendResourceError(res, error)
      if (!(error instanceof ResourceError)) onError(error, req)
      return undefined
    }
    setVerifiedHeaders(res, verified)
    const request = req as ProtectedRequest<Req>
    request.keybound = verified
    return handler(request, res)
  }
}
