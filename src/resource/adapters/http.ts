/**
 * @module resource/adapters/http
 *
 * What every adapter shares: the mapping of a `node:http` request to a {@link ResourceRequest},
 * and the one answer to a refused request. Express and Fastify both run on `node:http`, so the
 * three adapters read requests the same way and refuse them byte for byte alike:
 *
 * - the status and every header of the {@link ResourceError} (`WWW-Authenticate` with the
 *   challenges of RFC 6750 §3 and RFC 9449 §7.1, `DPoP-Nonce` of RFC 9449 §9);
 * - `Cache-Control: no-store`, as for every answer that carries an error about credentials;
 * - the RFC 6749 §5.2 JSON body `error.body()`, or none for a request that sent no credentials
 *   (RFC 6750 §3.1: a bare challenge);
 * - never a stack trace, and never a 500 for a bad token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { ClientCertificate } from '../../bindings/mtls/thumbprint.js'
import { ResourceError } from '../errors.js'
import { maySignBody } from '../pop.js'
import type { ResourceRequest, VerifiedRequest } from '../verifier.js'

/**
 * Describes a `node:http` request (or Express's, or Fastify's `request.raw`) to the verifier.
 *
 * - `headers`: `headersDistinct` where node has it, so that a repeated `Authorization` or `DPoP`
 *   field is seen as such (node's `headers` keeps only the first `Authorization` field and joins
 *   other repeated fields with commas), which RFC 6750 §3.1 and RFC 9449 §4.3 refuse;
 * - `encrypted`: whether the socket is TLS;
 * - `clientCertificate`: the DER of the certificate the client presented on a TLS socket, for
 *   certificate-bound tokens (RFC 8705 §3). It is taken whether or not the certificate chains
 *   to a trusted CA: the binding is to the certificate itself, whose key the TLS handshake proved.
 * - `readBody`, only on a request that may be signed over its body (`Authorization: PoP`, or a
 *   form body that may carry `pop_access_token`): the raw body (see {@link readNodeBody}), or,
 *   with `keptBody`, the bytes an adapter kept before its parsers ran (Fastify's).
 */
export function toResourceRequest(
  req: IncomingMessage,
  keptBody?: (req: IncomingMessage) => Uint8Array | undefined,
): ResourceRequest {
  const socket = req.socket as Partial<TLSSocket> | null | undefined
  const encrypted = socket?.encrypted === true
  let clientCertificate: ClientCertificate | undefined
  if (encrypted && typeof socket?.getPeerCertificate === 'function') {
    // `{}` when no certificate was presented; `raw` is the DER (not detailed: the chain is not
    // needed for the thumbprint of RFC 8705 §3.1).
    const raw = socket.getPeerCertificate()?.raw
    if (raw && raw.length > 0) clientCertificate = raw
  }
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    // HTTP/2's compatibility request has no `headersDistinct`; its `headers` keeps repeats as arrays.
    headers: req.headersDistinct ?? req.headers,
    remoteAddress: socket?.remoteAddress,
    encrypted,
    ...(clientCertificate === undefined ? {} : { clientCertificate }),
    ...(maySignBody(req.headers.authorization, req.headers['content-type'])
      ? { readBody: keptBody ? async () => keptBody(req) : once(() => readNodeBody(req)) }
      : {}),
  }
}

/** A body larger than this is refused rather than buffered (Fastify's default `bodyLimit`). */
export const MAX_BODY_SIZE = 1024 * 1024

function once<T>(read: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined
  return () => {
    promise ??= read()
    return promise
  }
}

/** Whether the request has a body (RFC 9112 §6.3): a transfer coding, or a length above zero. */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true
  const length = req.headers['content-length']
  return length !== undefined && length !== '0'
}

/**
 * The raw body of a `node:http` (or Express) request, for a signed request that covers it:
 *
 * - the bytes a body parser kept: `req.rawBody` (set by `keepRawBody` as the `verify` option of
 *   `express.json()`/`express.urlencoded()`), or `req.body` when it is a Buffer (`express.raw()`);
 * - otherwise, when the stream has not been read, read here (at most `limit` bytes, by default
 *   {@link MAX_BODY_SIZE}) and kept as `req.rawBody` for the application, whose body parsers will then find the
 *   stream consumed;
 * - `undefined` when a parser consumed it and kept nothing: the verifier refuses the signature
 *   (`body_unavailable`) and logs why.
 *
 * @throws {ResourceError} 413 `invalid_request` for a body over the limit, 400 for a body the
 *   client did not finish sending.
 */
