/**
 * @module bindings/pop/errors
 *
 * The typed error of signed-request PoP verification (draft-ietf-oauth-signed-http-request §5;
 * wire format §3.2). The .NET verifier answers every failure with 401 and
 * `WWW-Authenticate: PoP error="invalid_token"`; keybound keeps that answer and adds a precise
 * reason for logs and metrics.
 */
import { OAuthError } from '../../errors.js'

/** Every precise reason a signed request is refused, in the order of the checks. */
export const POP_FAILURE_REASONS = [
  'malformed_jws',
  'bad_base64url',
  'bad_json',
  'not_object',
  'duplicate_member',
  'alg_not_allowed',
  'jwk_missing',
  'jwk_private',
  'jwk_invalid',
  'jwk_alg_mismatch',
  'bad_signature',
  'at_invalid',
  'at_mismatch',
  'ts_invalid',
  'ts_too_old',
  'ts_in_future',
  'member_invalid',
  'm_mismatch',
  'u_mismatch',
  'p_mismatch',
  'q_mismatch',
  'h_mismatch',
  'b_mismatch',
  'part_missing',
  'part_unexpected',
  'replayed_signature',
] as const

export type PopFailureReason = (typeof POP_FAILURE_REASONS)[number]

const DESCRIPTIONS: Readonly<Record<PopFailureReason, string>> = {
  malformed_jws: 'PoP token is not a compact JWS',
  bad_base64url: 'PoP token is not base64url',
  bad_json: 'PoP token is not valid JSON',
  not_object: 'PoP token header or payload is not a JSON object',
  duplicate_member: 'PoP token has duplicate JSON members',
  alg_not_allowed: 'PoP token "alg" is not allowed',
  jwk_missing: 'the access token has no confirmation key',
  jwk_private: 'the confirmation key must be a public key',
  jwk_invalid: 'the confirmation key is invalid',
  jwk_alg_mismatch: 'PoP token "alg" does not fit the confirmation key',
  bad_signature: 'PoP token signature is invalid',
  at_invalid: 'PoP token "at" is missing or invalid',
  at_mismatch: 'PoP token "at" is not the presented access token',
  ts_invalid: 'PoP token "ts" is missing or not an integer',
  ts_too_old: 'PoP token is too old',
  ts_in_future: 'PoP token "ts" is in the future',
  member_invalid: 'PoP token has a member of the wrong type',
  m_mismatch: 'PoP token "m" does not match the request method',
  u_mismatch: 'PoP token "u" does not match the request host',
  p_mismatch: 'PoP token "p" does not match the request path',
  q_mismatch: 'PoP token "q" does not match the request query',
  h_mismatch: 'PoP token "h" does not match the request headers',
  b_mismatch: 'PoP token "b" does not match the request body',
  part_missing: 'PoP token does not cover a required part of the request',
  part_unexpected: 'PoP token covers a part the policy does not expect',
  replayed_signature: 'PoP token has been used before',
}

/**
 * A signed request was refused: `error` is `invalid_token` and `status` 401 (wire format
 * §3.2: `WWW-Authenticate: PoP error="invalid_token"`).
 */
export class PopSignatureError extends OAuthError {
  declare readonly reason: PopFailureReason

  constructor(reason: PopFailureReason, options: { detail?: string } = {}) {
    super('invalid_token', {
      status: 401,
      description: DESCRIPTIONS[reason],
      reason,
      ...(options.detail === undefined ? {} : { detail: options.detail }),
    })
  }
}
