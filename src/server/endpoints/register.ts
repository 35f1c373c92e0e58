/**
 * @module server/endpoints/register
 *
 * Dynamic client registration (RFC 7591), served only when `registration.enabled`. The
 * metadata is validated by the very schema of the configuration file's `clients` entries
 * (`parseClient`), plus what a registrant may not choose:
 * - `client_id` and `client_secret` are generated here (§3.2.1); the secret (32 random bytes,
 *   base64url) is issued for `client_secret_basic` and `client_secret_post` only, stored as its
 *   SHA-256, and does not expire (`client_secret_expires_at: 0`);
 * - `first_party` (skips consent) and `introspection` (reads every client's tokens) are the
 *   operator's to grant, in the configuration file;
 * - only the authentication methods, grant types and token bindings this server implements,
 *   and only scopes it knows.
 * Defaults follow RFC 7591 §2 (`token_endpoint_auth_method` `client_secret_basic`);
 * `dpop_bound_access_tokens: true` (RFC 9449 §5.2) alone implies `token_binding: "dpop"`, and
 * `tls_client_certificate_bound_access_tokens: true` (RFC 8705 §3.4) `token_binding: "mtls"`.
 * The certificate methods (`tls_client_auth` with its one `tls_client_auth_*` name,
 * `self_signed_tls_client_auth` with `jwks` or `jwks_uri`, RFC 8705 §2.1.2, §2.2.2) and the
 * `mtls` binding are offered only when client certificates can reach the server. A `jwks_uri`
 * is fetched from public addresses only: registering must not open a way into the server's own
 * network (server-side request forgery).
 *
 * RFC 7592 client management is not implemented: no `registration_access_token` or
 * `registration_client_uri` is issued (and none is stored); a registered client cannot be read,
 * changed or deleted through the API.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import {
  ConfigError,
  parseClient,
  RESERVED_CLIENT_FIELDS,
  SECRET_AUTH_METHODS,
} from '../../config/index.js'
import { InvalidRequestError, OAuthError } from '../../errors.js'
import { isPublicAddress } from '../../http/public-fetch.js'
import type { ClientRecord, TokenEndpointAuthMethod } from '../../store/types.js'
import { supportedAuthMethods } from '../client-auth/index.js'
import { hashSecret } from '../client-auth/secret.js'
import { epoch, type ServerContext } from '../context.js'
import { GRANTS } from '../grants/index.js'

/** Fields the server sets, or the operator grants: a registration request may not carry them. */
const NOT_FOR_REGISTRANTS: ReadonlySet<string> = new Set([
  ...RESERVED_CLIENT_FIELDS,
  'client_id',
  'client_secret',
  'first_party',
  'introspection',
])
/** Token bindings a client can use today (`bindTokenRequest`); `mtls` when certificates can reach the server. */
const bindingsOf = (context: ServerContext) =>
  new Set(context.mtls.enabled ? ['none', 'dpop', 'pop', 'mtls'] : ['none', 'dpop', 'pop'])

/** RFC 6749 §5.2: `error_description` is %x20-21 / %x23-5B / %x5D-7E. */
const safeText = (text: string) =>
  text
    .replace(/"/g, "'")
    .replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?')
    .slice(0, 500)

function invalidMetadata(description: string, redirect = false): OAuthError {
  return new OAuthError(redirect ? 'invalid_redirect_uri' : 'invalid_client_metadata', {
    status: 400,
    description: safeText(description),
  })
}

/** RFC 7591 §3: the initial access token, a bearer token (RFC 6750 §2.1), compared in constant time. */
function checkInitialAccessToken(authorization: string | undefined, expected: string): void {
  const presented = /^Bearer ([\x21-\x7e]+)$/i.exec(authorization ?? '')?.[1] ?? ''
  const a = hash('sha256', presented, 'buffer')
  const b = hash('sha256', expected, 'buffer')
  if (!timingSafeEqual(a, b)) {
    throw new OAuthError('invalid_token', {
      status: 401,
      description: 'a valid initial access token is required',
      reason: authorization === undefined ? 'missing_token' : 'bad_token',
    })
  }
}

/** Deepest nesting of objects and arrays in client metadata (a JWK Set needs 3). */
const MAX_DEPTH = 32

/**
 * What the store cannot keep: nesting deeper than {@link MAX_DEPTH} (serializing it overflows
 * the stack) and U+0000 (PostgreSQL text cannot hold it). Walked without recursion.
 */
function unstorable(value: unknown): string | undefined {
  const stack: [unknown, number][] = [[value, 0]]
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, depth] = item
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return 'U+0000 is not allowed in client metadata'
    } else if (typeof v === 'object' && v !== null) {
      if (depth >= MAX_DEPTH) return `nested deeper than ${MAX_DEPTH} levels`
      for (const [name, child] of Object.entries(v)) stack.push([name, depth], [child, depth + 1])
    }
  }
  return undefined
}

/** The JSON object of the request (RFC 7591 §3.1: `application/json`). */
function metadataOf(request: FastifyRequest): Record<string, unknown> {
  if (!/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
    throw new InvalidRequestError('the body must be application/json')
  }
  const body = request.body
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidMetadata('the body must be a JSON object of client metadata')
  }
  const problem = unstorable(body)
  if (problem !== undefined) throw invalidMetadata(problem)
  return body as Record<string, unknown>
}

