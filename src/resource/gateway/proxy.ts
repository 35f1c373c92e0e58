/**
 * @module resource/gateway/proxy
 *
 * Forwarding a verified request to the upstream with undici, streaming both ways: the client's
 * body is piped into the upstream request as it arrives, and the upstream's body into the
 * response as it arrives (backpressure, no buffering), so a large upload or download costs the
 * gateway a few buffers, not its size. A failure before the upstream answered becomes 502 (no
 * connection, reset) or 504 (connect or response-header timeout) with a fixed body; the cause
 * is logged, never sent. A failure after it answered can only cut the response short.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { type Dispatcher, Pool } from 'undici'
import type { VerifiedRequest } from '../verifier.js'
import type { GatewayConfig } from './config.js'
import { downstreamResponseHeaders, type PublicOrigin, upstreamRequestHeaders } from './headers.js'
import type { GatewayLogger } from './log.js'
import type { GatewayMetrics } from './metrics.js'
import { statusClass } from './metrics.js'
import { FIXED, sendFixed } from './respond.js'

export interface ForwardContext {
  verified: VerifiedRequest
  origin: PublicOrigin | undefined
  /** Whether the peer is a trusted proxy (its forwarding fields are extended). */
  trusted: boolean
  /** The body, when the verifier read it (a signed request that covers it); else it streams. */
  body?: Uint8Array | undefined
}

export interface Upstream {
  forward(req: IncomingMessage, res: ServerResponse, context: ForwardContext): Promise<void>
  /** Waits for the requests in flight, then closes the connections. */
  close(): Promise<void>
  /** Closes the connections now. */
  destroy(): Promise<void>
}

const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000))

/** undici's timeouts before the upstream answered: the gateway timed out waiting (RFC 9110 §15.6.5). */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT'])

/** Whether the request has a body (RFC 9112 §6.3): a length above zero, or a transfer coding. */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true
  const length = req.headers['content-length']
  return length !== undefined && length !== '0'
}

/**
 * The path sent upstream: the upstream's base path, then the request-target's path and query
 * as received (absolute-form reduced to them, RFC 9112 §3.2.2).
 */
export function upstreamPath(base: string, target: string): string {
  let path = target
  if (!path.startsWith('/')) {
    try {
      const url = new URL(path)
      path = `${url.pathname}${url.search}`
    } catch {
      path = '/'
    }
  }
  return `${base}${path}`
}

export function createUpstream(
  config: GatewayConfig,
  logger: GatewayLogger,
  metrics: GatewayMetrics,
): Upstream {
  const url = new URL(config.upstream as string)
  const base = url.pathname.replace(/\/$/, '')
  const pool = new Pool(url.origin, {
    connect: { timeout: ms(config.timeouts.connect) },
    headersTimeout: ms(config.timeouts.upstream),
    bodyTimeout: ms(config.timeouts.idle),
  })

  async function forward(req: IncomingMessage, res: ServerResponse, context: ForwardContext) {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (res.destroyed) {
      // The client left while its token was being checked: nothing to forward it for.
      metrics.upstream('aborted')
      logger.debug(
        { method: req.method, path },
        'client went away before the request was forwarded',
      )
      return
    }
    const abort = new AbortController()
    const onClose = () => {
      if (!res.writableFinished) abort.abort()
    }
    res.once('close', onClose)
    let response: Dispatcher.ResponseData
    try {
      response = await pool.request({
        path: upstreamPath(base, req.url ?? '/'),
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: upstreamRequestHeaders(req.rawHeaders, config, {
          remoteAddress: req.socket.remoteAddress,
          trusted: context.trusted,
          origin: context.origin,
          verified: context.verified,
        }),
        body: context.body ?? (hasBody(req) ? req : null),
        signal: abort.signal,
      })
    } catch (error) {
      const code = (error as { code?: string }).code
      if (abort.signal.aborted) {
        metrics.upstream('aborted')
        logger.debug({ method: req.method, path }, 'client went away before the upstream answered')
        return
      }
      const timeout = code !== undefined && TIMEOUT_CODES.has(code)
      metrics.upstream(timeout ? 'timeout' : 'unreachable')
      logger.error(
        {
          method: req.method,
          path,
          upstream: url.origin,
          code: code ?? (error as { cause?: { code?: string } }).cause?.code,
          error: (error as Error).message,
        },
        timeout ? 'upstream timed out' : 'upstream unreachable',
      )
      sendFixed(res, timeout ? FIXED.gatewayTimeout : FIXED.badGateway)
      return
    }

    metrics.upstream(statusClass(response.statusCode))
    try {
      res.statusCode = response.statusCode
      for (const [name, value] of downstreamResponseHeaders(response.headers)) {
        res.setHeader(name, value)
      }
      for (const [name, value] of Object.entries(context.verified.headers)) {
        res.setHeader(name, value)
      }
    } catch (error) {
      response.body.destroy()
      logger.error(
        { method: req.method, path, error: (error as Error).message },
        'upstream response unusable',
      )
      sendFixed(res, FIXED.badGateway)
      return
    }
    try {
      await pipeline(response.body, res)
    } catch (error) {
      if (abort.signal.aborted || res.destroyed) {
        logger.debug({ method: req.method, path }, 'client went away during the response')
      } else {
        logger.error(
          {
            method: req.method,
            path,
            code: (error as { code?: string }).code,
            error: (error as Error).message,
          },
          'upstream response cut short',
        )
      }
      res.destroy()
    } finally {
      res.off('close', onClose)
    }
  }

  return {
    forward,
    close: () => pool.close(),
    destroy: () => pool.destroy(),
  }
}
