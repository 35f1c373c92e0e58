/**
 * @module server/client-auth/private_key_jwt
 *
 * **private_key_jwt**: a JWT signed with the client's private key (RFC 7523 §2.2, §3; OpenID
 * Connect Core §9). The assertion's `iss` and `sub` are the client_id, its `aud` the token
 * endpoint or the issuer, it expires, and its `jti` is used once.
 */
import { createLocalJWKSet, decodeJwt, type JWTVerifyGetKey, jwtVerify } from 'jose'
import { InvalidClientError, InvalidRequestError } from '../../errors.js'
import { ASYMMETRIC_ALGS } from '../../jose/algs.js'
import type { ClientRecord } from '../../store/types.js'
import { remoteKeySet } from './client-keys.js'
import type { ClientAuthMethod, ClientAuthRequest } from './types.js'

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

function keySet(client: ClientRecord): JWTVerifyGetKey {
  if (client.jwks) return createLocalJWKSet(client.jwks as never)
  if (client.jwks_uri) return remoteKeySet(client.jwks_uri, client.source)
  throw new InvalidClientError('client has no keys')
}

function assertionSubject(request: ClientAuthRequest): string | undefined {
  try {
    const { sub } = decodeJwt(request.params.client_assertion as string)
    return typeof sub === 'string' ? sub : undefined
  } catch {
    throw new InvalidRequestError('client_assertion is not a JWT')
  }
}

export const privateKeyJwt: ClientAuthMethod = {
  name: 'private_key_jwt',
  detect: (request) => request.params.client_assertion !== undefined,
  clientId: (request) => request.params.client_id ?? assertionSubject(request),
  async authenticate(request, client, context) {
    if (request.params.client_assertion_type !== JWT_BEARER) {
      throw new InvalidRequestError(`client_assertion_type must be ${JWT_BEARER}`)
    }
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload']
    try {
      ;({ payload } = await jwtVerify(request.params.client_assertion as string, keySet(client), {
        issuer: client.client_id,
        subject: client.client_id,
        // The token endpoint (either URL, RFC 8705 §5) or the issuer.
        audience: [
          context.endpoints.token,
          context.config.issuer,
          ...(context.mtls.endpoints ? [context.mtls.endpoints.token] : []),
        ],
        algorithms: [...ASYMMETRIC_ALGS],
        requiredClaims: ['exp', 'jti'],
        clockTolerance: context.config.dpop.clockTolerance,
      }))
    } catch (cause) {
      if (cause instanceof InvalidClientError) throw cause
      throw new InvalidClientError('client assertion is invalid', {
        detail: (cause as Error).message,
        cause,
      })
    }
    // RFC 7523 §3 item 7: the jti may be used once.
    const fresh = await context.replayCache.firstUse(
      `client_assertion:${client.client_id}:${payload.jti}`,
      (payload.exp as number) * 1000,
    )
    if (!fresh) throw new InvalidClientError('client assertion has been used before')
  },
}
