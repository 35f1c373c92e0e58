/**
 * @module server/grants/authorization_code
 *
 * `grant_type=authorization_code` (RFC 6749 §4.1.3): the client redeems a code, once, with the
 * PKCE verifier (RFC 7636 §4.5) and, for a code bound by `dpop_jkt`, a proof of that key
 * (RFC 9449 §10). The steps follow §4.1.3's list; the code is spent before the checks that need
 * it, so that a failed attempt cannot be retried with the same code.
 */
import { hash, timingSafeEqual } from 'node:crypto'
import { InvalidGrantError, InvalidRequestError } from '../../errors.js'
import type { AuthorizationCodeRecord, ClientRecord } from '../../store/types.js'
import { epoch, type ServerContext } from '../context.js'
import { issueAccessToken } from '../tokens/access-token.js'
import { bindTokenRequest, checkBoundKey, popResponseMembers } from '../tokens/bind.js'
import { resolveAudience } from './audience.js'
import { issueRefreshToken } from './refresh_token.js'
import type { Grant } from './types.js'

/** RFC 7636 §4.1: 43 to 128 characters of the unreserved set. */
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/

const sha256 = (value: string) => hash('sha256', value, 'base64url')

/**
 * Spends the code. A code presented again is a replay (RFC 6749 §4.1.2: "SHOULD revoke (when
 * possible) all tokens previously issued based on that authorization code").
 */
async function consume(code: string, context: ServerContext): Promise<AuthorizationCodeRecord> {
  const now = epoch()
  const result = await context.store.consumeCode(sha256(code), now)
  if (result.status === 'consumed') return result.code
  if (result.status === 'reused') {
    await context.store.revokeGrant(result.code.grant_id, now)
    throw new InvalidGrantError('authorization code is invalid, expired or used', {
      reason: 'code_reused',
    })
  }
  throw new InvalidGrantError('authorization code is invalid, expired or used', {
    reason: 'code_not_found',
  })
}

/** RFC 6749 §4.1.3: issued to this client, for this redirect URI. */
function checkIssuedTo(
  code: AuthorizationCodeRecord,
  client: ClientRecord,
  redirectUri: string | undefined,
) {
  if (code.client_id !== client.client_id) {
    throw new InvalidGrantError('authorization code was issued to another client')
  }
  // The code always records its redirect URI; the request may leave it out only when it could
  // not have been another one (the client has exactly that one registered).
  const omittable =
    client.redirect_uris.length === 1 && client.redirect_uris[0] === code.redirect_uri
  if (redirectUri === undefined ? !omittable : redirectUri !== code.redirect_uri) {
    throw new InvalidGrantError('redirect_uri does not match the authorization request')
  }
}

/**
 * RFC 7636 §4.6: `BASE64URL(SHA256(code_verifier)) == code_challenge`. A verifier for a code
 * issued without a challenge is refused too (RFC 9700 §4.8: PKCE downgrade).
 */
function checkPkce(code: AuthorizationCodeRecord, verifier: string | undefined) {
  if (code.code_challenge === null) {
    if (verifier !== undefined) {
      throw new InvalidGrantError('code_verifier sent for a code issued without code_challenge')
    }
    return
  }
  if (verifier === undefined) throw new InvalidGrantError('code_verifier is required')
  const computed = Buffer.from(sha256(verifier))
  const expected = Buffer.from(code.code_challenge)
  if (computed.length !== expected.length || !timingSafeEqual(computed, expected)) {
    throw new InvalidGrantError('code_verifier does not match the code_challenge')
  }
}

export const authorizationCode: Grant = {
  grantType: 'authorization_code',
  parameters: new Set([
    'code',
    'redirect_uri',
    'code_verifier',
    'resource',
    'token_type',
    'alg',
    'key',
  ]),
  async handle({ client, params, dpop, endpoint, certificate, context }) {
    // 1. The request's own parameters, before the code is spent.
    if (params.code === undefined) throw new InvalidRequestError('code is required')
    const verifier = params.code_verifier
    if (verifier !== undefined && !CODE_VERIFIER.test(verifier)) {
      throw new InvalidRequestError('code_verifier must be 43-128 unreserved characters')
    }
    const aud = resolveAudience(params.resource, context)
    // 2. The proof, before the code is spent: a `use_dpop_nonce` answer (RFC 9449 §8) is
    //    retried with the same code. Which key it must be is checked in step 5.
    const cnf = await bindTokenRequest({ client, dpop, endpoint, certificate, params }, context)
    // 3. The code, once.
    const code = await consume(params.code, context)
    // 4. Issued to this client and redirect URI, and the PKCE verifier.
    checkIssuedTo(code, client, params.redirect_uri)
    checkPkce(code, verifier)
    // 5. RFC 9449 §10: a code bound by `dpop_jkt` needs a proof of that key.
    checkBoundKey(cnf, code.dpop_jkt)
    // 6. The tokens, all in the code's grant.
    const token = await issueAccessToken(
      { client, sub: code.sub, scope: code.scope, aud, cnf, grantId: code.grant_id },
      context,
    )
    const refresh_token = client.grant_types.includes('refresh_token')
      ? await issueRefreshToken(
          { client, sub: code.sub, scope: code.scope, grantId: code.grant_id, cnf },
          context,
        )
      : undefined
    return {
      ...token,
      ...(code.scope ? { scope: code.scope } : {}),
      ...(refresh_token ? { refresh_token } : {}),
      ...popResponseMembers(params, cnf),
    }
  },
}
