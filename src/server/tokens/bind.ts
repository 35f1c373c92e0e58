/**
 * @module server/tokens/bind
 *
 * The one place a token request gets its binding: which proof the client presented, whether
 * its token binding type requires one, and which confirmation (`cnf`) the tokens carry. Grants
 * call it; they never look at a proof or a certificate themselves.
 *
 * The rules, in order:
 * 1. A grant bound to a certificate (a public client's refresh token, RFC 8705 §4) needs that
 *    very certificate (else `invalid_grant`), and its tokens stay bound to it.
 * 2. `token_binding: "mtls"`: the tokens are bound to the client certificate (RFC 8705 §3), which
 *    the request must present (else `invalid_request`); a DPoP proof is not looked at.
 * 3. `token_binding: "dpop"` (or `dpop_bound_access_tokens`), a grant bound to a DPoP key, or a
 *    DPoP proof sent by a `none` client: DPoP (RFC 9449), checked as before. A proof wins over
 *    a certificate: a token has one binding.
 * 4. Otherwise, with `mtls.alwaysEmitConfirmation` and a certificate: bound to the certificate,
 *    whatever authenticated the client (secret, private_key_jwt, none, a certificate).
 * 5. Otherwise a bearer token.
 *
 * Before these, the signed-request PoP binding (docs/bindings/pop.md; pop-wire-format.md §1):
 * `token_type=pop` with a `key`, a `token_binding: "pop"` client, or a refresh token bound to
 * a PoP key. A token has one binding, so PoP does not combine with a DPoP proof (refused with
 * `invalid_request`), nor with a client whose tokens are bound to DPoP or a certificate, nor
 * with a grant bound to a DPoP key or a certificate (`invalid_grant`).
 */
import { timingSafeEqual } from 'node:crypto'
import { DPoPProofError } from '../../bindings/dpop/errors.js'
import { type ProofPolicy, verifyTokenRequestProof } from '../../bindings/dpop/issue.js'
import type { PresentedCertificate } from '../../bindings/mtls/client-certificate.js'
import { type PopTokenRequest, readPopTokenRequest } from '../../bindings/pop/issue.js'
import { InvalidGrantError, InvalidRequestError } from '../../errors.js'
import { jwkThumbprint, type PublicJwk } from '../../jose/jwk.js'
import type { ClientRecord, Confirmation } from '../../store/types.js'
import type { ServerContext } from '../context.js'

export interface BindingRequest {
  readonly client: ClientRecord
  /** The `DPoP` header(s) of the request. */
  readonly dpop: string | readonly string[] | undefined
  /** The public URL of the endpoint the request came to: the proof's `htu`. */
  readonly endpoint: string
  /** The TLS client certificate of the request (RFC 8705), if any. */
  readonly certificate?: PresentedCertificate | undefined
  /** The key the grant is already bound to (a `dpop_jkt` code, a bound refresh token). */
  readonly requiredJkt?: string | undefined
  /** The certificate thumbprint the grant is bound to (a bound refresh token, RFC 8705 §4). */
  readonly requiredX5t?: string | undefined
  /** The token request parameters: `token_type`, `alg` and `key` of the PoP binding. */
  readonly params?: Readonly<Record<string, string>> | undefined
  /** The PoP key the grant is bound to (a public client's refresh token). */
  readonly requiredJwk?: Readonly<Record<string, unknown>> | undefined
}

/** The client must prove possession of a key on every token request (RFC 9449 §5.2). */
export function requiresProof(client: ClientRecord): boolean {
  return client.token_binding === 'dpop' || client.dpop_bound_access_tokens
}

const sameThumbprint = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

/**
 * @returns the confirmation for the tokens, or `null` for a bearer token.
 * @throws {DPoPProofError} when a proof is present but invalid, or required but missing.
 * @throws {InvalidRequestError} for a `token_binding: "mtls"` client without a certificate.
 * @throws {InvalidGrantError} for a certificate-bound grant without its certificate.
 */
export async function bindTokenRequest(
  request: BindingRequest,
  context: ServerContext,
): Promise<Confirmation | null> {
  const { client, certificate } = request
  // 0. The signed-request PoP binding.
  const pop = readPopTokenRequest(request.params ?? {})
  if (pop !== undefined || client.token_binding === 'pop' || request.requiredJwk !== undefined) {
    return bindPop(request, pop)
  }
  // 1. RFC 8705 §4: a refresh token bound to a certificate.
  if (request.requiredX5t !== undefined) {
    if (certificate === undefined || !sameThumbprint(certificate.thumbprint, request.requiredX5t)) {
      throw new InvalidGrantError('the refresh token is bound to another client certificate', {
        reason: certificate === undefined ? 'certificate_missing' : 'x5t_mismatch',
        detail: `bound ${request.requiredX5t}, presented ${certificate?.thumbprint ?? 'none'}`,
      })
    }
    return { 'x5t#S256': certificate.thumbprint }
  }
  // 2. RFC 8705 §3: the client's tokens are bound to its certificate.
  if (client.token_binding === 'mtls' && request.requiredJkt === undefined) {
    if (certificate === undefined) {
      throw new InvalidRequestError(
        'a TLS client certificate is required: this client gets certificate-bound tokens ' +
          '(RFC 8705 section 3)',
        { reason: 'certificate_missing' },
      )
    }
    return { 'x5t#S256': certificate.thumbprint }
  }
  // 3. DPoP.
  if (request.dpop === undefined) {
    if (request.requiredJkt !== undefined) {
      throw new DPoPProofError('missing_proof', { detail: 'the grant is bound to a DPoP key' })
    }
    if (requiresProof(client)) {
      throw new DPoPProofError('missing_proof', { detail: 'the client requires DPoP' })
    }
    // 4. Duende's AlwaysEmitConfirmationClaim.
    if (certificate !== undefined && context.config.mtls.alwaysEmitConfirmation) {
      return { 'x5t#S256': certificate.thumbprint }
    }
    // 5. A client whose binding type is `none` gets a bearer token without a proof, and a
    //    bound token when it sends one.
    return null
  }
  const { cnf } = await verifyTokenRequestProof(
    request.dpop,
    request.endpoint,
    proofPolicyOf(context),
    request.requiredJkt,
  )
  return cnf
}

