/**
 * @module server/client-auth/client-keys
 *
 * A client's registered public keys (RFC 7591 §2 `jwks` or `jwks_uri`), for `private_key_jwt`
 * and `self_signed_tls_client_auth`. Remote key sets are fetched by jose, one per `jwks_uri`,
 * so that its cache and cooldown are kept across requests. The `jwks_uri` of a client that
 * registered itself (RFC 7591) is fetched from public addresses only (`http/public-fetch.ts`);
 * that of a client in the configuration file is the operator's and may be anywhere.
 */
import { createRemoteJWKSet, customFetch, type RemoteJWKSet } from 'jose'
import { InvalidClientError } from '../../errors.js'
import { createPublicFetch } from '../../http/public-fetch.js'
import type { ClientRecord } from '../../store/types.js'

const operatorSets = new Map<string, RemoteJWKSet>()
const registrantSets = new Map<string, RemoteJWKSet>()
let publicFetch: ReturnType<typeof createPublicFetch> | undefined

/** The jose key set of a `jwks_uri`, shared by every request, for a client of `source`. */
export function remoteKeySet(jwksUri: string, source: ClientRecord['source']): RemoteJWKSet {
  const registrant = source === 'registration'
  const sets = registrant ? registrantSets : operatorSets
  let set = sets.get(jwksUri)
  if (!set) {
    const url = new URL(jwksUri)
    if (registrant) {
      publicFetch ??= createPublicFetch()
      set = createRemoteJWKSet(url, { [customFetch]: publicFetch })
    } else set = createRemoteJWKSet(url)
    sets.set(jwksUri, set)
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
  const set = remoteKeySet(client.jwks_uri, client.source)
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
