/**
 * @module server/grants
 *
 * Every grant, by its `grant_type`: dispatch is a lookup.
 */
import { clientCredentials } from './client_credentials.js'
import type { Grant } from './types.js'

export const GRANTS: ReadonlyMap<string, Grant> = new Map(
  [clientCredentials].map((grant) => [grant.grantType, grant]),
)
