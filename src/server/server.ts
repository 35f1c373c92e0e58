/**
 * @module server/server
 *
 * Assembles an authorization server from a validated configuration: the store (migrated), the
 * configured clients and users, the signing keys, replay detection, nonces and the Fastify app.
 */
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { createNonceProvider } from '../bindings/dpop/nonce.js'
import type { Config } from '../config/index.js'
import { decodeBase64url } from '../jose/base64url.js'
import { createMemoryReplayCache } from '../replay/memory.js'
import { createRedisReplayCache } from '../replay/redis.js'
import type { ReplayCache } from '../replay/types.js'
import { type OpenStoreOptions, openStore } from '../store/open.js'
import type { Store } from '../store/types.js'
import { buildApp } from './app.js'
import { cachedClients } from './clients.js'
import { endpointsOf, epoch, type ServerContext } from './context.js'
import { SigningKeys } from './tokens/keys.js'

export interface AuthorizationServer {
  readonly app: FastifyInstance
  readonly context: ServerContext
  /** Listens on `config.host`/`config.port` (or the given port); answers the bound address. */
  listen(port?: number): Promise<{ host: string; port: number }>
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

function replayCacheOf(config: Config): ReplayCache {
  return config.replayCache === 'memory'
    ? createMemoryReplayCache()
    : createRedisReplayCache({ url: config.replayCache })
}

/** How often keys are re-read (and rotated) and expired records purged, in milliseconds. */
const HOUSEKEEPING_INTERVAL = 60_000

export async function createAuthorizationServer(
  config: Config,
  options: CreateServerOptions = {},
): Promise<AuthorizationServer> {
  const store = await openStore(config.database, options.storeOptions)
  let replayCache: ReplayCache | undefined
  try {
    await syncConfiguredClients(store, config)
    const keys = await SigningKeys.load(store, config.keys)
    replayCache = replayCacheOf(config)
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
    }
    const app = await buildApp(context, options)
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
      async listen(port = config.port) {
        await app.listen({ host: config.host, port })
        const address = app.server.address()
        return {
          host: config.host,
          port: typeof address === 'object' && address ? address.port : port,
        }
      },
      async close() {
        clearInterval(housekeeping)
        await app.close()
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
