/**
 * @module replay/redis
 *
 * A replay cache shared by every process of a deployment, kept in Redis (RFC 9449 §11.1). A
 * proof replayed against any process that uses the same Redis and prefix is recognised.
 */
import { Redis } from 'ioredis'
import { CodedTypeError, ReplayCacheUnavailableError } from '../errors.js'
import type { ReplayCache } from './types.js'

/** Options of {@link createRedisReplayCache}. */
export interface RedisReplayCacheOptions {
  /**
   * Redis URL (`redis://`, `rediss://`, or a Unix socket path) for a client this cache creates,
   * configures to fail fast, and closes in `close()`. Default `redis://127.0.0.1:6379`. Exclusive
   * with `client`.
   */
  url?: string
  /**
   * An ioredis client owned by the caller; `close()` leaves it open. To keep the fail-fast
   * guarantee, configure it as this module configures its own: `enableOfflineQueue: false`, a
   * low `maxRetriesPerRequest` and a `commandTimeout`. Commands are in any case only sent while
   * it is `ready`.
   */
  client?: Redis
  /** Prefix of every key written. Default `'keybound:replay:'`. */
  prefix?: string
  /**
   * Milliseconds to wait for Redis to answer one command before failing closed, for the client
   * this cache creates. Default `500`.
   */
  commandTimeout?: number
}

/**
 * Minimum TTL given to a key, in milliseconds. A key whose `expiresAt` is already past (clock
 * skew between hosts, or a caller at the edge of its window) is still being accepted by the
 * caller, so it must still be recorded: with `PX 1` a replay arriving a few milliseconds later
 * would pass. One second covers such races and costs a negligible amount of memory.
 */
const MIN_TTL_MS = 1000

const DEFAULT_PREFIX = 'keybound:replay:'
const DEFAULT_COMMAND_TIMEOUT_MS = 500
const DEFAULT_URL = 'redis://127.0.0.1:6379'

/**
 * Reconnection delay: quick at first so a blip heals fast, capped at 2 s so a long outage neither
 * hammers Redis nor delays recovery by much. Never gives up (returns a number every time), so the
 * cache recovers by itself when Redis comes back.
 */
function retryStrategy(times: number): number {
  return Math.min(times * 100, 2000)
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Creates a {@link ReplayCache} backed by Redis. A key is recorded with one atomic
 * `SET <prefix><key> 1 PX <ttl> NX`: of concurrent calls with one key, across processes, exactly
 * one gets `OK` (first use) and the rest get nil (replay). The TTL is `expiresAt - now`, at least
 * one second, so Redis forgets the key when its window closes.
 *
 * Replay detection fails closed (RFC 9449 §11.1 makes it the server's duty): when Redis cannot
 * answer (refused, down, reconnecting, slow), `firstUse` rejects with
 * {@link ReplayCacheUnavailableError} (503) rather than accepting a possibly replayed proof, and
 * it does so at once instead of queueing the command until Redis returns, so a Redis outage turns
 * into fast 503s, not into requests piling up. The client keeps reconnecting in the background and
 * the cache recovers by itself.
 *
 * @throws {CodedTypeError} on invalid options.
 */
export function createRedisReplayCache(options: RedisReplayCacheOptions = {}): ReplayCache {
  const { url, client: suppliedClient } = options
  const prefix = options.prefix ?? DEFAULT_PREFIX
  const commandTimeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS
  if (url !== undefined && suppliedClient !== undefined) {
    throw new CodedTypeError('Pass either "url" or "client", not both', 'ERR_INVALID_ARG_VALUE')
  }
  if (url !== undefined && (typeof url !== 'string' || url === '')) {
    throw new CodedTypeError('"url" must be a non-empty string', 'ERR_INVALID_ARG_TYPE')
  }
  // Duck-typed rather than `instanceof`, so a client from another copy of ioredis is accepted.
  if (suppliedClient !== undefined && typeof suppliedClient?.set !== 'function') {
    throw new CodedTypeError('"client" must be an ioredis Redis instance', 'ERR_INVALID_ARG_TYPE')
  }
  if (typeof prefix !== 'string') {
    throw new CodedTypeError('"prefix" must be a string', 'ERR_INVALID_ARG_TYPE')
  }
  if (
    typeof commandTimeout !== 'number' ||
    !(commandTimeout > 0) ||
    !Number.isFinite(commandTimeout)
  ) {
    throw new CodedTypeError('"commandTimeout" must be a positive number', 'ERR_INVALID_ARG_VALUE')
  }

  const owned = suppliedClient === undefined
  const client =
    suppliedClient ??
    new Redis(url ?? DEFAULT_URL, {
      // Without these, ioredis queues commands while disconnected and resends them after
      // reconnecting, so a verification would wait for Redis instead of failing closed.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A connected but unresponsive Redis must not hold requests either.
      commandTimeout,
      retryStrategy,
      // Bounds each background connection attempt to an unreachable host; commands never wait on
      // it (they are refused while not ready).
      connectTimeout: 2000,
      lazyConnect: false,
    })

  // ioredis emits 'error' on every failed (re)connection. The listener keeps the process from
  // treating those as unhandled and keeps the latest cause for the error detail.
  let lastError: unknown
  const onError = (err: unknown): void => {
    lastError = err
  }
  const onReady = (): void => {
    lastError = undefined
  }
  client.on('error', onError)
  client.on('ready', onReady)

  let closed = false

  function unavailable(what: string, cause?: unknown): ReplayCacheUnavailableError {
    let detail = `Redis replay cache: ${what} (client status "${client.status}")`
    if (lastError !== undefined && lastError !== cause) {
      detail += `; last connection error: ${messageOf(lastError)}`
    }
    return new ReplayCacheUnavailableError(detail, cause ?? lastError)
  }

  return {
    async firstUse(key: string, expiresAt: number): Promise<boolean> {
      if (typeof key !== 'string') {
        throw new CodedTypeError('"key" must be a string', 'ERR_INVALID_ARG_TYPE')
      }
      if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
        throw new CodedTypeError('"expiresAt" must be a finite number', 'ERR_INVALID_ARG_VALUE')
      }
      if (closed) throw unavailable('closed')
      // Checked here as well as by ioredis's disabled offline queue, so that a caller-supplied
      // client with an offline queue fails fast too instead of holding the request.
      if (client.status !== 'ready') {
        // A caller-supplied `lazyConnect` client connects on its first command; start it here
        // since no command will be sent.
        if (client.status === 'wait') client.connect().catch(() => {})
        throw unavailable('not connected')
      }

      const ttl = Math.max(Math.ceil(expiresAt - Date.now()), MIN_TTL_MS)
      let reply: 'OK' | null
      try {
        reply = await client.set(prefix + key, '1', 'PX', ttl, 'NX')
      } catch (err) {
        // Any failure, a reply error (OOM, READONLY, NOAUTH) as much as a lost connection or a
        // timeout, leaves the key's status unknown: fail closed.
        throw unavailable(`SET NX failed: ${messageOf(err)}`, err)
      }
      // Only an explicit OK is a first use; anything else is treated as a replay (fail closed).
      return reply === 'OK'
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (!owned) {
        client.off('error', onError)
        client.off('ready', onReady)
        return
      }
      // The 'error' listener stays attached: a late connection error after closing must not
      // surface as an unhandled 'error' event.
      try {
        await client.quit()
      } catch {
        // Not connected (QUIT cannot be sent): stop the reconnection loop instead.
        client.disconnect()
      }
    },
  }
}
