/**
 * @module replay/types
 *
 * The one-method contract of replay detection (RFC 9449 §11.1; the signed-request PoP binding
 * uses it too). A key is recorded at its first use and remembered until `expiresAt`, the end of
 * the window in which the thing it names (a DPoP proof, a signed request) would still be accepted.
 */
export interface ReplayCache {
  /**
   * Records `key` and answers `true` when it was not seen before inside its window, `false` when
   * it was (a replay). Must be atomic: of two concurrent calls with one key, exactly one gets
   * `true`.
   *
   * @param key Opaque, bounded-length string chosen by the binding (e.g. `jkt` + `jti`).
   * @param expiresAt Epoch milliseconds after which the key may be forgotten.
   * @throws {ReplayCacheUnavailableError} when the backing store cannot answer (fail closed).
   * @throws {ReplayCacheFullError} when a bounded store is full of live entries.
   */
  firstUse(key: string, expiresAt: number): Promise<boolean>
  /** Releases connections and timers. */
  close?(): Promise<void>
}
