/**
 * @module server/client-auth/client_secret_post
 *
 * **client_secret_post**: `client_id` and `client_secret` in the request body (RFC 6749 §2.3.1).
 */
import { checkSecret } from './secret.js'
import type { ClientAuthMethod } from './types.js'

export const clientSecretPost: ClientAuthMethod = {
  name: 'client_secret_post',
  detect: (request) => request.params.client_secret !== undefined,
  clientId: (request) => request.params.client_id,
  authenticate(request, client) {
    checkSecret(client, request.params.client_secret as string)
  },
}
