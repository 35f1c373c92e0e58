/**
 * @module resource/verifier
 *
 * The resource server's verifier: one framework-free `verify()` per protected request. It reads
 * the credentials, validates the access token (JWT per RFC 9068 or opaque by RFC 7662
 * introspection), then checks the binding the token's `cnf` names with that binding's own
 * module: `jkt` with a DPoP proof (RFC 9449 §7), `x5t#S256` with the TLS client certificate
 * (RFC 8705 §3), `jwk` with a signed request (draft-ietf-oauth-signed-http-request §5, the
 * IdentityModel PoP tokens). A `cnf` it does not understand is refused, never ignored.
 */
import { computeAth } from '../bindings/dpop/ath.js'
import { DPoPProofError } from '../bindings/dpop/errors.js'
import type { ProofPolicy } from '../bindings/dpop/issue.js'
import { checkProofPolicy, PresentedProof } from '../bindings/dpop/present.js'
import type { VerifiedProof } from '../bindings/dpop/verify.js'
import {
  certificateHeaderName,
  parseCertificateHeader,
} from '../bindings/mtls/certificate-header.js'
import { checkCertificateBinding } from '../bindings/mtls/present.js'
import type { ClientCertificate } from '../bindings/mtls/thumbprint.js'
import { PopSignatureError } from '../bindings/pop/errors.js'
import {
  type DecodedPopJws,
  decodePopJws,
  type VerifiedPopSignature,
} from '../bindings/pop/verify.js'
import { OAuthError } from '../errors.js'
import { headerOf, type RequestHeaders, readCredentials } from './authorization.js'
import { wwwAuthenticate } from './challenge.js'
import { type BindingName, invalidRequest, invalidToken, ResourceError } from './errors.js'
import { createIntrospector, type Introspector } from './introspection.js'
import { RemoteKeySet } from './jwks.js'
import {
  type AccessTokenClaims,
  checkJwtClaims,
  checkJwtSignature,
  type JwtPolicy,
  looksLikeJwt,
  readJwtAccessToken,
} from './jwt-access-token.js'
import { discover, type ServerMetadata } from './metadata.js'
import { resolveOptions, type VerifierOptions } from './options.js'
import { accessTokenOf, formSignedRequest, fromPopError, verifySignedRequest } from './pop.js'
import { compileTrustProxy, requestUrl } from './request-url.js'
import { checkAudience, checkScope, type Requirements, scopesOf } from './requirements.js'

export type { Requirements } from './requirements.js'

import { TokenCache } from './token-cache.js'

/** A protected resource request, as any HTTP framework can describe it. */
export interface ResourceRequest {
  /** The request method, e.g. `GET`. */
  method: string
  /** The request-target as received (`req.url`): path and query. */
  url: string
  headers: RequestHeaders
  /** The certificate of the TLS connection, for certificate-bound tokens (RFC 8705). */
  clientCertificate?: ClientCertificate | undefined
  /** The address of the peer (`req.socket.remoteAddress`), checked against `trustProxy`. */
  remoteAddress?: string | undefined
  /** Whether the connection is TLS (the scheme of the URL when there is no proxy). */
  encrypted?: boolean | undefined
  /**
   * Reads the raw request body, for a signed request that covers it (`b`) or carries the token
   * in the form field `pop_access_token`; called only then. `undefined` when the body cannot be
   * had (consumed by a parser that kept no bytes). The adapters give it.
   */
  readBody?: (() => Promise<Uint8Array | undefined>) | undefined
}

/** A request that passed: who it is for, and how the token was bound. */
export interface VerifiedRequest {
  readonly claims: AccessTokenClaims
  /** `sub` of the token (the client itself for client_credentials). */
  readonly subject: string | undefined
  readonly clientId: string | undefined
  readonly scopes: readonly string[]
  /** How the token is sender-constrained: `dpop`, `mtls`, `pop`, or `bearer` when it is not. */
  readonly binding: BindingName
  /** The verified DPoP proof, for a DPoP-bound token. */
  readonly proof?: VerifiedProof
  /** The verified signed request, for a token bound with `cnf.jwk`. */
  readonly signature?: VerifiedPopSignature
  /** Headers to add to the response (a fresh `DPoP-Nonce`, RFC 9449 §9). */
  readonly headers: Readonly<Record<string, string>>
}

