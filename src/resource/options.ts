/**
 * @module resource/options
 *
 * The options of `createVerifier`, their documented defaults, and their validation: a mistake
 * is a `CodedTypeError` that names the option, thrown when the verifier is created, never on a
 * request.
 */
import type { NonceSource } from '../bindings/dpop/nonce.js'
import {
  CERTIFICATE_HEADER_FORMATS,
  type CertificateHeaderSpec,
} from '../bindings/mtls/certificate-header.js'
import { POP_PARTS, type PopPart, type PopPolicy } from '../bindings/pop/verify.js'
import { CodedTypeError } from '../errors.js'
import { ASYMMETRIC_ALGS, type AsymmetricAlg, isAsymmetricAlg } from '../jose/algs.js'
import type { ReplayCache } from '../replay/types.js'
import type { IntrospectionOptions } from './introspection.js'
import type { VerifierMetrics } from './metrics.js'
import type { TrustProxy } from './request-url.js'

/** The logger interface the verifier writes refusals to (pino and console both fit). */
export interface VerifierLogger {
  warn(object: Record<string, unknown>, message: string): void
}

export interface VerifierOptions {
  /** The authorization server's issuer identifier; `iss` must equal it (RFC 9068 §4). */
  issuer: string
  /** This resource's identifier(s): `aud` must contain one (RFC 9068 §4). */
  audience: string | readonly string[]
  /** The issuer's JWK Set; by default `jwks_uri` from its RFC 8414 metadata. */
  jwksUri?: string
  /** Resolve opaque tokens by RFC 7662 introspection. */
  introspection?: IntrospectionOptions
  /**
   * Seconds between two fetches of the JWK Set (default 30): a token with an unknown `kid`
   * triggers a refetch at most this often.
   */
  jwksCooldown?: number
  /** Algs allowed for access token signatures (default: every asymmetric alg). */
  algs?: readonly AsymmetricAlg[]
  /** Require `typ: at+jwt` (RFC 9068 §2.1); by default `JWT` or no `typ` are tolerated. */
  requireAtJwtTyp?: boolean
  /** Seconds of clock skew tolerated on the token's `exp`, `nbf`, `iat` (default 5). */
  clockTolerance?: number
  dpop?: {
    /** Algs allowed for proofs (default ES256, ES384, ES512, PS256, PS384, PS512, EdDSA). */
    algs?: readonly AsymmetricAlg[]
    /** How old a proof may be, in seconds (default 60). */
    iatWindow?: number
    /** Clock skew allowed on `iat`, in seconds (default 5). */
    clockTolerance?: number
    /** Demand server nonces (RFC 9449 §9): a source made by `createNonceProvider`. */
    nonce?: NonceSource
  }
  /**
   * Signed-request PoP tokens (`cnf.jwk`, the IdentityServer3/IdentityModel binding): the
   * policy a signed request must meet. Setting it (`pop: {}` for the defaults) also offers the
   * `PoP` scheme in challenges; a token bound with `cnf.jwk` is verified with the default policy
   * either way.
   */
  pop?: {
    /**
     * The request parts the signature must cover: `m` method, `u` host, `p` path, `q` query,
     * `h` headers, `b` body. Default none (IdentityModel's default: `at` and `ts` only);
     * recommended `['m', 'u', 'p', 'q', 'b']`. A part signed but not required is still checked.
     */
    required?: readonly PopPart[]
    /** Accepted distance of `ts` from now, in seconds, both ways (default 300). */
    window?: number
    /**
     * IdentityModel.Owin.PopAuthentication's semantics: the covered parts must be exactly
     * `required`, the host is compared without its port, the query is parsed as Katana does.
     */
    compat?: boolean
    /** With `compat`: the query parameter names validated (`QueryParametersToValidate`). */
    queryNames?: readonly string[]
    /** Header names the signature must cover, lower-case (`RequestHeadersToValidate`). */
    headerNames?: readonly string[]
    /** Algs allowed for signed requests (default RS256-512, PS256-512, ES256-512). */
    algs?: readonly AsymmetricAlg[]
  }
  /**
   * Where proof `jti`s and signed-request signatures are remembered (RFC 9449 §11.1); `null`
   * turns replay detection off.
   */
  replayCache: ReplayCache | null
  /** The API's external base URL, e.g. `https://api.example.com/v1`: `htu` is checked on it. */
  publicUrl?: string
  /**
   * The proxies (addresses or CIDRs, or `true`) whose `Forwarded`/`X-Forwarded-*` give the URL
   * (unless `publicUrl` is set) and whose `certificateHeader` gives the client certificate.
   */
  trustProxy?: TrustProxy
  /**
   * Behind a TLS-terminating proxy in `trustProxy`: the header it forwards the client
   * certificate in, and its format (RFC 9440 `Client-Cert`, nginx, Apache, IIS, Envoy, Traefik,
   * HAProxy), for certificate-bound tokens (RFC 8705 §3). From any other peer it is ignored.
   */
  certificateHeader?: CertificateHeaderSpec
  /** Accept tokens without any binding as plain `Bearer` tokens (default false). */
  allowBearer?: boolean
  /** Refuse every token that is not sender-constrained; incompatible with `allowBearer`. */
  requireBinding?: boolean
  /** Most validated tokens kept (default 10,000; `0` turns the cache off). */
  tokenCacheSize?: number
  /** `realm` of the `WWW-Authenticate` challenges. */
  realm?: string
  /** Where refusals are logged, with the expected and received values. */
  logger?: VerifierLogger
  /** Counters of verified and refused requests (see `createVerifierMetrics`). */
  metrics?: VerifierMetrics
  /** The `fetch` for metadata, JWKS and introspection (default: the global one). */
  fetch?: typeof fetch
  /** Timeout of each outbound request, in ms (default 5,000). */
  timeout?: number
}

