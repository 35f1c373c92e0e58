/**
 * @module server/grants
 *
 * Every grant, by its `grant_type`: dispatch is a lookup.
 */
import { authorizationCode } from './authorization_code.js'
import { clientCredentials } from './client_credentials.js'
import { refreshToken } from './refresh_token.js'
import type { Grant } from './types.js'

export const GRANTS: ReadonlyMap<string, Grant> = new Map(
  [authorizationCode, clientCredentials, refreshToken].map((grant) => [grant.grantType, grant]),
)
