/**
 * @module server/endpoints/par
 *
 * The pushed authorization request endpoint (RFC 9126 §2): an authenticated client posts the
 * parameters of an authorization request, validated as the authorization endpoint would, and
 * gets a one-time `request_uri` to send the user to `/authorize` with. A DPoP proof on the
 * request binds the future code to its key (RFC 9449 §10.1).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { verifyTokenRequestProof } from '../../bindings/dpop/issue.js'
import { InvalidRequestError } from '../../errors.js'
import { pushRequest } from '../authorize/pushed.js'
import { resolveRedirectUri, validateAuthorizationRequest } from '../authorize/request.js'
import { authenticateClient } from '../client-auth/index.js'
import type { ServerContext } from '../context.js'
import { formOf } from '../http/form.js'
import { clientAuthRequestOf, endpointsFor } from '../http/mtls.js'
import { proofPolicyOf } from '../tokens/bind.js'

const parResponse = {
  type: 'object',
  required: ['request_uri', 'expires_in'],
  additionalProperties: false,
  properties: { request_uri: { type: 'string' }, expires_in: { type: 'integer' } },
} as const

export function parEndpoint(context: ServerContext) {
  /**
   * RFC 9449 §10.1: the key of a `DPoP` header binds the code like `dpop_jkt`; when both are
   * sent, the proof must be made with the `dpop_jkt` key. A proof is optional here even for
   * clients that need one at the token endpoint.
   */
  async function boundKey(request: FastifyRequest, dpopJkt: string | null) {
    if (request.headers.dpop === undefined) return dpopJkt
    const { cnf } = await verifyTokenRequestProof(
      request.headers.dpop,
      endpointsFor(request, context).par,
      proofPolicyOf(context),
      dpopJkt ?? undefined,
    )
    return cnf.jkt as string
  }

  return async function plugin(app: FastifyInstance) {
    app.post(
      '/par',
      { schema: { response: { 201: parResponse } } },
      async (request: FastifyRequest, reply) => {
        const params = formOf(request.body)
        // 1. RFC 9126 §2.1: "request_uri" must not be pushed.
        if (params.request_uri !== undefined) {
          throw new InvalidRequestError('request_uri must not be sent to the PAR endpoint')
        }
        // 2. The client authenticates as at the token endpoint (RFC 9126 §2).
        const { client } = await authenticateClient(
          clientAuthRequestOf(request, params, context),
          context,
        )
        // 3. The authorization request, validated as /authorize does (RFC 9126 §2.1); errors
        //    are JSON here (§2.3).
        const redirectUri = resolveRedirectUri(params.redirect_uri, client)
        const authz = validateAuthorizationRequest(params, client, redirectUri, context)
        // 4. The key the code will be bound to.
        const jkt = await boundKey(request, authz.dpopJkt)
        // 5. Stored, answered with its reference (RFC 9126 §2.2).
        const pushed = await pushRequest(client, params, jkt, context)
        reply.status(201).header('cache-control', 'no-store').header('pragma', 'no-cache')
        if (context.nonces) reply.header('dpop-nonce', context.nonces.current())
        return pushed
      },
    )
  }
}
