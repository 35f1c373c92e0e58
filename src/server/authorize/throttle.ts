/**
 * @module server/authorize/throttle
 *
 * Counts failed logins per key (a username, a client address) in fixed windows, in memory.
 * Bounded: past `maxKeys` keys, expired windows are dropped, then the oldest.
 */

export class FailureCounter {
  readonly #windows = new Map<string, { count: number; resetAt: number }>()
  readonly #limit: number
  readonly #window: number
  readonly #maxKeys: number

  /**
   * @param limit Failures allowed per window.
   * @param window The window, in seconds.
   */
  constructor(limit: number, window: number, maxKeys = 100_000) {
    this.#limit = limit
    this.#window = window
    this.#maxKeys = maxKeys
  }

  /** Seconds until `key` may try again, or `undefined` when it may now. */
  retryAfter(key: string, now = Date.now()): number | undefined {
    const entry = this.#windows.get(key)
    if (!entry || entry.resetAt <= now || entry.count < this.#limit) return undefined
    return Math.ceil((entry.resetAt - now) / 1000)
  }

  fail(key: string, now = Date.now()): void {
    const entry = this.#windows.get(key)
    if (entry && entry.resetAt > now) {
      entry.count++
      return
    }
    this.#windows.delete(key)
    for (const [k, e] of this.#windows) {
      if (e.resetAt > now && this.#windows.size < this.#maxKeys) break
      this.#windows.delete(k)
    }
    this.#windows.set(key, { count: 1, resetAt: now + this.#window * 1000 })
  }

  clear(key: string): void {
    this.#windows.delete(key)
  }
}
