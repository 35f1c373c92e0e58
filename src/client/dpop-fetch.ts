/**
 * @module client/dpop-fetch
 *
 * `fetch` with DPoP (RFC 9449): a fresh proof on every request, the servers' nonces remembered
 * and used (§8, §9), and the retries the protocol calls for, each at most once.
 */
import { createProof } from '../bindings/dpop/proof.js'
import type { AsymmetricAlg } from '../jose/algs.js'
import { type SigningKey, toKeyPair } from '../jose/keys.js'
import { dpopChallengeError } from './challenge.js'
import { checkTokenOptions, discard, requestOf } from './fetch-request.js'
import { isReplayableBody } from './request-body.js'
import { useDPoPNonce } from './use-dpop-nonce.js'

/** What `fetch` takes and returns; the global `fetch` is one. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** Where {@link dpopFetch} takes access tokens from, such as {@link createTokenSource}'s. */
export interface AccessTokenSource {
  /** A current access token, bound to the same key as the proofs. */
  getAccessToken(): Promise<string>
  /** Forgets `accessToken`, so that the next `getAccessToken` brings a fresh one. */
  invalidate?(accessToken: string): void
}

export interface DPoPFetchOptions {
  /** The client's DPoP key: a key pair (CryptoKeys, KeyObjects) or a private KeyObject. */
  key: SigningKey
  /** The JWS alg of the proofs; by default the one that fits the key. */
  alg?: AsymmetricAlg
  /** An access token bound to `key`, sent as `Authorization: DPoP <token>` (RFC 9449 §7.1). */
  accessToken?: string
  /** Instead of `accessToken`: where to take one from, and ask a fresh one from after a 401. */
  tokenSource?: AccessTokenSource
  /** The `fetch` to send requests with (default: the global `fetch`). */
  fetch?: FetchLike
}

/** A function with `fetch`'s signature that sends every request with a DPoP proof. */
export type DPoPFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** The access token of an `Authorization: DPoP <token>` header the caller set. */
function dpopTokenOf(headers: Headers): string | undefined {
  return /^DPoP +(\S+) *$/i.exec(headers.get('authorization') ?? '')?.[1]
}

/**
 * Returns a function with `fetch`'s signature that sends each request with a fresh DPoP proof
 * (RFC 9449 §4.2: `htm` the method, `htu` the URL without query and fragment, a new `jti`) and,
 * when an access token is in play, with `Authorization: DPoP <token>` and the proof's `ath`
 * (§7.1). The access token is `accessToken`, else the `tokenSource`'s, else one the caller put
 * in an `Authorization: DPoP` header.
 *
 * Nonces (§8, §9): the latest `DPoP-Nonce` of every answer (successful ones included) is
 * remembered per origin and put in the next proof to that origin.
 *
 * Retries, each at most once per call, and only when the body can be sent again (see
 * `isReplayableBody`; a stream's first answer is returned as it is):
 * - `use_dpop_nonce` (a 400 JSON error from an authorization server, §8, or a 401 `DPoP`
 *   challenge from a resource server, §9, with `DPoP-Nonce`): the request is sent again with a
 *   new proof carrying the new nonce. A second `use_dpop_nonce` is returned to the caller.
 * - with a `tokenSource`, a 401 whose `DPoP` challenge says `invalid_token` (RFC 6750 §3.1): the
 *   token is invalidated, a fresh one taken from the source, and the request sent again.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-9
 */
export function dpopFetch(options: DPoPFetchOptions): DPoPFetch {
  checkTokenOptions(options)
  // Once: a private KeyObject's public half is derived here rather than for every proof.
  const key = toKeyPair(options.key)
  const { alg, tokenSource } = options
  const send: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  /** The latest `DPoP-Nonce` of each origin. */
  const nonces = new Map<string, string>()

  return async function fetchWithDPoP(input, init = {}) {
    const request = requestOf(input, init)
    const headers = new Headers(request.headers)
    const replayable = isReplayableBody(request.body)
    const origin = request.url.origin
    let accessToken =
      options.accessToken ??
      (tokenSource ? await tokenSource.getAccessToken() : dpopTokenOf(headers))

    const attempt = async (): Promise<Response> => {
      const nonce = nonces.get(origin)
      headers.set(
        'dpop',
        await createProof({
          key,
          ...(alg === undefined ? {} : { alg }),
          htm: request.method,
          htu: request.url,
          ...(accessToken === undefined ? {} : { accessToken }),
          ...(nonce === undefined ? {} : { nonce }),
        }),
      )
      if (accessToken !== undefined) headers.set('authorization', `DPoP ${accessToken}`)
      const response = await send(input, { ...init, headers })
      // Every answer's nonce is kept: a server may provide the next one with a success (§8.2).
      const next = response.headers.get('dpop-nonce')
      if (next) nonces.set(response.url ? new URL(response.url).origin : origin, next)
      return response
    }

    let response = await attempt()
    let nonceRetried = false
    let tokenRetried = false
    while (replayable) {
      if (!nonceRetried && (await useDPoPNonce(response)) !== undefined) {
        // The nonce is already remembered: the new proof carries it.
        nonceRetried = true
      } else if (
        !tokenRetried &&
        tokenSource !== undefined &&
        accessToken !== undefined &&
        dpopChallengeError(response) === 'invalid_token'
      ) {
        tokenRetried = true
        tokenSource.invalidate?.(accessToken)
        const fresh = await tokenSource.getAccessToken()
        if (fresh === accessToken) break
        accessToken = fresh
      } else {
        break
      }
      await discard(response)
      response = await attempt()
    }
    return response
  }
}
