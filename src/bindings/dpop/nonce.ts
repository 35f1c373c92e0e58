/**
 * @module bindings/dpop/nonce
 *
 * Stateless server nonces (RFC 9449 §8 for the authorization server, §9 for resource servers).
 * A nonce is an HMAC-SHA256, under a 32-byte secret, of the current time step; the nonce of the
 * current and of the previous step are accepted. Instances that share the secret accept each
 * other's nonces without sharing any store, so the secret MUST be the same on every instance of
 * a deployment.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { CodedTypeError } from '../../errors.js'

/** What a verifier needs to demand nonces: the current nonce, and a check of a presented one. */
export interface NonceSource {
  /** How long, in seconds, a nonce is accepted at most after it is first handed out. */
  readonly lifetime: number
  /** The nonce to send in `DPoP-Nonce` now. */
  current(now?: number): string
  /** Whether `nonce` is the current or the previous step's nonce. */
  verify(nonce: string, now?: number): boolean
}

export interface NonceProviderOptions {
  /** 32 random bytes, the same on every instance. */
  secret: Uint8Array
  /** Length of a time step in seconds (default 60): a nonce is accepted for one to two steps. */
  step?: number
}

/**
 * Creates a {@link NonceSource}.
 *
 * @throws {CodedTypeError} when `secret` is not 32 bytes or `step` is not a positive integer.
 */
export function createNonceProvider(options: NonceProviderOptions): NonceSource {
  const { secret } = options
  const step = options.step ?? 60
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new CodedTypeError('"secret" must be 32 bytes', 'ERR_INVALID_ARG_VALUE')
  }
  if (!Number.isInteger(step) || step <= 0) {
    throw new CodedTypeError('"step" must be a positive integer (seconds)', 'ERR_INVALID_ARG_VALUE')
  }
  const key = Buffer.from(secret)
  // The nonce of a step is computed once and kept while that step lasts.
  let cached = { counter: Number.NaN, nonce: '', previous: '' }

  const forCounter = (counter: number): string =>
    createHmac('sha256', key).update(`keybound/dpop-nonce/${counter}`).digest('base64url')

  const at = (now: number) => {
    const counter = Math.floor(now / 1000 / step)
    if (counter !== cached.counter) {
      cached = { counter, nonce: forCounter(counter), previous: forCounter(counter - 1) }
    }
    return cached
  }

  return {
    lifetime: 2 * step,
    current: (now = Date.now()) => at(now).nonce,
    verify(nonce, now = Date.now()) {
      if (typeof nonce !== 'string') return false
      const presented = Buffer.from(nonce)
      // A base64url HMAC-SHA256 is 43 bytes; timingSafeEqual needs equal lengths.
      if (presented.length !== 43) return false
      const { nonce: current, previous } = at(now)
      return (
        timingSafeEqual(presented, Buffer.from(current)) ||
        timingSafeEqual(presented, Buffer.from(previous))
      )
    },
  }
}
