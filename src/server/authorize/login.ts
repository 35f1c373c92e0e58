/**
 * @module server/authorize/login
 *
 * Checks a username and password against the store's users, throttled: at most
 * {@link USER_FAILURES} failures per username and {@link ADDRESS_FAILURES} per client address
 * in a {@link WINDOW} (RFC 6749 §10.10: "MUST prevent attackers from guessing ... resource owner
 * passwords"). Attempts are counted in the store, before the password is checked, so that
 * every instance sharing it throttles as one server and concurrent guesses cannot outrun the
 * count; a success is taken back. They are keyed by a hash of the username or address, so that
 * a password typed into the username field is not written down. A username that does not exist
 * costs the same scrypt as one that does, so timing does not tell them apart.
 */
import { hash, randomBytes } from 'node:crypto'
import { hashPassword, verifyPassword } from '../../config/load.js'
import type { Store } from '../../store/types.js'
import { epoch } from '../context.js'

export const USER_FAILURES = 5
/** Higher than per user: many users may share an address (NAT, a proxy). */
export const ADDRESS_FAILURES = 20
/** Seconds. */
export const WINDOW = 15 * 60

/** Longest username and password checked; longer ones fail without costing a hash. */
const MAX_LENGTH = 1024

const keyOf = (kind: 'user' | 'address', value: string) =>
  `${kind}:${hash('sha256', value, 'base64url')}`

export type LoginOutcome =
  | { status: 'ok'; sub: string }
  | { status: 'failed' }
  | { status: 'throttled'; retryAfter: number }

export class Login {
  readonly #store: Store
  #dummyHash: string | undefined

  constructor(store: Store) {
    this.#store = store
  }

  async attempt(username: string, password: string, address: string): Promise<LoginOutcome> {
    const userKey = keyOf('user', username)
    const addressKey = keyOf('address', address)
    // Counted before the password is checked: concurrent guesses cannot all slip in while the
    // first ones are still being hashed. A success is taken back below.
    const now = epoch()
    const [byUser, byAddress] = await Promise.all([
      this.#store.countLoginAttempt(userKey, WINDOW, now),
      this.#store.countLoginAttempt(addressKey, WINDOW, now),
    ])
    const retryAfter = Math.max(
      byUser.count > USER_FAILURES ? byUser.expires_at - now : 0,
      byAddress.count > ADDRESS_FAILURES ? byAddress.expires_at - now : 0,
    )
    if (retryAfter > 0) return { status: 'throttled', retryAfter }
    if (username.length > MAX_LENGTH || password.length > MAX_LENGTH) return { status: 'failed' }
    const user = await this.#store.getUser(username)
    // An unknown user is checked against a hash of a random password: the same work, never ok.
    this.#dummyHash ??= hashPassword(randomBytes(16).toString('base64url'))
    const ok = await verifyPassword(password, user?.password_hash ?? this.#dummyHash)
    if (!user || !ok) return { status: 'failed' }
    await Promise.all([
      this.#store.clearLoginAttempts(userKey),
      this.#store.forgiveLoginAttempt(addressKey, epoch()),
    ])
    return { status: 'ok', sub: user.username }
  }
}
