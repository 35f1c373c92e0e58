/**
 * @module client/request-body
 *
 * Whether a request body can be sent a second time, for a retry.
 */

/**
 * Whether `body` can be sent again as it is: no body, a string, bytes (`ArrayBuffer`, a typed
 * array, a `DataView`, a Node `Buffer`), `URLSearchParams`, a `Blob` (or `File`) and `FormData`
 * are read afresh by every `fetch`. Anything else (a `ReadableStream`, an async iterable such as
 * a Node `Readable`, the body of a `Request`, which is a stream) is consumed by the first attempt.
 */
export function isReplayableBody(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    (typeof Blob !== 'undefined' && body instanceof Blob) ||
    (typeof FormData !== 'undefined' && body instanceof FormData)
  )
}
