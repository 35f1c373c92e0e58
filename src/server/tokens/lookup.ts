/**
 * @module server/tokens/lookup
 *
 * Finds what a token presented to introspection (RFC 7662 §2.1) or revocation (RFC 7009 §2.1)
 * is: a JWT access token this server signed (RFC 9068), a live reference access token, or a
 * live refresh token. Reference and refresh tokens are stored by their SHA-256
 * ({@link referenceId}); anything else, expired, revoked or rotated is not found.
 */
import { createLocalJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose'
import type { AccessTokenRecord, RefreshTokenRecord } from '../../store/types.js'
import type { ServerContext } from '../context.js'
import { referenceId } from './access-token.js'
import type { SigningKeys } from './keys.js'

export type FoundToken =
  | { readonly kind: 'jwt'; readonly clientId: string; readonly claims: JWTPayload }
  | { readonly kind: 'reference'; readonly clientId: string; readonly record: AccessTokenRecord }
  | { readonly kind: 'refresh'; readonly clientId: string; readonly record: RefreshTokenRecord }

/** A JWS in compact serialization; reference and refresh tokens are base64url without dots. */
export const isJwt = (token: string) => token.split('.').length === 3

/** The local key set of the server's published keys, rebuilt only when the keys change. */
const keySets = new WeakMap<SigningKeys, { kids: string; set: JWTVerifyGetKey }>()

function keySetOf(keys: SigningKeys): JWTVerifyGetKey {
  const jwks = keys.jwks()
  const kids = jwks.keys.map((key) => key.kid).join(' ')
  let cached = keySets.get(keys)
  if (cached?.kids !== kids) {
    cached = { kids, set: createLocalJWKSet(jwks as never) }
    keySets.set(keys, cached)
  }
  return cached.set
}

/** Seconds between two re-reads of the keys on an unknown `kid`: garbage must not hammer the store. */
const REREAD_INTERVAL = 10
const rereads = new WeakMap<SigningKeys, { at: number; done: Promise<void> }>()

/** Re-reads the keys from the store, at most once every {@link REREAD_INTERVAL} seconds. */
function reread(keys: SigningKeys): Promise<void> {
  const now = Date.now() / 1000
  const last = rereads.get(keys)
  if (last && now - last.at < REREAD_INTERVAL) return last.done
  const done = keys.refresh()
  rereads.set(keys, { at: now, done })
  return done
}

/**
 * The claims of a valid, unexpired access token JWT of this server (`typ` `at+jwt`, RFC 9068
 * §2.1; its `iss`; a key of `/jwks`), or `undefined`. A `kid` this instance does not know yet
 * (another instance rotated since the last housekeeping) re-reads the keys, then tries again.
 */
export async function verifyAccessTokenJwt(
  token: string,
  context: ServerContext,
): Promise<JWTPayload | undefined> {
  const verify = () =>
    jwtVerify(token, keySetOf(context.keys), {
      issuer: context.config.issuer,
      typ: 'at+jwt',
      algorithms: [...context.config.keys.algs],
      requiredClaims: ['exp', 'iat', 'sub', 'client_id'],
    })
  try {
    return (await verify()).payload
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') return undefined
  }
  try {
    await reread(context.keys)
    return (await verify()).payload
  } catch {
    return undefined
  }
}

/**
 * Looks a token up. `hint` (`token_type_hint`) only orders the store lookups; an unknown hint is
 * ignored (RFC 7662 §2.1, RFC 7009 §2.1: the server extends its search to every type).
 */
export async function findToken(
  token: string,
  hint: string | undefined,
  context: ServerContext,
): Promise<FoundToken | undefined> {
  if (isJwt(token)) {
    const claims = await verifyAccessTokenJwt(token, context)
    return claims && typeof claims.client_id === 'string'
      ? { kind: 'jwt', clientId: claims.client_id, claims }
      : undefined
  }
  const id = referenceId(token)
  const access = async (): Promise<FoundToken | undefined> => {
    const record = await context.store.getAccessToken(id)
    return record && { kind: 'reference', clientId: record.client_id, record }
  }
  const refresh = async (): Promise<FoundToken | undefined> => {
    const record = await context.store.getRefreshToken(id)
    return record && { kind: 'refresh', clientId: record.client_id, record }
  }
  const [first, second] = hint === 'refresh_token' ? [refresh, access] : [access, refresh]
  return (await first()) ?? (await second())
}
