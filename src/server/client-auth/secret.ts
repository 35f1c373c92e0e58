/**
 * @module server/client-auth/secret
 *
 * Client secrets are stored as their SHA-256 (base64url). Secrets are high-entropy (the config
 * requires at least 16 characters of a generated secret), so a fast digest compared in constant
 * time is enough, as Duende IdentityServer does; a memory-hard KDF on every token request would
 * cost more than issuing the token.
 */
import { hash, timingSafeEqual } from 'node:crypto'
import { InvalidClientError } from '../../errors.js'
import type { ClientRecord } from '../../store/types.js'

export function hashSecret(secret: string): string {
  return hash('sha256', secret, 'base64url')
}

/** @throws {InvalidClientError} unless `secret` is the client's secret. */
export function checkSecret(client: ClientRecord, secret: string): void {
  const expected = client.client_secret_hash
  if (!expected) throw new InvalidClientError('client has no secret')
  const a = Buffer.from(hashSecret(secret))
  const b = Buffer.from(expected)
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new InvalidClientError('client authentication failed', { reason: 'bad_secret' })
  }
}
