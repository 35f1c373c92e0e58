/**
 * @module resource/adapters/fastify
 *
 * A Fastify (v5) plugin: one hook verifies the requests of every route in the context it is
 * registered in, with requirements set per route in the route's `config`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ResourceError } from '../errors.js'
import type { Requirements, VerifiedRequest, Verifier } from '../verifier.js'
import { answerOf, toResourceRequest, verifiedTwice } from './http.js'

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
   * `preHandler` a malformed body is answered 400 before the credentials are looked at.
   */
  hook?: 'onRequest' | 'preHandler'
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

  async function verify(request: FastifyRequest, reply: FastifyReply) {
    const route = request.routeOptions.config.keybound
    if (route === false) return
    if (request.keybound !== undefined) throw verifiedTwice()
    const requirements = route === undefined ? defaults : { ...defaults, ...route }
    let verified: VerifiedRequest
    try {
      verified = await verifier.verify(toResourceRequest(request.raw), requirements)
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
  fastify.addHook(hook, verify)
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
