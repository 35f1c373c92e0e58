/**
 * @module server/grants/types
 *
 * The contract of a grant module, one per `grant_type` (RFC 6749 §4).
 */
import type { PresentedCertificate } from '../../bindings/mtls/client-certificate.js'
import type { ClientRecord } from '../../store/types.js'
import type { ServerContext } from '../context.js'
import type { TokenType } from '../tokens/access-token.js'

export interface GrantRequest {
  readonly client: ClientRecord
  readonly params: Readonly<Record<string, string>>
  readonly dpop: string | readonly string[] | undefined
  /** The URL of the token endpoint the request came to (the issuer's or its mTLS alias). */
  readonly endpoint: string
  /** The TLS client certificate of the request (RFC 8705), if any. */
  readonly certificate: PresentedCertificate | undefined
  readonly context: ServerContext
}

/** RFC 6749 §5.1 successful token response. */
export interface TokenResponse {
  access_token: string
  token_type: TokenType
  expires_in: number
  scope?: string
  refresh_token?: string
  /** The `alg` of a PoP token request, echoed (pop-wire-format.md §1.2). */
  alg?: string
}

export interface Grant {
  readonly grantType: string
  /** Every parameter the grant reads, besides `grant_type` and client authentication. */
  readonly parameters: ReadonlySet<string>
  handle(request: GrantRequest): Promise<TokenResponse>
}
