/**
 * @module server/clients
 *
 * Client lookups for every request, served from a short-lived in-process cache: a token
 * request would otherwise spend more on the database query than on its cryptography. A client
 * changed by another instance (or a config reload) is seen within `ttl`.
 */
import type { ClientRecord, Store } from '../store/types.js'

export interface ClientLookup {
  get(clientId: string): Promise<ClientRecord | undefined>
}

/** Caches found clients for `ttl` milliseconds (unknown ids are not cached), at most `max`. */
export function cachedClients(store: Store, ttl = 10_000, max = 10_000): ClientLookup {
  const cache = new Map<string, { client: ClientRecord; until: number }>()
  return {
    async get(clientId) {
      const now = Date.now()
      const hit = cache.get(clientId)
      if (hit && hit.until > now) return hit.client
      const client = await store.getClient(clientId)
      if (!client) {
        cache.delete(clientId)
        return undefined
      }
      if (cache.size >= max) cache.delete(cache.keys().next().value as string)
      cache.set(clientId, { client, until: now + ttl })
      return client
    },
  }
}
