/**
 * @module client/fetch-request
 *
 * What a `fetch(input, init)` call would send, read before it is sent: the proof of
 * `dpopFetch` and the signature of `popFetch` both describe that request. And the response a
 * retry replaces, freed.
 */

/** The Fetch standard's "normalize a method": these six are upper-cased, others sent as given. */
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])

function normalizeMethod(method: string): string {
  const upper = method.toUpperCase()
  return NORMALIZED_METHODS.has(upper) ? upper : method
}

const isRequest = (input: unknown): input is Request =>
  typeof input === 'object' && input !== null && !(input instanceof URL) && 'url' in input

/** The URL, method, headers and body a `fetch(input, init)` call would send. */
export function requestOf(input: string | URL | Request, init: RequestInit) {
  const request = isRequest(input) ? input : undefined
  // A relative URL is resolved as `fetch` does: against the document's (or worker's) location.
  const base = (globalThis as { location?: { href: string } }).location?.href
  return {
    url: new URL(request ? request.url : input instanceof URL ? input.href : input, base),
    method: normalizeMethod(init.method ?? request?.method ?? 'GET'),
    headers: init.headers ?? request?.headers,
    body: init.body ?? request?.body ?? null,
  }
}

/** Frees the body of a response that is not returned (a retry replaces it). */
export async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel()
  } catch {
    // Nothing to free.
  }
}