/**
 * A registrant's `jwks_uri` is fetched from public addresses only (`http/public-fetch.ts`), a
 * name's addresses being checked when the connection is made. An address written in the URL
 * can be judged now, so the registrant hears of it at once.
 */
function checkJwksUriHost(jwksUri: string): void {
  const { hostname } = new URL(jwksUri)
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  if (isIP(host) !== 0 && !isPublicAddress(host)) {
    throw invalidMetadata(`jwks_uri: ${host} is not a public address`)
  }
}

/** The client to store, and its secret when one is issued. */
function clientOf(
  metadata: Record<string, unknown>,
  context: ServerContext,
): { record: ClientRecord; secret: string | undefined } {
  for (const name of Object.keys(metadata)) {
    if (NOT_FOR_REGISTRANTS.has(name)) throw invalidMetadata(`${name}: is set by the server`)
  }
  const entry: Record<string, unknown> = {
    ...metadata,
    client_id: randomBytes(16).toString('base64url'),
  }
  if (entry.token_endpoint_auth_method === undefined) {
    entry.token_endpoint_auth_method = 'client_secret_basic'
  }
  if (entry.dpop_bound_access_tokens === true && entry.token_binding === undefined) {
    entry.token_binding = 'dpop'
  }
  // RFC 8705 §3.4 alone implies the certificate binding.
  if (
    entry.tls_client_certificate_bound_access_tokens === true &&
    entry.token_binding === undefined
  ) {
    entry.token_binding = 'mtls'
  }
  const method = entry.token_endpoint_auth_method as TokenEndpointAuthMethod
  const secret = SECRET_AUTH_METHODS.includes(method)
    ? randomBytes(32).toString('base64url')
    : undefined
  if (secret !== undefined) entry.client_secret = secret

  let client: ReturnType<typeof parseClient>
  try {
    client = parseClient(entry)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const text = err.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')
    // RFC 7591 §3.2.2: invalid_redirect_uri when the redirection URIs are what is wrong.
    throw invalidMetadata(
      text,
      err.issues.every((issue) => issue.path.startsWith('redirect_uris')),
    )
  }
  if (!supportedAuthMethods(context).includes(client.token_endpoint_auth_method)) {
    throw invalidMetadata(`token_endpoint_auth_method: ${method} is not supported`)
  }
  const grant = client.grant_types.find((grantType) => !GRANTS.has(grantType))
  if (grant !== undefined) throw invalidMetadata(`grant_types: ${grant} is not supported`)
  if (!bindingsOf(context).has(client.token_binding)) {
    throw invalidMetadata(`token_binding: ${client.token_binding} is not available`)
  }
  const unknown = client.scope?.split(' ').find((s) => !context.config.scopes.includes(s))
  if (unknown !== undefined) throw invalidMetadata(`scope: unknown scope ${unknown}`)
  if (client.jwks_uri !== null) checkJwksUriHost(client.jwks_uri)

  const record: ClientRecord = {
    ...client,
    client_secret_hash: secret === undefined ? null : hashSecret(secret),
    source: 'registration',
    registration_access_token_hash: null,
    created_at: epoch(),
  }
  return { record, secret }
}

/** RFC 7591 §3.2.1: the client information response, with every registered metadata value. */
function informationOf(client: ClientRecord, secret: string | undefined): Record<string, unknown> {
  const optional = (name: string, value: unknown) => (value === null ? {} : { [name]: value })
  return {
    ...client.metadata,
    client_id: client.client_id,
    ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
    client_id_issued_at: client.created_at,
    ...optional('client_name', client.client_name),
    token_endpoint_auth_method: client.token_endpoint_auth_method,
    grant_types: client.grant_types,
    redirect_uris: client.redirect_uris,
    ...optional('scope', client.scope),
    ...optional('jwks', client.jwks),
    ...optional('jwks_uri', client.jwks_uri),
    token_binding: client.token_binding,
    dpop_bound_access_tokens: client.dpop_bound_access_tokens,
    // RFC 8705 §3.4
    ...(client.token_binding === 'mtls'
      ? { tls_client_certificate_bound_access_tokens: true }
      : {}),
    ...optional('access_token_format', client.access_token_format),
  }
}

export function registerEndpoint(context: ServerContext) {
  return async function plugin(app: FastifyInstance) {
    const { enabled, initialAccessToken } = context.config.registration
    if (!enabled) return
    app.post(
      '/register',
      {
        // Before the body is read: an unauthorized request gets no further.
        onRequest: async (request) => {
          if (initialAccessToken !== undefined) {
            checkInitialAccessToken(request.headers.authorization, initialAccessToken)
          }
        },
      },
      async (request, reply) => {
        const { record, secret } = clientOf(metadataOf(request), context)
        await context.store.upsertClient(record)
        reply.status(201).header('cache-control', 'no-store').header('pragma', 'no-cache')
        return informationOf(record, secret)
      },
    )
  }
}
