/**
 * @module resource/errors
 *
 * The typed refusal of a protected resource request. It carries everything an adapter needs to
 * answer: the status (RFC 6750 §3.1, RFC 9449 §7.1), the exact `WWW-Authenticate` challenge(s),
 * and the `DPoP-Nonce` to send (RFC 9449 §9).
 */
import { OAuthError, type OAuthErrorCode } from '../errors.js'

/** The error codes a protected resource answers with. */
export type ResourceErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'temporarily_unavailable'

/** How a token was (or was to be) presented: the binding the verifier checked. */
export type BindingName = 'dpop' | 'mtls' | 'pop' | 'bearer'

export interface ResourceErrorOptions {
  status: number
  description: string
  /** Precise cause for logs and metrics (e.g. `htu_mismatch`), never sent. */
  reason: string
  /** Expected and received values, for the server log only. */
  detail?: string
  /** The binding whose check failed, when one was identified. */
  binding?: BindingName
  /** Scopes the route needs, sent in the challenge of an `insufficient_scope` error. */
  scope?: string
  /** A fresh nonce for the `DPoP-Nonce` header. */
  dpopNonce?: string
  cause?: unknown
}

/**
 * A protected resource request was refused. `headers` is filled by the verifier, which knows
 * the schemes and algs it offers; an adapter copies `status` and `headers` onto its response.
 */
export class ResourceError extends OAuthError {
  declare readonly error: ResourceErrorCode & OAuthErrorCode
  declare readonly reason: string
  readonly binding: BindingName | undefined
  readonly scope: string | undefined
  readonly dpopNonce: string | undefined
  /** `WWW-Authenticate` (and `DPoP-Nonce` when one is due), set by the verifier. */
  headers: Record<string, string> = {}

  constructor(error: ResourceErrorCode, options: ResourceErrorOptions) {
    super(error, {
      status: options.status,
      description: options.description,
      reason: options.reason,
      ...(options.detail === undefined ? {} : { detail: options.detail }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    })
    this.binding = options.binding
    this.scope = options.scope
    this.dpopNonce = options.dpopNonce
  }

  /**
   * The JSON body to answer with (RFC 6749 §5.2 members), or `undefined` for a request that
   * carried no credentials: RFC 6750 §3.1 gives it a bare challenge and no error code.
   */
  body(): string | undefined {
    return this.reason === 'missing_token' ? undefined : JSON.stringify(this.toJSON())
  }
}

/** RFC 6750 §3.1 `invalid_token`: expired, revoked, malformed, for another audience, or unbound. */
export const invalidToken = (
  reason: string,
  description: string,
  extra: Omit<ResourceErrorOptions, 'status' | 'description' | 'reason'> = {},
) => new ResourceError('invalid_token', { status: 401, description, reason, ...extra })

/** RFC 6750 §3.1 `invalid_request`: malformed, or more than one way of sending the token. */
export const invalidRequest = (
  reason: string,
  description: string,
  extra: Omit<ResourceErrorOptions, 'status' | 'description' | 'reason'> = {},
) => new ResourceError('invalid_request', { status: 400, description, reason, ...extra })