/** RFC 9449 §7.1 `algs` default: every asymmetric alg but RS*, whose PKCS#1 v1.5 RFC 8725 discourages. */
export const DEFAULT_DPOP_ALGS: readonly AsymmetricAlg[] = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
]

const fail = (name: string, must: string) =>
  new CodedTypeError(`"${name}" must be ${must}`, 'ERR_INVALID_ARG_VALUE')

function checkUrl(name: string, value: unknown, httpsOrLoopback = false): URL {
  let url: URL
  try {
    url = new URL(value as string)
  } catch {
    throw fail(name, 'an absolute URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail(name, 'an http(s) URL')
  if (
    httpsOrLoopback &&
    url.protocol === 'http:' &&
    !/^(localhost|127\.[\d.]+|\[::1\])$/.test(url.hostname)
  ) {
    throw fail(name, 'an https URL (http only on loopback)')
  }
  return url
}

function checkAlgs(name: string, value: unknown): readonly AsymmetricAlg[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every(isAsymmetricAlg)) {
    throw fail(name, `a non-empty list of ${ASYMMETRIC_ALGS.join(', ')}`)
  }
  return value
}

function checkSeconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw fail(name, 'a non-negative number of seconds')
  }
  return value
}

/** The options with defaults applied, checked once. */
export interface ResolvedOptions {
  readonly issuer: string
  readonly audience: readonly string[]
  readonly jwksUri: URL | undefined
  readonly jwksCooldown: number
  readonly algs: readonly AsymmetricAlg[]
  readonly requireAtJwtTyp: boolean
  readonly clockTolerance: number
  readonly dpopAlgs: readonly AsymmetricAlg[]
  readonly iatWindow: number
  readonly dpopClockTolerance: number
  /** The policy of signed requests (`cnf.jwk`), checked. */
  readonly pop: PopPolicy
  /** Whether the `PoP` scheme is offered in challenges. */
  readonly popOffered: boolean
  readonly allowBearer: boolean
  readonly publicUrl: URL | undefined
  readonly tokenCacheSize: number
  readonly timeout: number
}

