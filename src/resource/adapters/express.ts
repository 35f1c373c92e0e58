/**
 * @module resource/adapters/express
 *
 * Express middleware without a dependency on Express: it only uses what `node:http` gives every
 * Express request and response (tested with Express 5; nothing in it needs 5 rather than 4).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ResourceError } from '../errors.js'
import type { Requirements, VerifiedRequest, Verifier } from '../verifier.js'
import { sendResourceError, setVerifiedHeaders, toResourceRequest, verifiedTwice } from './http.js'

declare global {
  // Express's own augmentation point (`@types/express` merges `Express.Request` into its
  // `Request`); declaring it needs no Express types, and is inert without them.
  namespace Express {
    interface Request {
      /** What keybound verified, on the routes `keyboundExpress` protects. */
      keybound?: VerifiedRequest
    }
  }
}

/** Express's `next`: with an error, hands it to the application's error handling. */
export type NextFunction = (error?: unknown) => void

/**
 * Express middleware that lets through only requests that pass `verifier` with `requirements`
 * (app-wide with `app.use`, or per route: `app.get('/orders', keyboundExpress(v, { scope:
 * 'read' }), handler)`).
 *
 * - Passed: `req.keybound` is the {@link VerifiedRequest}, the verifier's response headers (a
 *   fresh `DPoP-Nonce`, RFC 9449 §9) are set on `res`, and `next()` is called.
 * - Refused ({@link ResourceError}): answered here, with the status, `WWW-Authenticate`
 *   challenge (RFC 6750 §3, RFC 9449 §7.1), `DPoP-Nonce` and JSON error; `next` is not called.
 * - Failed unexpectedly: `next(error)`, for the application's error middleware.
 */
export function keyboundExpress(
  verifier: Verifier,
  requirements?: Requirements,
): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => Promise<void> {
  return async (req, res, next) => {
    const request = req as IncomingMessage & { keybound?: VerifiedRequest }
    if (request.keybound !== undefined) return next(verifiedTwice())
    let verified: VerifiedRequest
    try {
      verified = await verifier.verify(toResourceRequest(req), requirements)
    } catch (error) {
      if (error instanceof ResourceError) sendResourceError(res, error)
      else next(error)
      return
    }
    setVerifiedHeaders(res, verified)
    request.keybound = verified
    next()
  }
}

/**
 * Express middleware for a route's own requirements behind an app-wide `keyboundExpress`:
 * `app.use(keyboundExpress(v)); app.post('/orders', keyboundRequire(v, { scope: 'write' }), h)`.
 * It checks `req.keybound` with `verifier.authorize()`: the proof is not verified a second time
 * (its `jti` is already spent). A refusal is answered here (403 `insufficient_scope` with the
 * scope in the challenge, RFC 6750 §3.1); without `req.keybound`, `next(error)`: a set-up
 * mistake, not the client's.
 */
export function keyboundRequire(
  verifier: Verifier,
  requirements: Requirements,
): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void {
  return (req, res, next) => {
    const verified = (req as IncomingMessage & { keybound?: VerifiedRequest }).keybound
    if (verified === undefined) {
      return next(new Error('keyboundRequire needs keyboundExpress to run first on this route'))
    }
    try {
      verifier.authorize(verified, requirements, { method: req.method ?? '', url: req.url ?? '' })
    } catch (error) {
      if (error instanceof ResourceError) sendResourceError(res, error)
      else next(error)
      return
    }
    next()
  }
}
