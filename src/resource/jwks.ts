/**
 * @module resource/jwks
 *
 * The authorization server's signing keys (RFC 7517 JWK Set at `jwks_uri`), imported once and
 * kept. An unknown `kid` triggers a refetch, at most once per `cooldown`, so a token signed
 * with a freshly rotated key is accepted at once, while a flood of tokens with invented `kid`s
 * costs the authorization server one request per cooldown. The set is also refreshed after
 * `maxAge`; if a refresh fails the keys already known keep working.
 */
import type { KeyObject } from 'node:crypto'
import { ALGS, type AsymmetricAlg, isAsymmetricAlg } from '../jose/algs.js'
import { checkPublicJwk, importPublicJwk, type PublicJwk } from '../jose/jwk.js'

export interface JwksKey {
  readonly kid: string | undefined
  /** The algs this key may verify: its `alg`, or every alg its type and curve fit. */
  readonly algs: readonly AsymmetricAlg[]
  readonly key: KeyObject
}

export interface KeySetOptions {
  /** Where the set is, or how to find it (metadata discovery). */
  uri: () => Promise<URL>
  fetch: typeof fetch
  /** Minimum time between two fetches, in ms (default 30 s). */
  cooldown?: number
  /** Refresh the set after this long, in ms (default 10 min). */
  maxAge?: number
  /** Timeout of one fetch, in ms (default 5 s). */
  timeout?: number
  now?: () => number
}

/** Imports the usable signing keys of a JWK Set; anything else in it is skipped. */
export function importKeySet(set: unknown): JwksKey[] {
  const keys = (set as { keys?: unknown })?.keys
  if (!Array.isArray(keys)) throw new Error('JWK Set has no "keys" array')
  const out: JwksKey[] = []
  for (const jwk of keys as Record<string, unknown>[]) {
    if (typeof jwk !== 'object' || jwk === null) continue
    if (jwk.use !== undefined && jwk.use !== 'sig') continue
    const candidates = isAsymmetricAlg(jwk.alg)
      ? [jwk.alg]
      : jwk.alg === undefined
        ? (Object.keys(ALGS) as AsymmetricAlg[])
        : []
    const algs = candidates.filter((alg) => checkPublicJwk(jwk, alg) === undefined)
    if (algs.length === 0) continue
    try {
      const key = importPublicJwk(jwk as PublicJwk)
      out.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, algs, key })
    } catch {
      // An invalid point or modulus: not a key anyone can have signed with.
    }
  }
  return out
}

export class RemoteKeySet {
  #keys: JwksKey[] = []
  #fetchedAt = Number.NEGATIVE_INFINITY
  #attemptedAt = Number.NEGATIVE_INFINITY
  #pending: Promise<void> | undefined
  #lastError: Error | undefined
  readonly #options: Required<Omit<KeySetOptions, 'uri' | 'fetch'>> & KeySetOptions

  constructor(options: KeySetOptions) {
    this.#options = { cooldown: 30_000, maxAge: 600_000, timeout: 5_000, now: Date.now, ...options }
  }

  /**
   * The keys that may have signed a JWS with this `kid` and `alg`. Refetches the set when the
   * `kid` is unknown (after the cooldown) or the set is older than `maxAge`.
   *
   * @throws {Error} when the set was never fetched successfully.
   */
  async candidates(kid: string | undefined, alg: AsymmetricAlg): Promise<readonly JwksKey[]> {
    const now = this.#options.now()
    let found = this.#select(kid, alg)
    const due = found.length === 0 || now - this.#fetchedAt >= this.#options.maxAge
    if (due && now - this.#attemptedAt >= this.#options.cooldown) {
      await this.refresh()
      found = this.#select(kid, alg)
    }
    if (this.#fetchedAt === Number.NEGATIVE_INFINITY) {
      throw this.#lastError ?? new Error('JWK Set unavailable')
    }
    return found
  }

  /**
   * The candidates when they are known and the set is fresh, without waiting: the hot path of
   * every request. `undefined` means "ask {@link candidates}".
   */
  known(kid: string | undefined, alg: AsymmetricAlg): readonly JwksKey[] | undefined {
    if (this.#options.now() - this.#fetchedAt >= this.#options.maxAge) return undefined
    const found = this.#select(kid, alg)
    return found.length === 0 ? undefined : found
  }

  /** Fetches the set now (concurrent callers share one fetch). */
  refresh(): Promise<void> {
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined
    })
    return this.#pending
  }

  #select(kid: string | undefined, alg: AsymmetricAlg): JwksKey[] {
    return this.#keys.filter((k) => (kid === undefined || k.kid === kid) && k.algs.includes(alg))
  }

  async #fetch(): Promise<void> {
    const { fetch: fetchImpl, timeout, now } = this.#options
    const attempted = now()
    this.#attemptedAt = attempted
    try {
      const response = await fetchImpl(await this.#options.uri(), {
        headers: { accept: 'application/jwk-set+json, application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(timeout),
      })
      if (!response.ok) {
        await response.body?.cancel()
        throw new Error(`JWK Set fetch answered HTTP ${response.status}`)
      }
      this.#keys = importKeySet(await response.json())
      this.#fetchedAt = attempted
      this.#lastError = undefined
    } catch (cause) {
      // Keep the keys already known; the attempt counts for the cooldown, so a failing
      // authorization server is asked again only once per cooldown.
      this.#lastError = cause as Error
    }
  }
}
