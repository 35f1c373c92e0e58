/**
 * @module server/client-auth/client-keys
 *
 * A client's registered public keys (RFC 7591 §2 `jwks` or `jwks_uri`), for `private_key_jwt`
 * and `self_signed_tls_client_auth`. Remote key sets are fetched by jose, one per `jwks_uri`,
 * so that its cache and cooldown are kept across requests.
 */
import { createRemoteJWKSet, type RemoteJWKSet } from 'jose'
import { InvalidClientError } from '../../errors.js'
import type { ClientRecord } from '../../store/types.js'

const remoteSets = new Map<string, RemoteJWKSet>()

/** The jose key set of a `jwks_uri`, shared by every request. */
export function remoteKeySet(uri: string): RemoteJWKSet {
  let set = remoteSets.get(uri)
  if (!set) {
    set = createRemoteJWKSet(new URL(uri))
    remoteSets.set(uri, set)
  }
  return set
}

/**
 * The client's public keys as JWKs. A remote set is fetched when its cache is stale, or, with
 * `refresh` (a key was not found), again unless it was fetched within the cooldown.
 *
 * @throws {InvalidClientError} when the client has no keys or its `jwks_uri` cannot be fetched.
 */
export async function registeredKeys(
  client: ClientRecord,
  refresh = false,
): Promise<readonly Record<string, unknown>[]> {
  if (client.jwks) return client.jwks.keys
  if (!client.jwks_uri) throw new InvalidClientError('client has no keys')
  const set = remoteKeySet(client.jwks_uri)
  try {
    if (!set.fresh || (refresh && !set.coolingDown)) await set.reload()
  } catch (cause) {
    throw new InvalidClientError('client keys cannot be fetched', {
      reason: 'jwks_unavailable',
      detail: (cause as Error).message,
      cause,
    })
  }
  return (set.jwks()?.keys ?? []) as Record<string, unknown>[]
}
