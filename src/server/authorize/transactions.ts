/**
 * @module server/authorize/transactions
 *
 * The authorization requests in progress, between the login page and the code: kept in server
 * memory, keyed by a random id that the login form carries. Nothing about the request travels
 * through the browser, so it cannot be altered there, and a transaction ends with its code
 * (it cannot be replayed). Memory is bounded: past `max` transactions the oldest is dropped,
 * and each lives `ttl` seconds. A deployment of several instances therefore needs sticky
 * sessions for `/authorize`.
 */
import { randomBytes } from 'node:crypto'
import type { ClientRecord } from '../../store/types.js'
import type { AuthorizationRequest } from './request.js'

export interface Transaction {
  readonly id: string
  readonly client: ClientRecord
  readonly request: AuthorizationRequest
  /** The browser id (the cookie) the transaction is bound to, see `csrf.ts`. */
  readonly browser: string
  /** The synchronizer CSRF token the current form must send back; renewed after login. */
  csrf: string
  /** The logged-in user, once the password has been checked. */
  user: { readonly sub: string; readonly authTime: number } | undefined
  /** Epoch milliseconds. */
  readonly expiresAt: number
}

export const randomToken = () => randomBytes(32).toString('base64url')

export class Transactions {
  readonly #map = new Map<string, Transaction>()
  readonly #ttl: number
  readonly #max: number

  /** @param ttl Seconds a user has to log in and consent. */
  constructor(ttl = 600, max = 10_000) {
    this.#ttl = ttl
    this.#max = max
  }

  create(client: ClientRecord, request: AuthorizationRequest, browser: string): Transaction {
    const now = Date.now()
    // Insertion order is expiry order: drop the expired ones, then the oldest when full.
    for (const [id, tx] of this.#map) {
      if (tx.expiresAt > now && this.#map.size < this.#max) break
      this.#map.delete(id)
    }
    const tx: Transaction = {
      id: randomToken(),
      client,
      request,
      browser,
      csrf: randomToken(),
      user: undefined,
      expiresAt: now + this.#ttl * 1000,
    }
    this.#map.set(tx.id, tx)
    return tx
  }

  /** A live transaction, or `undefined`. */
  get(id: string | undefined): Transaction | undefined {
    const tx = id === undefined ? undefined : this.#map.get(id)
    if (tx && tx.expiresAt <= Date.now()) {
      this.#map.delete(tx.id)
      return undefined
    }
    return tx
  }

  /**
   * Ends a transaction: `true` for the one caller that ended it. Two submissions of one form
   * racing past the password check cannot both get a code.
   */
  end(tx: Transaction): boolean {
    return this.#map.get(tx.id) === tx && this.#map.delete(tx.id)
  }
}
