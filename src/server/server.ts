/**
 * @module server/server
 *
 * Assembles an authorization server from a validated configuration: the store (migrated), the
 * configured clients and users, the signing keys, replay detection, nonces, the Fastify app,
 * and, with `tls`, a second listener: an HTTPS server that asks for client certificates
 * (RFC 8705) and hands its requests to the same app, so both serve the same routes.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { createNonceProvider } from '../bindings/dpop/nonce.js'
import { createClientCertificateSource } from '../bindings/mtls/client-certificate.js'
import {
  type Config,
  loadMtlsFiles,
  type MtlsFiles,
  mtlsEnabled,
  mtlsEndpointBase,
} from '../config/index.js'
import { compileServerTrustProxy } from '../http/trust-proxy.js'
import { decodeBase64url } from '../jose/base64url.js'
import { openReplayCache } from '../replay/open.js'
import type { ReplayCache } from '../replay/types.js'
import { type OpenStoreOptions, openStore } from '../store/open.js'
import type { Store } from '../store/types.js'
import { buildApp } from './app.js'
import { cachedClients } from './clients.js'
import { endpointsOf, epoch, type MtlsContext, type ServerContext } from './context.js'
import { SigningKeys } from './tokens/keys.js'

/** Where a listener is bound. */
export interface BoundAddress {
  host: string
  port: number
}

export interface AuthorizationServer {
  readonly app: FastifyInstance
  readonly context: ServerContext
  /** The HTTPS listener for mutual TLS, when `tls` is configured (listening after `listen`). */
  readonly tlsServer: HttpsServer | undefined
  /**
   * Listens on `config.host`/`config.port` (or the given port), and with `tls` on
   * `tls.host`/`tls.port` too; answers the bound addresses.
   */
  listen(port?: number): Promise<BoundAddress & { tls?: BoundAddress }>
  /** Stops accepting connections, finishes the requests in flight, then releases everything. */
  close(): Promise<void>
}

export interface CreateServerOptions {
  logger?: FastifyServerOptions['logger']
  /** How to open `config.database` (see `openStore`). */
  storeOptions?: OpenStoreOptions
}

/** Makes the store hold exactly the configured clients (those from `/register` are kept) and users. */
async function syncConfiguredClients(store: Store, config: Config): Promise<void> {
  const at = epoch()
  const configured = new Set(config.clients.map((c) => c.client_id))
  for (const existing of await store.listClients()) {
    if (existing.source === 'config' && !configured.has(existing.client_id)) {
      await store.deleteClient(existing.client_id)
    }
  }
  for (const client of config.clients) {
    await store.upsertClient({
      ...client,
      source: 'config',
      registration_access_token_hash: null,
      created_at: at,
    })
  }
  for (const user of config.users) await store.upsertUser(user)
}

/** The mutual-TLS part of the context (RFC 8705). */
function mtlsContextOf(config: Config, files: MtlsFiles): MtlsContext {
  const base = mtlsEndpointBase(config)
  const endpoints = base === undefined ? undefined : endpointsOf(base)
  const aliasHost = endpoints ? new URL(endpoints.token).host : undefined
  return {
    enabled: mtlsEnabled(config),
    endpoints,
    aliasHost: aliasHost === new URL(config.issuer).host ? undefined : aliasHost,
    certificates: createClientCertificateSource({
      header: config.mtls.certificateHeader,
      trusted: compileServerTrustProxy(config.trustProxy),
      ca: files.headerCa,
      tlsVerifiesChain: files.listener?.ca !== undefined,
    }),
  }
}

/**
 * The HTTPS listener: asks every client for a certificate and lets the handshake succeed
 * without one, or with one that does not verify (`socket.authorized` tells, for
 * `tls_client_auth`); the endpoints decide what they need. Requests go to the app's router.
 */
function createTlsServer(app: FastifyInstance, files: NonNullable<MtlsFiles['listener']>) {
  const server = createHttpsServer(
    {
      cert: files.cert,
      key: files.key,
      ...(files.ca === undefined ? {} : { ca: files.ca }),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => app.routing(req, res),
  )
  server.keepAliveTimeout = app.server.keepAliveTimeout
  server.requestTimeout = app.server.requestTimeout
  server.on('tlsClientError', (err) => app.log.debug({ err: err.message }, 'TLS handshake failed'))
  return server
}

/** How often keys are re-read (and rotated) and expired records purged, in milliseconds. */
const HOUSEKEEPING_INTERVAL = 60_000

export async function createAuthorizationServer(
  config: Config,
  options: CreateServerOptions = {},
): Promise<AuthorizationServer> {
  // The PEM files first: a mistake in them is a configuration error, before anything opens.
  const files = await loadMtlsFiles(config)
  const store = await openStore(config.database, options.storeOptions)
  let replayCache: ReplayCache | undefined
  try {
    await syncConfiguredClients(store, config)
    const keys = await SigningKeys.load(store, config.keys)
    replayCache = openReplayCache(config)
    const nonceSecret = config.dpop.nonceSecret
      ? decodeBase64url(config.dpop.nonceSecret)
      : undefined
    const nonces =
      config.dpop.nonce === 'required' && nonceSecret
        ? createNonceProvider({ secret: nonceSecret, step: config.dpop.nonceStep })
        : undefined
    const context: ServerContext = {
      config,
      store,
      clients: cachedClients(store),
      replayCache,
      keys,
      nonces,
      endpoints: endpointsOf(config.issuer),
      mtls: mtlsContextOf(config, files),
    }
    const app = await buildApp(context, options)
    const tlsServer = files.listener ? createTlsServer(app, files.listener) : undefined
    const housekeeping = setInterval(() => {
      const at = epoch()
      Promise.all([keys.refresh(at), store.deleteExpired(at)]).catch((err) =>
        app.log.error({ err }, 'housekeeping failed'),
      )
    }, HOUSEKEEPING_INTERVAL)
    housekeeping.unref()
    const cache = replayCache
    return {
      app,
      context,
      tlsServer,
      async listen(port = config.port) {
        await app.listen({ host: config.host, port })
        const address = app.server.address()
        const bound = {
          host: config.host,
          port: typeof address === 'object' && address ? address.port : port,
        }
        if (!tlsServer || !config.tls) return bound
        const tls = { host: config.tls.host ?? config.host, port: config.tls.port }
        await new Promise<void>((resolve, reject) => {
          tlsServer.once('error', reject)
          tlsServer.listen(tls.port, tls.host, () => {
            tlsServer.off('error', reject)
            resolve()
          })
        })
        const tlsAddress = tlsServer.address()
        if (typeof tlsAddress === 'object' && tlsAddress) tls.port = tlsAddress.port
        app.log.info(
          { aliases: context.mtls.endpoints?.token.replace(/\/token$/, '') },
          `HTTPS listener (mutual TLS, RFC 8705) at ${tls.host}:${tls.port}`,
        )
        return { ...bound, tls }
      },
      async close() {
        clearInterval(housekeeping)
        // Both listeners stop accepting; the requests in flight on either finish.
        const tlsClosed = tlsServer?.listening
          ? new Promise<void>((resolve) => tlsServer.close(() => resolve()))
          : undefined
        // A keep-alive connection of the HTTPS listener is closed as soon as it is idle.
        const sweep = tlsClosed && setInterval(() => tlsServer?.closeIdleConnections(), 50)
        tlsServer?.closeIdleConnections()
        await app.close()
        await tlsClosed
        if (sweep) clearInterval(sweep)
        await cache.close?.()
        await store.close()
      },
    }
  } catch (err) {
    await replayCache?.close?.()
    await store.close()
    throw err
  }
}
