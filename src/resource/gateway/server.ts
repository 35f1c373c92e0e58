/**
 * @module resource/gateway/server
 *
 * The gateway: a node:http server that answers its own endpoints (`/healthz`, `/metrics`, the
 * forward-auth endpoint), verifies every other request with `createVerifier` and forwards it
 * upstream. Refusals never reach the upstream. `close()` is the graceful shutdown: no new
 * connections, requests in flight finish (up to `timeouts.shutdown`), then everything is
 * released.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createNonceProvider } from '../../bindings/dpop/nonce.js'
import {
  type CertificateRequest,
  createClientCertificateSource,
} from '../../bindings/mtls/client-certificate.js'
import { decodeBase64url } from '../../jose/base64url.js'
import { openReplayCache } from '../../replay/open.js'
import type { ReplayCache } from '../../replay/types.js'
import { MAX_BODY_SIZE, readNodeBody } from '../adapters/http.js'
import { invalidRequest, ResourceError } from '../errors.js'
import { compileTrustProxy, type UrlPolicy } from '../request-url.js'
import { createVerifier, type Verifier } from '../verifier.js'
import type { GatewayConfig } from './config.js'
import { createForwardAuth } from './forward-auth.js'
import { createLogger, type GatewayLogger } from './log.js'
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js'
import { createUpstream, type Upstream } from './proxy.js'
import { proxiedRequest } from './request.js'
import { FIXED, sendFixed, sendJson, sendRefusal } from './respond.js'

export interface GatewayOptions {
  /** Where the gateway logs (default: JSON lines on stdout at `config.log.level`). */
  logger?: GatewayLogger
  /** The `fetch` for the issuer's metadata, keys and introspection (default: the global one). */
  fetch?: typeof fetch
}

export interface Gateway {
  readonly server: Server
  readonly verifier: Verifier
  readonly metrics: GatewayMetrics
  /** Listens on `config.host`/`config.port`; answers the bound address. */
  listen(): Promise<{ host: string; port: number }>
  /** Graceful shutdown; idempotent. */
  close(): Promise<void>
}

const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000))

/**
 * The HTTPS listener's options: the gateway's certificate, and a client certificate asked for
 * but not required (`requestCert` without `rejectUnauthorized`): a certificate-bound token needs
 * one, every other request does not (RFC 8705 §3 binds to the certificate, whoever issued it).
 */
function tlsOptions(tls: NonNullable<GatewayConfig['tls']>) {
  const read = (field: 'cert' | 'key' | 'ca') => {
    const path = tls[field] as string
    try {
      return readFileSync(path)
    } catch (error) {
      throw new Error(`tls.${field}: cannot read ${path}: ${(error as Error).message}`)
    }
  }
  return {
    cert: read('cert'),
    key: read('key'),
    ...(tls.ca === undefined ? {} : { ca: read('ca') }),
    requestCert: true,
    rejectUnauthorized: false,
  }
}

