/**
 * @module bindings/dpop/ath
 */
import { createHash } from 'node:crypto'

/**
 * The `ath` claim: "the base64url-encoded SHA-256 hash of the ASCII encoding of the associated
 * access token's value" (RFC 9449 §4.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function computeAth(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url')
}