export async function readNodeBody(
  req: IncomingMessage,
  limit = MAX_BODY_SIZE,
): Promise<Uint8Array | undefined> {
  const kept = req as IncomingMessage & { rawBody?: unknown; body?: unknown }
  if (kept.rawBody instanceof Uint8Array) return kept.rawBody
  if (kept.body instanceof Uint8Array) return kept.body
  if (!hasBody(req)) return new Uint8Array(0)
  if (req.readableDidRead || req.readableEnded) return undefined
  let body: Buffer
  try {
    body = await readAtMost(
      req,
      limit,
      () =>
        new ResourceError('invalid_request', {
          status: 413,
          description: 'the request body is too large to check its signature',
          reason: 'body_too_large',
          binding: 'pop',
          detail: `over ${limit} bytes`,
        }),
    )
  } catch (error) {
    if (error instanceof ResourceError) throw error
    // The client went away (or the stream broke) mid-body: a refusal like any other, logged as
    // one, rather than an unexpected failure.
    throw new ResourceError('invalid_request', {
      status: 400,
      description: 'the request body could not be read',
      reason: 'body_unreadable',
      binding: 'pop',
      detail: (error as Error).message,
    })
  }
  kept.rawBody = body
  return body
}

/** The bytes of `stream`, or the error `tooLarge` makes as soon as more than `limit` arrive. */
export async function readAtMost(
  stream: AsyncIterable<unknown>,
  limit: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    size += (chunk as Buffer).length
    if (size > limit) throw tooLarge()
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * The `verify` option of Express's body parsers (`express.json({ verify: keepRawBody })`): keeps
 * the raw bytes as `req.rawBody`, for a signed request that covers the body (`b`) when the
 * parser runs before keybound.
 */
export function keepRawBody(req: IncomingMessage, _res: unknown, buffer: Buffer): void {
  ;(req as IncomingMessage & { rawBody?: Buffer }).rawBody = buffer
}

/** An HTTP answer, ready to be written by any framework. */
export interface HttpAnswer {
  readonly status: number
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  /** JSON text, or `undefined` for no body. */
  readonly body: string | undefined
}

/**
 * RFC 8259 defines no `charset` for JSON (it is UTF-8); Express and Fastify both add one, so it
 * is written here too and every adapter sends the same bytes.
 */
const JSON_TYPE = 'application/json; charset=utf-8'

/** RFC 6749 §5.2 `server_error`: the body of an unexpected failure, which names nothing. */
const SERVER_ERROR_BODY = JSON.stringify({
  error: 'server_error',
  error_description: 'the request could not be verified',
})

/**
 * The answer to a verification that failed: for a {@link ResourceError} its status, headers and
 * body; for anything else (a bug, not a bad request) a 500 with a generic JSON body.
 */
export function answerOf(error: unknown): HttpAnswer {
  if (!(error instanceof ResourceError)) {
    return {
      status: 500,
      headers: { 'cache-control': 'no-store', 'content-type': JSON_TYPE },
      body: SERVER_ERROR_BODY,
    }
  }
  const body = error.body()
  return {
    status: error.status,
    headers: {
      ...error.headers,
      'cache-control': 'no-store',
      ...(body === undefined ? {} : { 'content-type': JSON_TYPE }),
    },
    body,
  }
}

/** The response methods of `node:http` the adapters write with (Express's `res` has them too). */
export type NodeResponse = Pick<ServerResponse, 'statusCode' | 'setHeader' | 'end' | 'headersSent'>

/**
 * Answers a refused request on a `node:http` response (or Express's): see {@link answerOf}.
 * Does nothing when the response has already started (there is no way to answer then).
 */
export function sendResourceError(res: NodeResponse, error: unknown): void {
  if (res.headersSent) return
  const answer = answerOf(error)
  res.statusCode = answer.status
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value)
  if (answer.body === undefined) res.end()
  else res.end(answer.body)
}

/**
 * The error of a request verified a second time, by two adapters stacked on one route: the
 * second verification would see the DPoP proof replayed (RFC 9449 §11.1) and refuse a good
 * request. Thrown as a programming error (500), not answered as a refusal.
 */
export function verifiedTwice(): Error {
  return new Error(
    'keybound: this request was verified already; mount one keybound adapter per route and ' +
      'give it all the requirements of the route',
  )
}

/** Adds a verified request's response headers (a fresh `DPoP-Nonce`, RFC 9449 §9). */
export function setVerifiedHeaders(
  res: Pick<ServerResponse, 'setHeader'>,
  verified: VerifiedRequest,
): void {
  for (const [name, value] of Object.entries(verified.headers)) res.setHeader(name, value)
}
