/**
 * @module client/fetch-request
 *
 * What `dpopFetch` and `popFetch` share: the request a `fetch(input, init)` call would send,
 * read before it is sent (the proof and the signature both describe it), the check of their
 * token options, and freeing the response a retry replaces.
 */
import { CodedTypeError } from '../errors.js'

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

/**
 * The options both wrappers share: an object, with an `accessToken` string or a `tokenSource`,
 * not both.
 *
 * @throws {CodedTypeError} naming the option.
 */
export function checkTokenOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new CodedTypeError('"options" must be an object', 'ERR_INVALID_ARG_TYPE')
  }
  const { accessToken, tokenSource } = options as { accessToken?: unknown; tokenSource?: unknown }
  if (accessToken !== undefined && tokenSource !== undefined) {
    throw new CodedTypeError(
      'give "accessToken" or "tokenSource", not both',
      'ERR_INVALID_ARG_VALUE',
    )
  }
  if (accessToken !== undefined && typeof accessToken !== 'string') {
    throw new CodedTypeError('"accessToken" must be a string', 'ERR_INVALID_ARG_TYPE')
  }
}
