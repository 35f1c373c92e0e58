/**
 * @module server/grants/client_credentials
 *
 * `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client asks for a token for
 * itself. No refresh token is issued (§4.4.3).
 */
import { issueAccessToken } from '../tokens/access-token.js'
import { bindTokenRequest, popResponseMembers } from '../tokens/bind.js'
import { resolveAudience } from './audience.js'
import { resolveScope } from './scope.js'
import type { Grant } from './types.js'

export const clientCredentials: Grant = {
  grantType: 'client_credentials',
  parameters: new Set(['scope', 'resource', 'token_type', 'alg', 'key']),
  async handle({ client, params, dpop, endpoint, certificate, context }) {
    const scope = resolveScope(params.scope, client, context.config.scopes)
    const aud = resolveAudience(params.resource, context)
    const cnf = await bindTokenRequest({ client, dpop, endpoint, certificate, params }, context)
    const token = await issueAccessToken(
      { client, sub: undefined, scope, aud, cnf, grantId: null },
      context,
    )
    return { ...token, ...(scope ? { scope } : {}), ...popResponseMembers(params, cnf) }
  },
}
