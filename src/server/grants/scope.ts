/**
 * @module server/grants/scope
 */
import { InvalidScopeError } from '../../errors.js'
import type { ClientRecord } from '../../store/types.js'

/**
 * The scope to grant (RFC 6749 §3.3): the requested scopes when every one is known to the server
 * and allowed for the client, or, when none is requested, everything the client is allowed.
 *
 * @throws {InvalidScopeError} naming no scope (the description is fixed).
 */
export function resolveScope(
  requested: string | undefined,
  client: ClientRecord,
  known: readonly string[],
): string {
  const allowed =
    client.scope === null ? known : client.scope.split(' ').filter((s) => known.includes(s))
  if (requested === undefined) return allowed.join(' ')
  const scopes = requested.split(' ').filter(Boolean)
  if (scopes.length === 0 || requested !== scopes.join(' ')) {
    throw new InvalidScopeError('scope must be space-separated scope tokens')
  }
  const refused = scopes.filter((s) => !allowed.includes(s))
  if (refused.length > 0) {
    throw new InvalidScopeError(undefined, { detail: `refused: ${refused.join(' ')}` })
  }
  return [...new Set(scopes)].join(' ')
}

/**
 * The scope of a refresh (RFC 6749 §6): the requested scopes when each was granted (and is
 * still allowed for the client), else the whole granted scope. A refresh may narrow the scope,
 * never widen it.
 *
 * @throws {InvalidScopeError} for a scope outside the grant.
 */
export function narrowScope(
  requested: string | undefined,
  granted: string,
  client: ClientRecord,
  known: readonly string[],
): string {
  if (requested === undefined) return granted
  const scope = resolveScope(requested, client, known)
  const grantedScopes = granted.split(' ')
  const wider = scope.split(' ').filter((s) => s && !grantedScopes.includes(s))
  if (wider.length > 0) {
    throw new InvalidScopeError(undefined, { detail: `not granted: ${wider.join(' ')}` })
  }
  return scope
}
