/**
 * @module resource/metadata
 *
 * Authorization server metadata (RFC 8414), read once to find `jwks_uri` and
 * `introspection_endpoint` when they are not configured. The RFC 8414 well-known URL is tried
 * first, then OpenID Connect Discovery's (Keycloak, Auth0 and Okta publish both or the latter).
 */
import { CodedTypeError } from '../errors.js'

export interface ServerMetadata {
  readonly issuer: string
  readonly jwks_uri?: string
  readonly introspection_endpoint?: string
  readonly [member: string]: unknown
}

/** RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path. */
export function metadataUrls(issuer: string): URL[] {
  const url = new URL(issuer)
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '')
  return [
    new URL(`/.well-known/oauth-authorization-server${path}`, url.origin),
    new URL(`${path}/.well-known/openid-configuration`, url.origin),
  ]
}

/**
 * Fetches and checks the metadata of `issuer`.
 *
 * @throws {Error} when no document is found, or its `issuer` differs (RFC 8414 §3.3: a
 *   mismatch "MUST NOT be used", it may be an impersonation).
 */
export async function discover(
  issuer: string,
  fetchImpl: typeof fetch,
  timeout: number,
): Promise<ServerMetadata> {
  const failures: string[] = []
  for (const url of metadataUrls(issuer)) {
    let response: Response
    try {
      response = await fetchImpl(url, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(timeout),
      })
    } catch (cause) {
      failures.push(`${url.href}: ${(cause as Error).message}`)
      continue
    }
    if (!response.ok) {
      await response.body?.cancel()
      failures.push(`${url.href}: HTTP ${response.status}`)
      continue
    }
    const metadata = (await response.json()) as ServerMetadata
    if (typeof metadata !== 'object' || metadata === null || metadata.issuer !== issuer) {
      throw new CodedTypeError(
        `metadata at ${url.href} is for issuer ${JSON.stringify((metadata as ServerMetadata)?.issuer)}, not ${issuer}`,
        'ERR_INVALID_ARG_VALUE',
      )
    }
    return metadata
  }
  throw new Error(`no authorization server metadata for ${issuer} (${failures.join('; ')})`)
}