/** The path of a request-target, without query. */
function pathOf(target: string | undefined): string {
  const url = target ?? '/'
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

export function createGateway(config: GatewayConfig, options: GatewayOptions = {}): Gateway {
  const logger = options.logger ?? createLogger(config.log.level)
  const metrics = createGatewayMetrics()
  const trusted = compileTrustProxy(config.trustProxy)
  const publicUrl = config.publicUrl === undefined ? undefined : new URL(config.publicUrl)
  const urlPolicy: UrlPolicy = { publicUrl, trusted }
  const replayCache = openReplayCache(config)
  try {
    return assemble(config, options, {
      logger,
      metrics,
      trusted,
      publicUrl,
      urlPolicy,
      replayCache,
    })
  } catch (error) {
    replayCache.close?.().catch(() => {})
    throw error
  }
}

interface Parts {
  logger: GatewayLogger
  metrics: GatewayMetrics
  trusted: ReturnType<typeof compileTrustProxy>
  publicUrl: URL | undefined
  urlPolicy: UrlPolicy
  replayCache: ReplayCache
}

function assemble(config: GatewayConfig, options: GatewayOptions, parts: Parts): Gateway {
  const { logger, metrics, trusted, publicUrl, urlPolicy, replayCache } = parts
  const nonceSecret =
    config.dpop.nonce === 'required' && config.dpop.nonceSecret
      ? decodeBase64url(config.dpop.nonceSecret)
      : undefined
  // The gateway works out the URL the client called itself (request.ts), so the verifier gets
  // neither publicUrl nor trustProxy: it reads `Host` and the scheme of the requests it is given.
  const verifier = createVerifier({
    issuer: config.issuer,
    audience: config.audience,
    ...(config.jwksUri === undefined ? {} : { jwksUri: config.jwksUri }),
    ...(config.introspection === undefined ? {} : { introspection: config.introspection }),
    clockTolerance: config.clockTolerance,
    dpop: {
      algs: config.dpop.algs,
      iatWindow: config.dpop.iatWindow,
      clockTolerance: config.dpop.clockTolerance,
      ...(nonceSecret === undefined
        ? {}
        : { nonce: createNonceProvider({ secret: nonceSecret, step: config.dpop.nonceStep }) }),
    },
    ...(config.pop === undefined ? {} : { pop: config.pop }),
    replayCache,
    allowBearer: config.allowBearer,
    requireBinding: config.requireBinding,
    ...(config.realm === undefined ? {} : { realm: config.realm }),
    logger,
    metrics: metrics.verifier,
    timeout: ms(config.timeouts.verifier),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  })
  const certificates = createClientCertificateSource({
    header: config.certificateHeader,
    trusted,
    onUntrustedHeader: (header, peer) =>
      logger.warn(
        { header, peer },
        'client certificate header from a peer not in trustProxy ignored',
      ),
  })
  /**
   * The client certificate (RFC 8705 §3): of the TLS connection when the gateway terminates
   * TLS, or forwarded by a trusted proxy in `certificateHeader`.
   *
   * @throws {ResourceError} `invalid_request` for a forwarded certificate that cannot be read.
   */
  function certificateOf(req: IncomingMessage) {
    const presented = certificates(req as unknown as CertificateRequest)
    if (presented === undefined) return undefined
    if ('failure' in presented) {
      throw invalidRequest(presented.failure, 'the forwarded client certificate is malformed', {
        binding: 'mtls',
        detail: presented.detail,
      })
    }
    return presented.certificate
  }
  const upstream: Upstream | undefined =
    config.mode === 'forward-auth' ? undefined : createUpstream(config, logger, metrics)
  const forwardAuth =
    config.mode === 'proxy'
      ? undefined
      : createForwardAuth({ config, verifier, trusted, publicUrl, logger, metrics, certificateOf })
  let closing = false

  /** `/healthz` and `/metrics`: GET and HEAD only. */
  function own(req: IncomingMessage, res: ServerResponse, answer: () => Promise<void> | void) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(
        res,
        405,
        JSON.stringify({ error: 'method_not_allowed', error_description: 'use GET' }),
        { allow: 'GET, HEAD' },
      )
      return
    }
    return answer()
  }

  const maxBody = config.pop?.maxBody ?? MAX_BODY_SIZE

  async function proxy(req: IncomingMessage, res: ServerResponse) {
    const original = proxiedRequest(req, urlPolicy)
    let verified: Awaited<ReturnType<Verifier['verify']>>
    // A signed request that covers the body is checked on the whole body: read then (bounded),
    // and forwarded from the buffer. Every other body streams through.
    let body: Promise<Uint8Array | undefined> | undefined
    if (original.maySignBody) {
      original.resource.readBody = () => {
        body ??= readNodeBody(req, maxBody)
        return body
      }
    }
    try {
      original.resource.clientCertificate = certificateOf(req)
      verified = await verifier.verify(original.resource)
    } catch (error) {
      if (!(error instanceof ResourceError)) throw error
      sendRefusal(res, error)
      return
    }
    await (upstream as Upstream).forward(req, res, {
      verified,
      origin: original.origin,
      trusted: trusted(req.socket.remoteAddress),
      ...(body === undefined ? {} : { body: await body }),
    })
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = pathOf(req.url)
    if (closing) res.setHeader('connection', 'close')
    if (config.paths.health !== false && path === config.paths.health) {
      return own(req, res, () => {
        const body = JSON.stringify({ status: closing ? 'stopping' : 'ok' })
        sendJson(res, closing ? 503 : 200, body)
      })
    }
    if (config.paths.metrics !== false && path === config.paths.metrics) {
      return own(req, res, async () => {
        const text = await metrics.registry.metrics()
        res.statusCode = 200
        res.setHeader('content-type', metrics.registry.contentType)
        res.setHeader('cache-control', 'no-store')
        res.end(text)
      })
    }
    if (forwardAuth && path === config.paths.forwardAuth) return forwardAuth(req, res)
    if (!upstream) return sendFixed(res, FIXED.notFound)
    return proxy(req, res)
  }

  const server = config.tls ? createTlsServer(tlsOptions(config.tls)) : createServer()
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now()
    res.once('close', () => {
      logger.info(
        {
          method: req.method,
          path: pathOf(req.url),
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      )
    })
    handle(req, res).catch((error: unknown) => {
      logger.error(
        { method: req.method, path: pathOf(req.url), error: (error as Error)?.message },
        'request failed',
      )
      sendFixed(res, FIXED.internal)
    })
  })
  server.requestTimeout = ms(config.timeouts.request)
  // node checks the headers' deadline separately; it must not outlast the whole request's.
  server.headersTimeout = Math.min(server.headersTimeout, server.requestTimeout)
  server.setTimeout(ms(config.timeouts.idle))

  let closed: Promise<void> | undefined
  async function close(): Promise<void> {
    closing = true
    const stopped = new Promise<void>((resolve) => {
      if (!server.listening) resolve()
      else server.close(() => resolve())
    })
    // Connections kept alive after their last response are closed as they become idle.
    const idle = setInterval(() => server.closeIdleConnections(), 100)
    server.closeIdleConnections()
    let timer: NodeJS.Timeout | undefined
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms(config.timeouts.shutdown))
    })
    const outcome = await Promise.race([stopped, grace])
    clearInterval(idle)
    clearTimeout(timer)
    if (outcome === 'timeout') {
      logger.warn({}, 'shutdown: requests still in flight were cut off')
      server.closeAllConnections()
      await upstream?.destroy()
      await stopped
    } else await upstream?.close()
    await replayCache.close?.()
  }

  return {
    server,
    verifier,
    metrics,
    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(config.port, config.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      const address = server.address() as AddressInfo
      return { host: config.host, port: address.port }
    },
    close() {
      closed ??= close()
      return closed
    },
  }
}
