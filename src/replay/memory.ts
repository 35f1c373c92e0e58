/**
 * @module replay/memory
 *
 * A bounded, single-process replay cache (RFC 9449 §11.1). Suitable for one server process; a
 * fleet of processes behind a load balancer needs a shared store (see `createRedisReplayCache`),
 * because a proof replayed against a different process would not be recognised here.
 */
import { CodedTypeError, ReplayCacheFullError } from '../errors.js'
import type { ReplayCache } from './types.js'

/** Options of {@link createMemoryReplayCache}. */
export interface MemoryReplayCacheOptions {
  /**
   * Ceiling on the number of remembered keys. Bounds memory against a flood of fresh proofs.
   * A positive integer; default {@link DEFAULT_MAX_ENTRIES}.
   */
  maxEntries?: number
  /** Clock in epoch milliseconds; default `Date.now`. Injectable for tests. */
  now?: () => number
}

/**
 * Minimum time a key is remembered, in milliseconds, even when `expiresAt` is already past or
 * about to be. A caller that asks about a key still intends to accept it, so forgetting the key
 * at once would let an immediate replay through. Same floor as the Redis cache.
 */
const MIN_RETENTION_MS = 1000

/**
 * Each key is remembered for its proof's whole window (`iat` + window + tolerance: 65 s with
 * the servers' defaults), so the ceiling caps the sustained rate of fresh proofs at
 * `maxEntries / 65` per second before the cache refuses. One million sustains about 15,000
 * proofs/s, more than one process verifies, so that neither real traffic nor a flood of
 * self-signed proofs at the token endpoint reaches it; full, it holds about 150 MB (a key of
 * a 43-character `jkt` and a 22-character `jti` costs about 150 bytes of heap, measured on
 * Node 20).
 */
export const DEFAULT_MAX_ENTRIES = 1_000_000

// Shared settled promises: resolving a fresh promise per call would allocate on the hot path,
// and a settled promise can be handed to any number of callers.
const TRUE = Promise.resolve(true)
const FALSE = Promise.resolve(false)

/**
 * Creates an in-memory {@link ReplayCache}: a `Map` from key to its expiry, in insertion order.
 *
 * RFC 9449 §11.1 asks the server to remember each proof's `jti` for as long as the proof could be
 * accepted. Keys are kept until their `expiresAt` (at least one second). Because proofs arrive in
 * roughly the order of their windows, the `Map`'s head is the oldest entry: expired entries are
 * pruned from the head, lazily, only when the head's known expiry has passed, so the cost is
 * amortised O(1) per call with no timers. Expiries are not strictly monotonic (windows differ in
 * length), so an expired entry can sit behind a live head; such stragglers are still treated as
 * absent on lookup, and they are swept in one full pass before the cache is declared full.
 *
 * When the cache holds `maxEntries` live keys, `firstUse` rejects with
 * {@link ReplayCacheFullError} instead of evicting one: evicting a live key would let a replay
 * of it through, and a verifier that fails closed (503) is safer than one that silently stops
 * detecting replays under load.
 *
 * @throws {CodedTypeError} `ERR_INVALID_ARG_VALUE` when `maxEntries` is not a positive integer.
 */
export function createMemoryReplayCache(options: MemoryReplayCacheOptions = {}): ReplayCache {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new CodedTypeError('"maxEntries" must be a positive integer', 'ERR_INVALID_ARG_VALUE')
  }
  const now = options.now ?? Date.now
  if (typeof now !== 'function') {
    throw new CodedTypeError('"now" must be a function', 'ERR_INVALID_ARG_TYPE')
  }

  const entries = new Map<string, number>()
  // Expiry of the Map's head (infinity when empty). Until the clock reaches it the head cannot
  // have expired, so the common call does not touch the iterator at all. It stays exact: the head
  // only changes when the head pruning or the sweep deletes it (both recompute it) or when a key
  // is inserted into an empty Map; a straggler deleted on lookup is expired, so never the live head.
  let headExpiresAt = Number.POSITIVE_INFINITY
  // A lower bound on every stored expiry: the earliest one seen by the last sweep, lowered by each
  // insertion. Before the clock reaches it a sweep cannot free anything, so skipping it keeps a
  // flood at the ceiling from costing O(maxEntries) per call.
  let nextSweepAt = Number.NEGATIVE_INFINITY

  function pruneHead(t: number): void {
    for (const [key, expiresAt] of entries) {
      if (expiresAt > t) {
        headExpiresAt = expiresAt
        return
      }
      entries.delete(key)
    }
    headExpiresAt = Number.POSITIVE_INFINITY
  }

  function sweep(t: number): void {
    let head = Number.POSITIVE_INFINITY
    let earliest = Number.POSITIVE_INFINITY
    for (const [key, expiresAt] of entries) {
      if (expiresAt <= t) {
        entries.delete(key)
      } else {
        if (head === Number.POSITIVE_INFINITY) head = expiresAt
        if (expiresAt < earliest) earliest = expiresAt
      }
    }
    headExpiresAt = head
    nextSweepAt = earliest
  }

  return {
    firstUse(key: string, expiresAt: number): Promise<boolean> {
      if (typeof key !== 'string') {
        return Promise.reject(new CodedTypeError('"key" must be a string', 'ERR_INVALID_ARG_TYPE'))
      }
      if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
        return Promise.reject(
          new CodedTypeError('"expiresAt" must be a finite number', 'ERR_INVALID_ARG_VALUE'),
        )
      }
      const t = now()
      if (t >= headExpiresAt) pruneHead(t)

      const seen = entries.get(key)
      if (seen !== undefined) {
        if (seen > t) return FALSE
        // Expired straggler behind a live head: its window is over, so this is a first use
        // again. Re-inserting moves it to the tail, keeping the Map roughly ordered by expiry.
        entries.delete(key)
      } else if (entries.size >= maxEntries) {
        if (t >= nextSweepAt) sweep(t)
        if (entries.size >= maxEntries) {
          return Promise.reject(
            new ReplayCacheFullError(
              `in-memory replay cache holds maxEntries (${maxEntries}) unexpired keys: raise ` +
                'it (replayCacheMaxEntries in the configuration) or use Redis',
            ),
          )
        }
      }

      const keepUntil = Math.max(expiresAt, t + MIN_RETENTION_MS)
      if (entries.size === 0) headExpiresAt = keepUntil
      if (keepUntil < nextSweepAt) nextSweepAt = keepUntil
      entries.set(key, keepUntil)
      return TRUE
    },
  }
}
