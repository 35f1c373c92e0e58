/**
 * @module client/use-dpop-nonce
 *
 * Recognising a server's demand for a nonce (RFC 9449 §8, §9) in its answer.
 */
import { dpopChallengeError } from './challenge.js'

/**
 * The nonce a `use_dpop_nonce` answer provides, or `undefined` when `response` is not one:
 *
 * - from an authorization server (RFC 9449 §8): HTTP 400 with the JSON error response
 *   `{"error": "use_dpop_nonce"}` and a `DPoP-Nonce` header;
 * - from a resource server (RFC 9449 §9): HTTP 401 with `WWW-Authenticate: DPoP
 *   error="use_dpop_nonce"` and a `DPoP-Nonce` header.
 *
 * An answer without `DPoP-Nonce` gives the client nothing to retry with, so it is not one. The
 * body of a 400 is read from a clone: `response` itself stays unread for the caller.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-9
 */
export async function useDPoPNonce(response: Response): Promise<string | undefined> {
  const nonce = response.headers.get('dpop-nonce')
  if (!nonce) return undefined
  if (response.status === 401) {
    return dpopChallengeError(response) === 'use_dpop_nonce' ? nonce : undefined
  }
  if (response.status === 400) {
    try {
      const body: unknown = await response.clone().json()
      if (typeof body === 'object' && body !== null && 'error' in body) {
        return body.error === 'use_dpop_nonce' ? nonce : undefined
      }
    } catch {
      // Not JSON: not an OAuth error response.
    }
  }
  return undefined
}
