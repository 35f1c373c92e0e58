/**
 * @module server/client-auth/none
 *
 * **none**: a public client identified by `client_id` alone (RFC 7591 §2). Such a client proves
 * nothing; its tokens are only as safe as their binding (PKCE for the code, DPoP for tokens).
 */
import type { ClientAuthMethod } from './types.js'

export const none: ClientAuthMethod = {
  name: 'none',
  detect: (request) =>
    request.params.client_id !== undefined &&
    request.params.client_secret === undefined &&
    request.params.client_assertion === undefined,
  clientId: (request) => request.params.client_id,
  authenticate() {},
}
