/**
 * @module resource/challenge
 *
 * The `WWW-Authenticate` value of a refusal: one challenge per scheme the resource accepts
 * (RFC 9110 §11.6.1 allows several in one field; RFC 9449 §7.2 shows `Bearer, DPoP algs=...`;
 * signed requests have `PoP`, draft-ietf-oauth-signed-http-request §5.1).
 * The error goes in the challenge of the scheme it concerns, which comes first; the request
 * that carried no credentials gets challenges without an error code (RFC 6750 §3.1).
 */
import type { ResourceError } from './errors.js'

export interface ChallengeOptions {
  /** `realm` of every challenge (RFC 6750 §3), when configured. */
  realm?: string
  /** Whether the `Bearer` scheme is offered (plain bearer tokens are accepted). */
  bearer: boolean
  /** Whether the `DPoP` scheme is offered, and its `algs` (RFC 9449 §7.1). */
  dpopAlgs: readonly string[] | undefined
  /** Whether the `PoP` scheme of signed requests is offered (the verifier's `pop` option). */
  pop: boolean
}

/**
 * RFC 6750 §3: `error`, `error_description` and `scope` values are restricted to
 * %x20-21 / %x23-5B / %x5D-7E, so no `"` and no `\` at all. Descriptions that quote a claim name
 * are rewritten with single quotes rather than escaped.
 */
function quoted(value: string): string {
  return `"${value.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')}"`
}

function challenge(scheme: string, params: [string, string | undefined][]): string {
  const list = params
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${quoted(v as string)}`)
  return list.length === 0 ? scheme : `${scheme} ${list.join(', ')}`
}

/**
 * @param error The refusal, or `undefined` for a request without credentials.
 * @param scheme The scheme the error concerns (`DPoP` for proof and binding errors).
 */
export function wwwAuthenticate(
  options: ChallengeOptions,
  error: ResourceError | undefined,
  scheme: 'DPoP' | 'Bearer' | 'PoP' | undefined,
): string {
  const params = (own: boolean): [string, string | undefined][] =>
    own && error
      ? [
          ['error', error.error],
          ['error_description', error.error_description],
          ['scope', error.scope],
        ]
      : []
  const dpop =
    options.dpopAlgs &&
    challenge('DPoP', [
      ['realm', options.realm],
      ['algs', options.dpopAlgs.join(' ')],
      ...params(scheme === 'DPoP'),
    ])
  const bearer =
    (options.bearer || scheme === 'Bearer') &&
    challenge('Bearer', [['realm', options.realm], ...params(scheme === 'Bearer')])
  // IdentityModel's verifier answers `PoP error="invalid_token"` (wire format §3.2).
  const pop =
    (options.pop || scheme === 'PoP') &&
    challenge('PoP', [['realm', options.realm], ...params(scheme === 'PoP')])
  const ordered =
    scheme === 'Bearer'
      ? [bearer, dpop, pop]
      : scheme === 'PoP'
        ? [pop, dpop, bearer]
        : [dpop, bearer, pop]
  return ordered.filter((c): c is string => typeof c === 'string').join(', ')
}
