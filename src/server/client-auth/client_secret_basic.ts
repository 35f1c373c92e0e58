/**
 * @module server/client-auth/client_secret_basic
 *
 * **client_secret_basic**: HTTP Basic with the form-urlencoded client_id and secret
 * (RFC 6749 §2.3.1).
 */
import { InvalidClientError, InvalidRequestError } from '../../errors.js'
import { checkSecret } from './secret.js'
import type { ClientAuthMethod, ClientAuthRequest } from './types.js'

function credentials(request: ClientAuthRequest): { id: string; secret: string } {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(request.authorization ?? '')
  if (!match) throw new InvalidRequestError('malformed Authorization header')
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) throw new InvalidRequestError('malformed Basic credentials')
  try {
    // RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded.
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) }
  } catch {
    throw new InvalidClientError('malformed Basic credentials')
  }
}

export const clientSecretBasic: ClientAuthMethod = {
  name: 'client_secret_basic',
  detect: (request) => /^Basic /i.test(request.authorization ?? ''),
  clientId: (request) => credentials(request).id,
  authenticate(request, client) {
    checkSecret(client, credentials(request).secret)
  },
}