/**
 * A {@link VerifiedRequest}. A class rather than an object literal: V8 builds a literal that has
 * a getter on its slow path, which cost almost a microsecond on every request.
 */
class Verified implements VerifiedRequest {
  readonly claims: AccessTokenClaims
  readonly subject: string | undefined
  readonly clientId: string | undefined
  readonly binding: BindingName
  readonly proof: VerifiedProof | undefined
  readonly signature: VerifiedPopSignature | undefined
  readonly headers: Readonly<Record<string, string>>
  #scopes: readonly string[] | undefined

  constructor(
    claims: AccessTokenClaims,
    binding: BindingName,
    proof: VerifiedProof | undefined,
    signature: VerifiedPopSignature | undefined,
    headers: Readonly<Record<string, string>>,
  ) {
    this.claims = claims
    this.subject = claims.sub
    this.clientId = claims.client_id
    this.binding = binding
    this.proof = proof
    this.signature = signature
    this.headers = headers
  }

  /** Split from `scope` (RFC 6749 §3.3) when a route requires some or a caller first reads them. */
  get scopes(): readonly string[] {
    this.#scopes ??= scopesOf(this.claims)
    return this.#scopes
  }
}

/** What `verify()` has learnt so far, for the challenge and the metrics of a refusal. */
interface State {
  scheme: 'DPoP' | 'Bearer' | 'PoP' | undefined
  binding: BindingName
}

export interface Verifier {
  /**
   * Verifies one request.
   *
   * @throws {ResourceError} with `status` and `headers` (`WWW-Authenticate`, `DPoP-Nonce`) to
   *   answer with.
   */
  verify(request: ResourceRequest, requirements?: Requirements): Promise<VerifiedRequest>
  /**
   * Checks a further route's requirements on a request `verify()` already accepted, e.g. an
   * app-wide middleware then a per-route scope: the proof is not checked twice (its `jti` is
   * spent).
   *
   * @param request Method and URL, for the log.
   * @throws {ResourceError} `insufficient_scope` (403) or `invalid_token` (401, audience).
   */
  authorize(
    verified: VerifiedRequest,
    requirements: Requirements,
    request?: { method: string; url: string },
  ): void
  /** The challenges for a response that asks for credentials (RFC 6750 §3, RFC 9449 §7.1). */
  readonly challenge: string
  /** The verifier's counters, when it was given `metrics`. */
  readonly metrics: VerifierOptions['metrics']
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})
const NO_CNF: Readonly<Record<string, unknown>> = Object.freeze({})

/** The confirmation members keybound understands (RFC 9449 §6, RFC 8705 §3.1, RFC 7800 §3.2). */
const KNOWN_CNF = new Set(['jkt', 'x5t#S256', 'jwk'])

const SCHEME_OF: Readonly<Record<BindingName, 'DPoP' | 'PoP' | 'Bearer'>> = {
  dpop: 'DPoP',
  pop: 'PoP',
  mtls: 'Bearer',
  bearer: 'Bearer',
}

/** RFC 9449 §7.1: a proof that fails is `invalid_dpop_proof`; a key mismatch, `invalid_token`. */
function fromProofError(error: DPoPProofError): ResourceError {
  const detail = error.detail === undefined ? {} : { detail: error.detail }
  if (error.reason === 'jkt_mismatch') {
    return invalidToken('jkt_mismatch', 'Invalid DPoP key binding', { binding: 'dpop', ...detail })
  }
  return new ResourceError(
    error.error === 'use_dpop_nonce' ? 'use_dpop_nonce' : 'invalid_dpop_proof',
    {
      status: 401,
      description: error.error_description,
      reason: error.reason,
      binding: 'dpop',
      ...detail,
      ...(error.nonce === undefined ? {} : { dpopNonce: error.nonce }),
    },
  )
}

