/**
 * @module resource/adapters/metrics-handler
 *
 * The verifier's Prometheus counters (see `createVerifierMetrics`), served in the Prometheus
 * text exposition format from a `node:http` handler, which Express mounts as is and Fastify
 * through `reply.hijack()`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Verifier } from '../verifier.js'

/**
 * A request handler answering `GET` (and `HEAD`) with the verifier's metrics registry: every
 * request verified and refused, by binding and precise reason. `404` when the verifier was made
 * without `metrics`, `405` for other methods. It does not protect itself: mount it where only
 * the scraper can reach it, or behind your own check.
 */
export function metricsHandler(
  verifier: Pick<Verifier, 'metrics'>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const registry = verifier.metrics?.registry
    res.setHeader('cache-control', 'no-store')
    if (registry === undefined) {
      res.statusCode = 404
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.end('this verifier has no metrics\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.statusCode = 405
      res.setHeader('allow', 'GET, HEAD')
      res.end()
      return
    }
    let text: string
    try {
      text = await registry.metrics()
    } catch {
      // A collect function of another metric in a shared registry failed.
      res.statusCode = 500
      res.end()
      return
    }
    res.statusCode = 200
    res.setHeader('content-type', registry.contentType)
    res.end(text)
  }
}