export function resolveOptions(options: VerifierOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new CodedTypeError('"options" must be an object', 'ERR_INVALID_ARG_TYPE')
  }
  checkUrl('issuer', options.issuer)
  // `iss` is compared as a string (RFC 9068 §4), so the issuer is kept exactly as given.
  const issuer = options.issuer
  const audience = typeof options.audience === 'string' ? [options.audience] : options.audience
  if (
    !Array.isArray(audience) ||
    audience.length === 0 ||
    !audience.every((a) => typeof a === 'string' && a !== '')
  ) {
    throw fail(
      'audience',
      'a non-empty string or list of strings (RFC 9068 §4: aud is always checked)',
    )
  }
  if (options.replayCache === undefined) {
    throw fail('replayCache', 'a replay cache, or null to turn replay detection off explicitly')
  }
  if (options.allowBearer && options.requireBinding) {
    throw fail('allowBearer', 'false when "requireBinding" is set')
  }
  const header = options.certificateHeader
  if (header !== undefined) {
    if (!CERTIFICATE_HEADER_FORMATS.includes(header?.format)) {
      throw fail('certificateHeader.format', `one of ${CERTIFICATE_HEADER_FORMATS.join(', ')}`)
    }
    if (header.name !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header.name)) {
      throw fail('certificateHeader.name', 'an HTTP field name')
    }
    if (options.trustProxy === undefined || options.trustProxy === false) {
      throw fail('trustProxy', 'set with "certificateHeader" (the proxies the header is read from)')
    }
  }
  const introspection = options.introspection
  if (introspection !== undefined) {
    if (typeof introspection.clientId !== 'string' || introspection.clientId === '') {
      throw fail('introspection.clientId', 'a non-empty string')
    }
    if (typeof introspection.clientSecret !== 'string' || introspection.clientSecret === '') {
      throw fail('introspection.clientSecret', 'a non-empty string')
    }
    if (introspection.endpoint !== undefined)
      checkUrl('introspection.endpoint', introspection.endpoint, true)
    checkSeconds('introspection.cacheTtl', introspection.cacheTtl, 30)
  }
  if (options.dpop?.nonce !== undefined && typeof options.dpop.nonce?.verify !== 'function') {
    throw fail('dpop.nonce', 'a nonce source made by createNonceProvider')
  }
  const size = options.tokenCacheSize ?? 10_000
  if (!Number.isInteger(size) || size < 0) throw fail('tokenCacheSize', 'a non-negative integer')
  const timeout = options.timeout ?? 5_000
  if (!Number.isInteger(timeout) || timeout <= 0) throw fail('timeout', 'a positive number of ms')
  return {
    issuer,
    audience,
    jwksUri: options.jwksUri === undefined ? undefined : checkUrl('jwksUri', options.jwksUri, true),
    jwksCooldown: checkSeconds('jwksCooldown', options.jwksCooldown, 30),
    algs: options.algs === undefined ? ASYMMETRIC_ALGS : checkAlgs('algs', options.algs),
    requireAtJwtTyp: options.requireAtJwtTyp === true,
    clockTolerance: checkSeconds('clockTolerance', options.clockTolerance, 5),
    dpopAlgs:
      options.dpop?.algs === undefined
        ? DEFAULT_DPOP_ALGS
        : checkAlgs('dpop.algs', options.dpop.algs),
    iatWindow: checkSeconds('dpop.iatWindow', options.dpop?.iatWindow, 60),
    dpopClockTolerance: checkSeconds('dpop.clockTolerance', options.dpop?.clockTolerance, 5),
    pop: checkPopPolicy(options.pop),
    popOffered: options.pop !== undefined,
    allowBearer: options.allowBearer === true,
    publicUrl:
      options.publicUrl === undefined ? undefined : checkUrl('publicUrl', options.publicUrl),
    tokenCacheSize: size,
    timeout,
  }
}

function checkNames(
  name: string,
  value: unknown,
  lowerCase: boolean,
): readonly string[] | undefined {
  if (value === undefined) return undefined
  if (
    !Array.isArray(value) ||
    !value.every((v) => typeof v === 'string' && v !== '' && (!lowerCase || v === v.toLowerCase()))
  ) {
    throw fail(name, `a list of non-empty${lowerCase ? ' lower-case' : ''} names`)
  }
  return value
}

/** The `pop` option as the binding's policy (src/bindings/pop/verify.ts `PopPolicy`). */
function checkPopPolicy(pop: VerifierOptions['pop']): PopPolicy {
  if (pop === undefined) return {}
  if (typeof pop !== 'object' || pop === null) throw fail('pop', 'an object')
  const required = pop.required ?? []
  if (!Array.isArray(required) || !required.every((p) => POP_PARTS.includes(p))) {
    throw fail('pop.required', `a list of ${POP_PARTS.join(', ')}`)
  }
  const queryNames = checkNames('pop.queryNames', pop.queryNames, false)
  const headerNames = checkNames('pop.headerNames', pop.headerNames, true)
  return {
    required,
    window: checkSeconds('pop.window', pop.window, 300),
    compat: pop.compat === true,
    ...(queryNames === undefined ? {} : { queryNames }),
    ...(headerNames === undefined ? {} : { headerNames }),
    ...(pop.algs === undefined ? {} : { algs: checkAlgs('pop.algs', pop.algs) }),
  }
}
