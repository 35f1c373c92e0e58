/**
 * @module client/metadata
 *
 * The token endpoint of an authorization server, from its metadata (RFC 8414), and its mutual-TLS
 * alias (RFC 8705 §5).
 */

import type { FetchLike } from './dpop-fetch.js'
import { UnexpectedResponseError } from './errors.js'

/**
 * The RFC 8414 §3.1 metadata URL of `issuer`: `/.well-known/oauth-authorization-server` inserted
 * between the host and the issuer's path (without its terminating `/`).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 */
export function metadataUrl(issuer: URL): URL {
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/$/, '')
  return new URL(`/.well-known/oauth-authorization-server${path}`, issuer.origin)
}

/** The token endpoints an authorization server's metadata names. */
export interface TokenEndpoints {
  /** `token_endpoint` (RFC 8414 §2). */
  readonly tokenEndpoint: string
  /**
   * `mtls_endpoint_aliases.token_endpoint` (RFC 8705 §5): where a client presenting a TLS
   * certificate sends its token requests, when the server has such an alias.
   */
  readonly mtlsTokenEndpoint?: string
}

/**
 * Fetches the metadata of `issuer` and returns its `token_endpoint`. The metadata's `issuer`
 * must be identical to the one asked for (RFC 8414 §3.3), which defeats a server that
 * impersonates another.
 *
 * @throws {UnexpectedResponseError} `unexpected_status`, `not_json`, `issuer_mismatch` or
 *   `metadata_invalid`.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export async function discoverTokenEndpoint(
  issuer: string | URL,
  fetch: FetchLike,
): Promise<string> {
  return (await discoverTokenEndpoints(issuer, fetch)).tokenEndpoint
}

/**
 * Like {@link discoverTokenEndpoint}, and also the token endpoint's mutual-TLS alias, from
 * `mtls_endpoint_aliases` (RFC 8705 §5). An alias that is present must be a valid URL.
 *
 * @throws {UnexpectedResponseError} `unexpected_status`, `not_json`, `issuer_mismatch` or
 *   `metadata_invalid`.
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-5
 */
export async function discoverTokenEndpoints(
  issuer: string | URL,
  fetch: FetchLike,
): Promise<TokenEndpoints> {
  const expected = String(issuer)
  const response = await fetch(metadataUrl(new URL(expected)), {
    headers: { accept: 'application/json' },
  })
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new UnexpectedResponseError(
      'unexpected_status',
      response.status,
      `the authorization server metadata answered HTTP ${response.status}`,
    )
  }
  let metadata: unknown
  try {
    metadata = await response.json()
  } catch {
    metadata = undefined
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new UnexpectedResponseError('not_json', 200, 'the metadata is not a JSON object')
  }
  const {
    issuer: claimed,
    token_endpoint,
    mtls_endpoint_aliases,
  } = metadata as Record<string, unknown>
  // `new URL('https://as.example')` reads back as 'https://as.example/': the same identifier.
  const bare = new URL(expected).pathname === '/' ? expected.replace(/\/$/, '') : expected
  if (claimed !== expected && claimed !== bare) {
    throw new UnexpectedResponseError(
      'issuer_mismatch',
      200,
      `the metadata names the issuer ${JSON.stringify(claimed)}, not ${JSON.stringify(expected)}`,
    )
  }
  if (typeof token_endpoint !== 'string' || !URL.canParse(token_endpoint)) {
    throw new UnexpectedResponseError(
      'metadata_invalid',
      200,
      'the metadata has no valid token_endpoint',
    )
  }
  if (mtls_endpoint_aliases === undefined) return { tokenEndpoint: token_endpoint }
  const alias =
    typeof mtls_endpoint_aliases === 'object' &&
    mtls_endpoint_aliases !== null &&
    !Array.isArray(mtls_endpoint_aliases)
      ? (mtls_endpoint_aliases as Record<string, unknown>).token_endpoint
      : null
  if (alias === undefined) return { tokenEndpoint: token_endpoint }
  if (typeof alias !== 'string' || !URL.canParse(alias)) {
    throw new UnexpectedResponseError(
      'metadata_invalid',
      200,
      'the metadata has an invalid mtls_endpoint_aliases.token_endpoint',
    )
  }
  return { tokenEndpoint: token_endpoint, mtlsTokenEndpoint: alias }
}
