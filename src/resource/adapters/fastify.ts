/**
 * @module resource/adapters/fastify
 *
 * A Fastify (v5) plugin: one hook verifies the requests of every route in the context it is
 * registered in, with requirements set per route in the route's `config`. A signed request
 * (`Authorization: PoP`, or a form body that may carry `pop_access_token`) has its raw body kept
 * by a `preParsing` hook, before Fastify's parsers turn it into `request.body`, so that its
 * signature can cover the body (`b`).
 */
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ResourceError } from '../errors.js'
import { maySignBody } from '../pop.js'
import type { Requirements, VerifiedRequest, Verifier } from '../verifier.js'
import { answerOf, MAX_BODY_SIZE, readAtMost, toResourceRequest, verifiedTwice } from './http.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** What keybound verified; `undefined` on a public route (`config: { keybound: false }`). */
    keybound?: VerifiedRequest
  }
  interface FastifyContextConfig {
    /**
     * This route's requirements (over the plugin's `requirements`, member by member), or `false`
     * to leave the route public.
     */
    keybound?: Requirements | false
  }
}

export interface KeyboundFastifyOptions {
  verifier: Verifier
  /** What every route demands unless its `config.keybound` says otherwise. */
  requirements?: Requirements
  /**
   * The hook that verifies (default `preHandler`). `onRequest` refuses a request before its
   * body is read and parsed, which spares the work for requests that will be refused; with
   * `preHandler` a malformed body is answered 400 before the credentials are looked at. A
   * signed request (PoP) is verified in `preHandler` either way: its signature may cover the body.
   */
  hook?: 'onRequest' | 'preHandler'
}

/** A stream of bytes already read, as Fastify's parsers expect one (`receivedEncodedLength`). */
function replay(body: Buffer): Readable {
  const stream = Readable.from([body]) as Readable & { receivedEncodedLength?: number }
  stream.receivedEncodedLength = body.length
  return stream
}

const plugin: FastifyPluginAsync<KeyboundFastifyOptions> = async (fastify, options) => {
  const { verifier } = options
  if (typeof verifier?.verify !== 'function') {
    throw new TypeError('keyboundFastify: "verifier" must be made by createVerifier')
  }
  const defaults = options.requirements
  const hook = options.hook ?? 'preHandler'
  if (hook !== 'onRequest' && hook !== 'preHandler') {
    throw new TypeError('keyboundFastify: "hook" must be onRequest or preHandler')
  }
  fastify.decorateRequest('keybound', undefined)
  const rawBodies = new WeakMap<IncomingMessage, Buffer>()
  // A request the preParsing hook did not keep has no body (a GET).
  const keptBody = (raw: IncomingMessage) => rawBodies.get(raw) ?? new Uint8Array(0)

  // The raw bytes of a signed request's body, kept before the parsers see them (bounded by
  // the route's bodyLimit; Fastify answers 413 past it).
  fastify.addHook('preParsing', async (request, _reply, payload) => {
    if (
      request.routeOptions.config.keybound === false ||
      !maySignBody(request.headers.authorization, request.headers['content-type'])
    ) {
      return payload
    }
    const body = await readAtMost(payload, request.routeOptions.bodyLimit ?? MAX_BODY_SIZE, () =>
      Object.assign(new Error('Request body is too large'), {
        statusCode: 413,
        code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      }),
    )
    rawBodies.set(request.raw, body)
    return replay(body)
  })

  async function verify(request: FastifyRequest, reply: FastifyReply) {
    const route = request.routeOptions.config.keybound
    if (route === false) return
    if (request.keybound !== undefined) throw verifiedTwice()
    const requirements = route === undefined ? defaults : { ...defaults, ...route }
    let verified: VerifiedRequest
    try {
      verified = await verifier.verify(toResourceRequest(request.raw, keptBody), requirements)
    } catch (error) {
      // Anything but a refusal goes to Fastify's error handling (`setErrorHandler`).
      if (!(error instanceof ResourceError)) throw error
      const answer = answerOf(error)
      reply.code(answer.status).headers(answer.headers)
      return reply.send(answer.body)
    }
    reply.headers(verified.headers)
    request.keybound = verified
  }
  if (hook === 'preHandler') fastify.addHook('preHandler', verify)
  else {
    // onRequest runs before the body is read: a signed request waits for preHandler.
    fastify.addHook('onRequest', async (request, reply) => {
      if (!maySignBody(request.headers.authorization, request.headers['content-type']))
        return verify(request, reply)
    })
    fastify.addHook('preHandler', async (request, reply) => {
      if (maySignBody(request.headers.authorization, request.headers['content-type']))
        return verify(request, reply)
    })
  }
}

/**
 * The plugin. Registered with `fastify.register(keyboundFastify, { verifier })`, it protects
 * every route of the context it is registered in (it is not encapsulated: register it inside
 * a plugin of its own to protect only that plugin's routes).
 *
 * - Passed: `request.keybound` is the {@link VerifiedRequest}; the verifier's response headers
 *   (a fresh `DPoP-Nonce`, RFC 9449 §9) are on the reply.
 * - Refused ({@link ResourceError}): answered by the hook with the status, `WWW-Authenticate`
 *   challenge (RFC 6750 §3, RFC 9449 §7.1), `DPoP-Nonce` and JSON error; the handler never runs.
 * - Failed unexpectedly: the error is thrown to Fastify's error handling.
 */
export const keyboundFastify = fp(plugin, { name: 'keybound', fastify: '5.x' })