/**
 * Creates a verifier. Options are checked now; the issuer's metadata and keys are fetched on
 * first use and kept.
 *
 * @throws {CodedTypeError} naming the option that is wrong.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const resolved = resolveOptions(options)
  const fetchImpl = options.fetch ?? globalThis.fetch
  const nonce = options.dpop?.nonce
  const trusted = compileTrustProxy(options.trustProxy)
  const urlPolicy = { publicUrl: resolved.publicUrl, trusted }
  const cache = new TokenCache(resolved.tokenCacheSize)
  const challengeOptions = {
    ...(options.realm === undefined ? {} : { realm: options.realm }),
    bearer: resolved.allowBearer,
    dpopAlgs: resolved.dpopAlgs,
    pop: resolved.popOffered,
  }
  const policy: JwtPolicy = {
    issuer: resolved.issuer,
    audience: resolved.audience,
    algs: resolved.algs,
    requireAtJwtTyp: resolved.requireAtJwtTyp,
    clockTolerance: resolved.clockTolerance,
  }

  let metadata: Promise<ServerMetadata> | undefined
  const discovered = () => {
    metadata ??= discover(resolved.issuer, fetchImpl, resolved.timeout).catch((error) => {
      metadata = undefined // try again on the next request
      throw error
    })
    return metadata
  }
  const endpointOf = async (member: 'jwks_uri' | 'introspection_endpoint'): Promise<URL> => {
    const value = (await discovered())[member]
    if (typeof value !== 'string') throw new Error(`the issuer's metadata has no ${member}`)
    return new URL(value)
  }
  const keys = new RemoteKeySet({
    uri: async () => resolved.jwksUri ?? endpointOf('jwks_uri'),
    fetch: fetchImpl,
    timeout: resolved.timeout,
    cooldown: resolved.jwksCooldown * 1000,
  })
  const introspector: Introspector | undefined =
    options.introspection &&
    createIntrospector(
      options.introspection,
      async () =>
        options.introspection?.endpoint
          ? new URL(options.introspection.endpoint)
          : endpointOf('introspection_endpoint'),
      policy,
      cache,
      fetchImpl,
      resolved.timeout,
    )

  const proofPolicy: ProofPolicy = checkProofPolicy({
    algs: resolved.dpopAlgs,
    maxAge: resolved.iatWindow,
    clockTolerance: resolved.dpopClockTolerance,
    replayCache: options.replayCache,
    ...(nonce === undefined ? {} : { nonce }),
  })
  const certificateHeader = options.certificateHeader
  const certificateHeaderField = certificateHeader && certificateHeaderName(certificateHeader)

  /**
   * The client certificate (RFC 8705 §3): from a trusted proxy with `certificateHeader`, its
   * header and only its header; otherwise the TLS connection's. A certificate header from any
   * other peer is ignored, and logged: a client could name any certificate in it.
   */
  function certificateOf(request: ResourceRequest): ClientCertificate | undefined {
    if (certificateHeader && certificateHeaderField) {
      const value = headerOf(request.headers, certificateHeaderField)
      if (trusted(request.remoteAddress)) {
        const result = parseCertificateHeader(certificateHeader.format, value)
        if (result === undefined) return undefined
        if ('failure' in result) {
          throw invalidRequest(result.failure, 'the forwarded client certificate is malformed', {
            binding: 'mtls',
            detail: result.detail,
          })
        }
        return result.certificate
      }
      if (value !== undefined) {
        options.logger?.warn(
          { header: certificateHeaderField, remoteAddress: request.remoteAddress },
          'client certificate header from a peer not in trustProxy ignored',
        )
      }
    }
    return request.clientCertificate
  }

  /**
   * The token's claims, from the cache, introspection or the JWT itself. When the JWT is
   * verified, the signature of the request's proof is checked right after the token's (see
   * `PresentedProof`).
   */
  async function validateToken(
    token: string,
    tokenHash: string,
    now: number,
    presented: PresentedProof | undefined,
  ) {
    if (!looksLikeJwt(token)) {
      if (introspector) return introspector.introspect(token, tokenHash, now)
      throw invalidToken('opaque_token', 'the access token is not a JWT and introspection is off')
    }
    const cached = cache.get(tokenHash, now)
    if (cached) return cached
    const read = await readJwtAccessToken(token, keys, policy)
    checkJwtSignature(read)
    presented?.checkSignature()
    const claims = checkJwtClaims(read, policy, now)
    cache.set(tokenHash, claims, claims.exp)
    return claims
  }

  async function check(
    request: ResourceRequest,
    requirements: Requirements | undefined,
    state: State,
  ): Promise<VerifiedRequest> {
    let credentials = readCredentials(request.headers)
    const dpopHeader = headerOf(request.headers, 'dpop')
    if (credentials === undefined && headerOf(request.headers, 'authorization') === undefined) {
      const fromForm = await formSignedRequest(request)
      if (fromForm !== undefined) credentials = { scheme: 'PoP', token: fromForm }
    }
    if (credentials === undefined) {
      throw new ResourceError('invalid_request', {
        status: 401,
        description: 'no access token',
        reason: 'missing_token',
      })
    }
    state.scheme = credentials.scheme
    // A signed request carries the access token in `at` (wire format §3.1).
    let signed: DecodedPopJws | undefined
    if (credentials.scheme === 'PoP') {
      state.binding = 'pop'
      signed = decodePopJws(credentials.token)
    }
    const token = signed === undefined ? credentials.token : accessTokenOf(signed)
    if (credentials.scheme === 'Bearer' && dpopHeader !== undefined) {
      // RFC 9449 §7.2: a DPoP proof belongs with the DPoP scheme; sent with Bearer the request
      // is ambiguous, and a downgrade attempt as often as a client bug.
      throw invalidRequest('dpop_with_bearer', 'a DPoP proof requires the DPoP scheme', {
        binding: 'dpop',
      })
    }
    const now = Date.now()
    const tokenHash = computeAth(token)
    // Read now, checked once the token is: reading never throws, a failure waits its turn.
    const presented =
      credentials.scheme === 'DPoP' ? new PresentedProof(dpopHeader, token, proofPolicy) : undefined
    const claims = await validateToken(token, tokenHash, Math.floor(now / 1000), presented)

    checkAudience(claims, requirements)

    const cnf = claims.cnf ?? NO_CNF
    for (const member in cnf) {
      if (!KNOWN_CNF.has(member)) {
        throw invalidToken(
          'unsupported_cnf',
          'the access token is bound in a way this resource cannot check',
          {
            detail: `cnf member ${member}`,
          },
        )
      }
    }
    const jkt = cnf.jkt
    const x5t = cnf['x5t#S256']
    const jwk = cnf.jwk
    let proof: VerifiedProof | undefined
    let signature: VerifiedPopSignature | undefined
    let headers: Readonly<Record<string, string>> = NO_HEADERS

    if (jkt !== undefined) {
      state.binding = 'dpop'
      if (typeof jkt !== 'string')
        throw invalidToken('malformed_token', 'the access token is malformed')
      // RFC 9449 §7.2: a DPoP-bound token sent as a bearer token is refused.
      if (credentials.scheme !== 'DPoP') {
        state.scheme = 'DPoP'
        throw invalidToken(
          'dpop_bound_as_bearer',
          'a DPoP-bound access token requires the DPoP scheme',
          {
            binding: 'dpop',
          },
        )
      }
      proof = await (presented as PresentedProof).verify(
        {
          htm: request.method,
          htu: requestUrl(request, urlPolicy),
          accessToken: token,
          accessTokenHash: tokenHash,
          jkt,
        },
        proofPolicy,
      )
      // RFC 9449 §9: a fresh nonce may come with any answer; sent when the client's is aging.
      if (nonce && proof.claims.nonce !== nonce.current(now))
        headers = { 'dpop-nonce': nonce.current(now) }
    } else if (credentials.scheme === 'DPoP') {
      state.binding = 'dpop'
      throw invalidToken('token_not_dpop_bound', 'Invalid DPoP key binding', { binding: 'dpop' })
    }

    if (jwk !== undefined) {
      state.binding = 'pop'
      // A key-bound token is worth nothing without the signature made with that key.
      if (signed === undefined) {
        state.scheme = 'PoP'
        throw invalidToken(
          'pop_bound_as_bearer',
          'a PoP-bound access token requires a signed request',
          {
            binding: 'pop',
          },
        )
      }
      signature = await verifySignedRequest(signed, {
        request,
        url: () => requestUrl(request, urlPolicy),
        accessToken: token,
        cnfJwk: jwk,
        policy: resolved.pop,
        replayCache: options.replayCache,
      })
    } else if (credentials.scheme === 'PoP') {
      throw invalidToken('token_not_pop_bound', 'the access token is not bound to a key', {
        binding: 'pop',
      })
    }

    if (x5t !== undefined) {
      if (state.binding === 'bearer') state.binding = 'mtls'
      if (typeof x5t !== 'string')
        throw invalidToken('malformed_token', 'the access token is malformed')
      const failure = checkCertificateBinding(x5t, certificateOf(request))
      if (failure) {
        const description =
          failure.failure === 'certificate_missing'
            ? 'the access token requires the client certificate it is bound to'
            : 'the access token is bound to another certificate'
        throw invalidToken(failure.failure, description, {
          binding: 'mtls',
          detail: failure.detail,
        })
      }
    }

    if (jkt === undefined && x5t === undefined && jwk === undefined && !resolved.allowBearer) {
      throw invalidToken('unbound_token', 'the access token must be sender-constrained')
    }

    const verified = new Verified(claims, state.binding, proof, signature, headers)
    if (requirements?.scope !== undefined) checkScope(verified.scopes, requirements)
    return verified
  }

  /** Turns what `check` threw into the `ResourceError` to answer with, counted and logged. */
  function refuse(thrown: unknown, request: { method: string; url: string }, state: State): never {
    let error: ResourceError
    if (thrown instanceof ResourceError) error = thrown
    else if (thrown instanceof DPoPProofError) error = fromProofError(thrown)
    else if (thrown instanceof PopSignatureError) error = fromPopError(thrown)
    else if (thrown instanceof OAuthError) {
      // The replay cache could not answer: fail closed, 503 (RFC 9449 §11.1).
      error = new ResourceError('temporarily_unavailable', {
        status: thrown.status,
        description: thrown.error_description,
        reason: thrown.reason ?? thrown.error,
        ...(thrown.detail === undefined ? {} : { detail: thrown.detail }),
      })
    } else throw thrown
    const binding = error.binding ?? state.binding
    const scheme = binding === 'dpop' || binding === 'pop' ? SCHEME_OF[binding] : state.scheme
    if (error.status === 401 || error.status === 403 || error.status === 400) {
      error.headers['www-authenticate'] =
        error.reason === 'missing_token'
          ? wwwAuthenticate(challengeOptions, undefined, undefined)
          : wwwAuthenticate(challengeOptions, error, scheme)
    }
    if (error.dpopNonce !== undefined) error.headers['dpop-nonce'] = error.dpopNonce
    // A request without credentials has no binding yet: labelled `none` in the metrics.
    const label = state.scheme === undefined && error.binding === undefined ? 'none' : binding
    options.metrics?.refused(label, error.reason)
    options.logger?.warn(
      {
        reason: error.reason,
        error: error.error,
        binding: label,
        ...(error.detail === undefined ? {} : { detail: error.detail }),
        method: request.method,
        url: request.url.split('?', 1)[0],
      },
      'protected resource request refused',
    )
    throw error
  }

  return {
    challenge: wwwAuthenticate(challengeOptions, undefined, undefined),
    metrics: options.metrics,
    async verify(request, requirements) {
      const state: State = { scheme: undefined, binding: 'bearer' }
      try {
        const verified = await check(request, requirements, state)
        options.metrics?.verified(verified.binding)
        return verified
      } catch (thrown) {
        refuse(thrown, request, state)
      }
    },
    authorize(verified, requirements, request = { method: '', url: '' }) {
      try {
        checkAudience(verified.claims, requirements)
        checkScope(verified.scopes, requirements)
      } catch (thrown) {
        refuse(thrown, request, { scheme: SCHEME_OF[verified.binding], binding: verified.binding })
      }
    },
  }
}
