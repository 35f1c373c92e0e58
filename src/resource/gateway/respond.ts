/**
 * @module resource/gateway/respond
 *
 * The answers the gateway writes itself: refusals of the verifier (RFC 6750 §3, RFC 9449 §7.1:
 * status, `WWW-Authenticate`, `DPoP-Nonce`, `Cache-Control: no-store`, the JSON body of
 * `error.body()` when it has one), and fixed JSON bodies for its own failures, which never say
 * more than their first line (the detail goes to the log).
 */
import type { ServerResponse } from 'node:http'
import type { ResourceError } from '../errors.js'

/** The fixed answers of the gateway's own failures. */
export const FIXED = {
  badGateway: {
    status: 502,
    body: { error: 'bad_gateway', error_description: 'the upstream service could not be reached' },
  },
  gatewayTimeout: {
    status: 504,
    body: {
      error: 'gateway_timeout',
      error_description: 'the upstream service did not answer in time',
    },
  },
  internal: {
    status: 500,
    body: { error: 'server_error', error_description: 'the request could not be verified' },
  },
  notFound: { status: 404, body: { error: 'not_found', error_description: 'no such endpoint' } },
  forbiddenPeer: {
    status: 403,
    body: {
      error: 'forbidden',
      error_description: 'forward-auth requests are answered only to trusted proxies',
    },
  },
  badForwardAuth: {
    status: 400,
    body: {
      error: 'invalid_request',
      error_description: 'the proxy did not send a usable original method, URI and host',
    },
  },
} as const

export type FixedAnswer = (typeof FIXED)[keyof typeof FIXED]

/** Whether the client may still be sending a body the gateway will not read. */
function bodyUnread(res: ServerResponse): boolean {
  const req = res.req
  return req !== undefined && !req.complete
}

/**
 * Ends `res` with a JSON body. When the request body was not read, the connection is closed
 * after the answer rather than drained.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: string | undefined,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.statusCode = status
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  res.setHeader('cache-control', 'no-store')
  if (bodyUnread(res)) res.setHeader('connection', 'close')
  if (body === undefined) {
    res.setHeader('content-length', '0')
    res.end()
    return
  }
  res.setHeader('content-type', 'application/json')
  res.setHeader('content-length', String(Buffer.byteLength(body)))
  res.end(body)
}

export function sendFixed(res: ServerResponse, answer: FixedAnswer): void {
  sendJson(res, answer.status, JSON.stringify(answer.body))
}

/**
 * A refusal of the verifier, as the adapters answer it: its status, its headers
 * (`WWW-Authenticate`, `DPoP-Nonce`), and its JSON body (none for a request without
 * credentials, RFC 6750 §3.1). `status` replaces the error's own (forward-auth, see there).
 */
export function sendRefusal(
  res: ServerResponse,
  error: ResourceError,
  status = error.status,
): void {
  sendJson(res, status, error.body(), error.headers)
}
