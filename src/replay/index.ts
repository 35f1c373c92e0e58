/**
 * @module replay
 *
 * Replay detection stores (RFC 9449 §11.1): the {@link ReplayCache} contract, a bounded
 * in-memory store for a single process and a Redis store shared by a fleet.
 */

export { createMemoryReplayCache, type MemoryReplayCacheOptions } from './memory.js'
export { createRedisReplayCache, type RedisReplayCacheOptions } from './redis.js'
export type { ReplayCache } from './types.js'