/** How the server checks proofs at its own endpoints (token, PAR), from the configuration. */
export function proofPolicyOf(context: ServerContext): ProofPolicy {
  const { config } = context
  return {
    algs: config.dpop.algs,
    maxAge: config.dpop.iatWindow,
    clockTolerance: config.dpop.clockTolerance,
    replayCache: context.replayCache,
    ...(context.nonces ? { nonce: context.nonces } : {}),
  }
}

/**
 * Checks a confirmation from {@link bindTokenRequest} against the key a grant turned out to be
 * bound to, for a grant whose binding is only known once it has been spent: an authorization
 * code is consumed after its proof is verified, so that a `use_dpop_nonce` answer (RFC 9449 §8)
 * does not burn it. RFC 9449 §10: a code bound by `dpop_jkt` needs a proof of that key.
 *
 * @throws {DPoPProofError} `missing_proof` without a proof, `jkt_mismatch` for another key.
 */
export function checkBoundKey(cnf: Confirmation | null, requiredJkt: string | null): void {
  if (requiredJkt === null) return
  if (!cnf?.jkt) {
    throw new DPoPProofError('missing_proof', { detail: 'the grant is bound to a DPoP key' })
  }
  if (cnf.jkt !== requiredJkt) {
    throw new DPoPProofError('jkt_mismatch', { detail: `bound ${requiredJkt}, proof ${cnf.jkt}` })
  }
}

/**
 * The PoP binding of a token request (pop-wire-format.md §1): the clean JWK of `key` becomes
 * `cnf: { jwk }` (RFC 7800 §3.2).
 *
 * @throws {InvalidRequestError} without a key for a `token_binding: "pop"` client, with a DPoP
 *   proof, or for a client whose tokens are bound to DPoP or a certificate.
 * @throws {InvalidGrantError} for a grant bound to another key or to another binding.
 */
function bindPop(request: BindingRequest, pop: PopTokenRequest | undefined): Confirmation {
  const { client } = request
  if (pop === undefined) {
    if (request.requiredJwk !== undefined) {
      throw new InvalidGrantError(
        'the refresh token is bound to a PoP key: send token_type=pop with that key',
        { reason: 'pop_key_missing' },
      )
    }
    throw new InvalidRequestError(
      'token_type=pop and key are required: this client gets PoP tokens',
      { reason: 'pop_key_missing' },
    )
  }
  if (request.dpop !== undefined) {
    throw new InvalidRequestError(
      'a DPoP proof and token_type=pop cannot be combined: a token has one binding',
      { reason: 'binding_conflict' },
    )
  }
  if (client.token_binding === 'mtls' || requiresProof(client)) {
    throw new InvalidRequestError(
      `token_type=pop is not available: this client gets ${client.token_binding} tokens`,
      { reason: 'binding_conflict' },
    )
  }
  if (request.requiredJkt !== undefined || request.requiredX5t !== undefined) {
    throw new InvalidGrantError('the grant is bound to a DPoP key or a certificate, not PoP', {
      reason: 'binding_conflict',
    })
  }
  if (request.requiredJwk !== undefined) {
    const bound = jwkThumbprint(request.requiredJwk as PublicJwk)
    const presented = jwkThumbprint(pop.jwk as PublicJwk)
    if (!sameThumbprint(bound, presented)) {
      throw new InvalidGrantError('the refresh token is bound to another PoP key', {
        reason: 'pop_key_mismatch',
        detail: `bound ${bound}, presented ${presented}`,
      })
    }
  }
  return { jwk: pop.jwk }
}

/**
 * The members a PoP token response adds (pop-wire-format.md §1.2): the requested `alg`, echoed
 * only when the request had one and the token is PoP-bound (`token_type` follows from `cnf`).
 */
export function popResponseMembers(
  params: Readonly<Record<string, string>>,
  cnf: Confirmation | null,
): { alg?: string } {
  return cnf?.jwk !== undefined && params.alg !== undefined ? { alg: params.alg } : {}
}
