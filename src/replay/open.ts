/**
 * @module replay/open
 *
 * The replay cache a configuration names, shared by `keybound serve` and `keybound gateway`.
 */
import { createMemoryReplayCache } from './memory.js'
import { createRedisReplayCache } from './redis.js'
import type { ReplayCache } from './types.js'

/** The two configuration fields both servers take (see `replayCacheFields` in config/schema). */
export interface ReplayCacheSetting {
  /** `memory`, or a `redis://` / `rediss://` URL. */
  readonly replayCache: string
  /** Ceiling of the in-memory cache; ignored with Redis. */
  readonly replayCacheMaxEntries: number
}

/** Opens the replay cache of a validated configuration. */
export function openReplayCache(setting: ReplayCacheSetting): ReplayCache {
  return setting.replayCache === 'memory'
    ? createMemoryReplayCache({ maxEntries: setting.replayCacheMaxEntries })
    : createRedisReplayCache({ url: setting.replayCache })
}
