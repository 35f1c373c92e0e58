/**
 * A `fetch` that records every exchange, for the tests to check what the client sent (headers,
 * body, the proof's claims) and what it was answered.
 */
import { decodeJwt } from 'jose'
import type { FetchLike } from '../../src/client/index.js'

export interface Exchange {
  method: string
  url: string
  headers: Headers
  body: string | undefined
  /** The claims of the request's DPoP proof, decoded (not verified). */
  proof: Record<string, unknown> | undefined
  status: number
  responseHeaders: Headers
  responseBody: string
}

export function recordingFetch(): { fetch: FetchLike; log: Exchange[] } {
  const log: Exchange[] = []
  const fetch: FetchLike = async (input, init = {}) => {
    const headers = new Headers(init.headers)
    const dpop = headers.get('dpop')
    const response = await globalThis.fetch(input, init)
    const body = init.body
    log.push({
      method: init.method ?? 'GET',
      url: String(input),
      headers,
      body: typeof body === 'string' || body instanceof URLSearchParams ? String(body) : undefined,
      proof: dpop ? (decodeJwt(dpop) as Record<string, unknown>) : undefined,
      status: response.status,
      responseHeaders: response.headers,
      responseBody: await response.clone().text(),
    })
    return response
  }
  return { fetch, log }
}
