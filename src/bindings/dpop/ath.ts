/**
 * @module bindings/dpop/ath
 */
import { hash } from 'node:crypto'

/**
 * The `ath` claim: "the base64url-encoded SHA-256 hash of the ASCII encoding of the associated
 * access token's value" (RFC 9449 §4.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function computeAth(accessToken: string): string {
  // Access tokens are ASCII (RFC 6750 §2.1 b64token), so their UTF-8 encoding is the ASCII one.
  return hash('sha256', accessToken, 'base64url')
}
