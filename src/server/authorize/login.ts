/**
 * @module server/authorize/login
 *
 * Checks a username and password against the store's users, throttled: at most
 * {@link USER_FAILURES} failures per username and {@link ADDRESS_FAILURES} per client address
 * in a {@link WINDOW} (RFC 6749 §10.10: "MUST prevent attackers from guessing ... resource owner
 * passwords"). A username that does not exist costs the same scrypt as one that does, so timing
 * does not tell them apart.
 */
import { randomBytes } from 'node:crypto'
import { hashPassword, verifyPassword } from '../../config/load.js'
import type { Store } from '../../store/types.js'
import { FailureCounter } from './throttle.js'

export const USER_FAILURES = 5
/** Higher than per user: many users may share an address (NAT, a proxy). */
export const ADDRESS_FAILURES = 20
/** Seconds. */
export const WINDOW = 15 * 60

/** Longest username and password checked; longer ones fail without costing a hash. */
const MAX_LENGTH = 1024

export type LoginOutcome =
  | { status: 'ok'; sub: string }
  | { status: 'failed' }
  | { status: 'throttled'; retryAfter: number }

export class Login {
  readonly #byUser = new FailureCounter(USER_FAILURES, WINDOW)
  readonly #byAddress = new FailureCounter(ADDRESS_FAILURES, WINDOW)
  readonly #store: Store
  #dummyHash: string | undefined

  constructor(store: Store) {
    this.#store = store
  }

  async attempt(username: string, password: string, address: string): Promise<LoginOutcome> {
    const retryAfter = Math.max(
      this.#byUser.retryAfter(username) ?? 0,
      this.#byAddress.retryAfter(address) ?? 0,
    )
    if (retryAfter > 0) return { status: 'throttled', retryAfter }
    if (username.length > MAX_LENGTH || password.length > MAX_LENGTH) {
      return this.#failed(username, address)
    }
    const user = await this.#store.getUser(username)
    // An unknown user is checked against a hash of a random password: the same work, never ok.
    this.#dummyHash ??= hashPassword(randomBytes(16).toString('base64url'))
    const ok = await verifyPassword(password, user?.password_hash ?? this.#dummyHash)
    if (!user || !ok) return this.#failed(username, address)
    this.#byUser.clear(username)
    return { status: 'ok', sub: user.username }
  }

  #failed(username: string, address: string): LoginOutcome {
    this.#byUser.fail(username)
    this.#byAddress.fail(address)
    return { status: 'failed' }
  }
}
