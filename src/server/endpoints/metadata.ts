/**
 * @module server/endpoints/metadata
 *
 * Authorization server metadata (RFC 8414 §2, §3), listing only what this server implements.
 * Mutual TLS (RFC 8705) appears when client certificates can reach the server: the certificate
 * authentication methods, `tls_client_certificate_bound_access_tokens` (§3.3), and the
 * `mtls_endpoint_aliases` (§5) of the HTTPS listener (or `mtls.endpointBaseUrl`).
 */
import type { FastifyInstance } from 'fastify'
import { ASYMMETRIC_ALGS } from '../../jose/algs.js'
import { supportedAuthMethods } from '../client-auth/index.js'
import type { ServerContext } from '../context.js'
import { GRANTS } from '../grants/index.js'

export function metadataOf(context: ServerContext): Record<string, unknown> {
  const { config, endpoints, mtls } = context
  const methods = supportedAuthMethods(context)
  return {
    issuer: config.issuer,
    authorization_endpoint: endpoints.authorization,
    token_endpoint: endpoints.token,
    jwks_uri: endpoints.jwks,
    scopes_supported: config.scopes,
    grant_types_supported: [...GRANTS.keys()],
    token_endpoint_auth_methods_supported: methods,
    token_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGS,
    // RFC 9449 §5.1
    dpop_signing_alg_values_supported: config.dpop.algs,
    // RFC 9126 §5
    pushed_authorization_request_endpoint: endpoints.par,
    require_pushed_authorization_requests: config.par.required,
    // RFC 8414 §2: the code flow only (RFC 9700 §2.1.2), PKCE with S256 only (RFC 7636 §4.2)
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    code_challenge_methods_supported: ['S256'],
    // RFC 9207 §3
    authorization_response_iss_parameter_supported: true,
    // RFC 8414 §2 (RFC 7662, RFC 7009): introspection refuses public clients (`none`).
    introspection_endpoint: endpoints.introspection,
    introspection_endpoint_auth_methods_supported: methods.filter((name) => name !== 'none'),
    introspection_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGS,
    revocation_endpoint: endpoints.revocation,
    revocation_endpoint_auth_methods_supported: methods,
    revocation_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGS,
    // RFC 7591 §3
    ...(config.registration.enabled ? { registration_endpoint: endpoints.registration } : {}),
    // RFC 8705 §3.3
    ...(mtls.enabled ? { tls_client_certificate_bound_access_tokens: true } : {}),
    // RFC 8705 §5
    ...(mtls.enabled && mtls.endpoints
      ? {
          mtls_endpoint_aliases: {
            token_endpoint: mtls.endpoints.token,
            pushed_authorization_request_endpoint: mtls.endpoints.par,
            introspection_endpoint: mtls.endpoints.introspection,
            revocation_endpoint: mtls.endpoints.revocation,
          },
        }
      : {}),
  }
}

export function metadataEndpoint(context: ServerContext) {
  return async function plugin(app: FastifyInstance) {
    const metadata = metadataOf(context)
    app.get('/.well-known/oauth-authorization-server', async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return metadata
    })
  }
}
