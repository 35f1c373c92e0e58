/**
 * @module resource/token-cache
 *
 * Access tokens already validated, keyed by the token's SHA-256 (its `ath`, RFC 9449 §4.2, which
 * a DPoP request computes anyway), so a token seen again costs no signature check and no
 * introspection call. An entry lives until its own expiry, never past the token's `exp`; the map
 * is bounded and evicts the oldest entry. Only the token's validity is cached: the proof, the
 * binding and the route's scope are checked on every request.
 */
import type { AccessTokenClaims } from './jwt-access-token.js'

export class TokenCache {
  readonly #entries = new Map<string, { claims: AccessTokenClaims; until: number }>()
  readonly #max: number

  /** @param max Most entries kept; `0` turns the cache off. */
  constructor(max: number) {
    this.#max = max
  }

  /** @param now Seconds since the epoch. */
  get(hash: string, now: number): AccessTokenClaims | undefined {
    const entry = this.#entries.get(hash)
    if (entry === undefined) return undefined
    if (entry.until <= now) {
      this.#entries.delete(hash)
      return undefined
    }
    return entry.claims
  }

  /** @param until Seconds since the epoch after which the entry is dropped. */
  set(hash: string, claims: AccessTokenClaims, until: number): void {
    if (this.#max === 0) return
    if (this.#entries.size >= this.#max) {
      this.#entries.delete(this.#entries.keys().next().value as string)
    }
    this.#entries.set(hash, { claims, until })
  }

  get size(): number {
    return this.#entries.size
  }
}
