/**
 * @module config/schema
 *
 * The one schema of the `keybound serve` configuration file (a JSON object). Every option has a
 * doc comment here and a `description` (with its `unit` where it has one) that
 * `tools/config-docs.ts` turns into `docs/configuration.md`: change an option here, then run
 * `node --import tsx tools/config-docs.ts`.
 *
 * Conventions:
 * - Server options are camelCase; client entries use the RFC 7591 §2 metadata names.
 * - Every duration is an integer number of **seconds**.
 * - Nothing here hashes or generates anything: the schema validates and applies the static
 *   defaults; `load.ts` then hashes secrets and passwords and fills the defaults that depend
 *   on other fields (see {@link effectiveAuthMethod}).
 * - Unknown options are errors (a typo must not be ignored), except in client entries, which
 *   keep other RFC 7591 metadata as sent.
 */
import { isIP } from 'node:net'
import { z } from 'zod'
import { CERTIFICATE_HEADER_FORMATS } from '../bindings/mtls/certificate-header.js'
import { DnSyntaxError, parseDistinguishedName } from '../bindings/mtls/dn.js'
import { TLS_CLIENT_AUTH_NAMES } from '../bindings/mtls/issue.js'
import { ASYMMETRIC_ALGS, type AsymmetricAlg, isAsymmetricAlg } from '../jose/algs.js'
import { decodeBase64url } from '../jose/base64url.js'
import { checkPublicJwk } from '../jose/jwk.js'
import { DEFAULT_MAX_ENTRIES } from '../replay/memory.js'
import type { TokenBinding, TokenEndpointAuthMethod } from '../store/types.js'

const MINUTE = 60
const DAY = 86_400

/** The issuer when the file sets none (the port follows `port`, see `load.ts`). */
export const DEFAULT_ISSUER = 'http://localhost:4000'

/** Algorithms the server can sign tokens with (`keys.algs`). */
export const SIGNING_ALGS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'RS256',
  'EdDSA',
] as const satisfies readonly AsymmetricAlg[]
export type SigningAlg = (typeof SIGNING_ALGS)[number]

/** Grant types a configured client may use (RFC 6749 §4.1, §4.4, §6). */
export const GRANT_TYPES = ['authorization_code', 'client_credentials', 'refresh_token'] as const
export type GrantType = (typeof GRANT_TYPES)[number]

/** Every {@link TokenEndpointAuthMethod}, with what it means (the `Record` keeps it exhaustive). */
const AUTH_METHOD_TEXT: Readonly<Record<TokenEndpointAuthMethod, string>> = {
  client_secret_basic: 'the secret in HTTP Basic (RFC 6749 §2.3.1)',
  client_secret_post: 'the secret in the form body (RFC 6749 §2.3.1)',
  private_key_jwt: 'a JWT signed with a key of `jwks`/`jwks_uri` (RFC 7523 §2.2)',
  none: 'a public client, no authentication',
  tls_client_auth: 'a CA-issued client certificate (RFC 8705 §2.1)',
  self_signed_tls_client_auth:
    'a self-signed certificate of a key of `jwks`/`jwks_uri` (RFC 8705 §2.2)',
}
export const TOKEN_ENDPOINT_AUTH_METHODS = Object.keys(AUTH_METHOD_TEXT) as [
  TokenEndpointAuthMethod,
  ...TokenEndpointAuthMethod[],
]

/** Every {@link TokenBinding}, with what it means. */
const TOKEN_BINDING_TEXT: Readonly<Record<TokenBinding, string>> = {
  none: 'bearer tokens',
  dpop: 'DPoP, RFC 9449 (every token request must carry a proof)',
  mtls: 'the client certificate, RFC 8705 §3',
  pop: 'a key of the client, for signed requests',
}
export const TOKEN_BINDINGS = Object.keys(TOKEN_BINDING_TEXT) as [TokenBinding, ...TokenBinding[]]

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Authentication methods that use `client_secret`. */
export const SECRET_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
]
/** Authentication methods that need the client's public keys (`jwks` or `jwks_uri`). */
export const KEY_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'private_key_jwt',
  'self_signed_tls_client_auth',
]
/** RFC 8705 §2.1.2: a `tls_client_auth` client names its certificate with exactly one of these. */
export { TLS_CLIENT_AUTH_NAMES }
/** Authentication methods that need a client certificate (RFC 8705 §2). */
export const CERTIFICATE_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'tls_client_auth',
  'self_signed_tls_client_auth',
]

/**
 * Client metadata names keybound knows besides the modelled ones (RFC 7591 §2, RFC 8705 §2 and
 * §3.4, RFC 9126 §6, OpenID Connect Dynamic Registration). Other names are kept too, with a
 * warning, since they are more often a typo than a real extension.
 */
export const KNOWN_CLIENT_METADATA: ReadonlySet<string> = new Set([
  'client_uri',
  'logo_uri',
  'contacts',
  'tos_uri',
  'policy_uri',
  'software_id',
  'software_version',
  'software_statement',
  'response_types',
  'token_endpoint_auth_signing_alg',
  'tls_client_certificate_bound_access_tokens',
  'require_pushed_authorization_requests',
  'application_type',
  'sector_identifier_uri',
  'subject_type',
  'id_token_signed_response_alg',
  'userinfo_signed_response_alg',
  'default_max_age',
  'require_auth_time',
  'post_logout_redirect_uris',
  ...TLS_CLIENT_AUTH_NAMES,
  // keybound's own: the client (a resource server) may introspect every client's tokens
  'introspection',
])

/** Names keybound sets itself: a client entry may not carry them. */
export const RESERVED_CLIENT_FIELDS: ReadonlySet<string> = new Set([
  'client_secret_hash',
  'client_secret_expires_at',
  'client_id_issued_at',
  'registration_access_token',
  'registration_access_token_hash',
  'registration_client_uri',
  'metadata',
  'source',
  'created_at',
])

// ---------------------------------------------------------------------------------------------
// Value checks (plain functions, so load.ts and the tests can use them too)

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/** RFC 8414 §2: an http(s) URL without query, fragment or credentials. */
export function isIssuerUrl(value: string): boolean {
  const url = parseUrl(value)
  return (
    url !== undefined &&
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    url.username === '' &&
    url.password === '' &&
    !value.includes('?') &&
    !value.includes('#')
  )
}

/** RFC 6749 §3.1.2: an absolute URI without fragment; never a scheme that runs code. */
export function isRedirectUri(value: string): boolean {
  const url = parseUrl(value)
  return (
    url !== undefined &&
    !value.includes('#') &&
    !['javascript:', 'data:', 'vbscript:', 'file:'].includes(url.protocol)
  )
}

/** RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** A space-separated list of scope tokens, exactly one space between them. */
export function isScopeString(value: string): boolean {
  return value.split(' ').every((token) => SCOPE_TOKEN.test(token))
}

/** The database connection string: `sqlite:PATH` or a PostgreSQL URL. */
export function isDatabaseUrl(value: string): boolean {
  if (value.startsWith('sqlite:')) return value.length > 'sqlite:'.length
  const url = parseUrl(value)
  return url !== undefined && (url.protocol === 'postgres:' || url.protocol === 'postgresql:')
}

function isRedisUrl(value: string): boolean {
  const url = parseUrl(value)
  return url !== undefined && (url.protocol === 'redis:' || url.protocol === 'rediss:')
}

/**
 * Where used proofs are remembered (RFC 9449 §11.1), for `keybound serve` and `keybound
 * gateway` alike: `replayCache` and the in-memory ceiling `replayCacheMaxEntries`.
 *
 * @param remembered what the process remembers, for the descriptions.
 */
export function replayCacheFields(remembered: string) {
  return {
    replayCache: z
      .string()
      .refine(
        (value) => value === 'memory' || isRedisUrl(value),
        'must be "memory" or a redis:// or rediss:// URL',
      )
      .default('memory')
      .meta({
        description:
          `Where ${remembered} are remembered to detect replays (RFC 9449 §11.1): \`memory\` ` +
          '(one instance) or a `redis://` / `rediss://` URL (shared by every instance).',
      }),
    replayCacheMaxEntries: z
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .default(DEFAULT_MAX_ENTRIES)
      .meta({
        description:
          'With `memory`: the most entries the cache holds, about 150 bytes each. An entry ' +
          "stays for its proof's window (a DPoP proof: `iatWindow` + `clockTolerance`, 65 s " +
          'by default), so this divided by the window is the sustained rate of fresh proofs ' +
          'per second the instance accepts (about 15,000 by default); past it, requests with ' +
          'a proof get 503 `temporarily_unavailable`, since forgetting a proof still inside ' +
          'its window would let it be replayed.',
      }),
  }
}

/**
 * The `dpop` section, for `keybound serve` and `keybound gateway` alike: the proof policy of
 * RFC 9449 (§4.3 algorithms, §11.1 window, §8/§9 nonces).
 */
export function dpopSection(options: {
  defaultAlgs: readonly AsymmetricAlg[]
  /** Where the algorithms are announced, for the description. */
  algsAre: string
  /** Who provides the nonces, for the description. */
  nonceFrom: string
}) {
  return z
    .strictObject({
      algs: unique(proofAlg)
        .min(1, 'must not be empty')
        .default([...options.defaultAlgs])
        .meta({
          description: `The algorithms accepted for DPoP proofs, ${options.algsAre}. Of ${ASYMMETRIC_ALGS.join(', ')}.`,
        }),
      /** RFC 9449 §11.1: how far `iat` may be from now. */
      iatWindow: seconds(
        60,
        1,
        "How old a proof's `iat` may be (RFC 9449 §11.1), plus `clockTolerance`; used proofs " +
          'are remembered this long.',
      ),
      /** Allowance for clock skew, both ways. */
      clockTolerance: seconds(
        5,
        0,
        'Clock skew allowed both ways: added to `iatWindow`, and how far in the future a ' +
          "proof's `iat` may be.",
      ),
      nonce: z
        .enum(['off', 'required'], oneOf(['off', 'required']))
        .default('off')
        .meta({
          description:
            `Whether proofs must carry a nonce ${options.nonceFrom} in \`DPoP-Nonce\`, which ` +
            'limits how long a pre-computed proof is usable.',
        }),
      /** Key of the stateless nonces; the same on every instance. */
      nonceSecret: z
        .string()
        .refine((value) => decodeBase64url(value)?.length === 32, {
          error: 'must be 32 bytes in base64url (43 characters)',
        })
        .optional()
        .meta({
          description:
            'The key nonces are derived from: 32 random bytes, unpadded base64url (e.g. ' +
            '`node -p "crypto.randomBytes(32).toString(\'base64url\')"`). Give every ' +
            'instance the same one.',
          defaultText:
            'a random one at each start when `nonce` is `required` (with a warning: ' +
            'instances then do not share nonces)',
        }),
      nonceStep: seconds(60, 1, 'How often the nonce changes; the previous one is still accepted.'),
    })
    .prefault({})
    .meta({ description: 'DPoP proofs (RFC 9449).' })
}

/** The names `proxy-addr` (Fastify's `trustProxy`) knows for address ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal']

/** An IP address, an `IP/prefix` CIDR, or a named range. */
export function isProxyAddress(value: string): boolean {
  if (PROXY_RANGE_NAMES.includes(value) || isIP(value) !== 0) return true
  const match = /^([^/]+)\/(\d{1,3})$/.exec(value)
  if (!match) return false
  const family = isIP(match[1] as string)
  const prefix = Number(match[2])
  return family !== 0 && prefix <= (family === 4 ? 32 : 128)
}

/** The parts of a `scrypt$N$r$p$salt$hash` password hash. */
export interface ScryptHash {
  N: number
  r: number
  p: number
  salt: Buffer
  hash: Buffer
}

/** Largest scrypt memory (128·N·r bytes) a stored hash may ask for: 256 MiB. */
export const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024

/**
 * Parses a `scrypt$N$r$p$salt$hash` string (base64url salt and hash). Parameters that would
 * make verification a denial of service, or a salt or hash under 16 bytes, are refused.
 *
 * @returns the parts, or `undefined` when `value` is not such a hash.
 */
export function parseScryptHash(value: string): ScryptHash | undefined {
  const match = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([\w-]+)\$([\w-]+)$/.exec(value)
  if (!match) return undefined
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const salt = decodeBase64url(match[4] as string)
  const hash = decodeBase64url(match[5] as string)
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0
  if (!powerOfTwo || r < 1 || p < 1 || p > 16 || 128 * N * r > SCRYPT_MAX_MEMORY) return undefined
  if (!salt || !hash || salt.length < 16 || hash.length < 16 || hash.length > 64) return undefined
  return { N, r, p, salt, hash }
}

/** The JWS algorithm a JWK without `alg` is checked against, from its `kty` and `crv`. */
function representativeAlg(jwk: Record<string, unknown>): AsymmetricAlg | undefined {
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'OKP') return 'EdDSA'
  if (jwk.kty !== 'EC') return undefined
  return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[String(jwk.crv)]
}

/**
 * Why a client's JWK is unusable, or `undefined`. Keys must be public (a private key in a
 * configuration file is a leak) and asymmetric, and fit their `alg` when they name one.
 */
export function jwkProblem(jwk: Record<string, unknown>): string | undefined {
  const alg = jwk.alg === undefined ? representativeAlg(jwk) : jwk.alg
  if (!isAsymmetricAlg(alg)) {
    return jwk.alg === undefined
      ? 'must be an EC (P-256, P-384, P-521), RSA or OKP public key'
      : `alg ${JSON.stringify(jwk.alg)} is not an asymmetric signature algorithm`
  }
  switch (checkPublicJwk(jwk, alg)) {
    case undefined:
      return undefined
    case 'jwk_private':
      return 'holds private key members: give only the public key'
    case 'jwk_alg_mismatch':
      return `does not fit alg ${alg} (wrong kty or crv, or an RSA modulus under 2048 bits)`
    default:
      return 'is not a well-formed public key'
  }
}

/** Why a `tls_client_auth_*` value (RFC 8705 §2.1.2) cannot match a certificate, or `undefined`. */
export function tlsClientAuthNameProblem(name: string, value: string): string | undefined {
  switch (name) {
    case 'tls_client_auth_subject_dn':
      try {
        if (parseDistinguishedName(value).length === 0) return 'must not be an empty name'
        return undefined
      } catch (err) {
        if (err instanceof DnSyntaxError) return `must be an RFC 4514 string: ${err.message}`
        throw err
      }
    case 'tls_client_auth_san_ip':
      return isIP(value) === 0 ? 'must be an IPv4 or IPv6 address' : undefined
    case 'tls_client_auth_san_uri':
      return parseUrl(value) === undefined ? 'must be an absolute URI' : undefined
    case 'tls_client_auth_san_email':
      return /^[^@\s]+@[^@\s]+$/.test(value) ? undefined : 'must be an email address'
    default:
      return /^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value)
        ? undefined
        : 'must be a DNS name'
  }
}

/** A readable file path (read when the server starts, see `tls.ts`). */
const filePath = (description: string) =>
  z.string().min(1, 'must not be empty').meta({ description })

/** An HTTP header name (RFC 9110 §5.1 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

// ---------------------------------------------------------------------------------------------
// Building blocks

/** An integer number of seconds, at least `min`. */
function seconds(defaultValue: number, min: number, description: string) {
  return z
    .int('must be an integer number of seconds')
    .min(min, `must be at least ${min}`)
    .default(defaultValue)
    .meta({ description, unit: 'seconds' })
}

/** A list without repeated entries. */
function unique<T extends z.ZodType>(item: T) {
  return z.array(item).superRefine((list, ctx) => {
    list.forEach((value, index) => {
      if (list.indexOf(value) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: `${JSON.stringify(value)} is listed twice`,
        })
      }
    })
  })
}

function oneOf(values: readonly string[]): string {
  return `must be one of ${values.map((value) => JSON.stringify(value)).join(', ')}`
}

const signingAlg = z.enum(SIGNING_ALGS, oneOf(SIGNING_ALGS))
const proofAlg = z.enum(
  ASYMMETRIC_ALGS as [AsymmetricAlg, ...AsymmetricAlg[]],
  oneOf(ASYMMETRIC_ALGS),
)
const tokenFormat = z.enum(['jwt', 'reference'], oneOf(['jwt', 'reference']))
const scopeToken = z
  .string()
  .regex(SCOPE_TOKEN, 'must be a scope token: printable ASCII without space, " or \\')

const jwk = z.record(z.string(), z.unknown()).superRefine((key, ctx) => {
  const problem = jwkProblem(key)
  if (problem) ctx.addIssue({ code: 'custom', message: problem })
})

// ---------------------------------------------------------------------------------------------
// Clients

/** The auth method of a client entry, after its default (which depends on `client_secret`). */
export function effectiveAuthMethod(client: {
  token_endpoint_auth_method?: TokenEndpointAuthMethod | undefined
  client_secret?: string | undefined
}): TokenEndpointAuthMethod {
  return (
    client.token_endpoint_auth_method ??
    (client.client_secret === undefined ? 'none' : 'client_secret_basic')
  )
}

/** A client entry of `clients` (RFC 7591 §2 names). Other metadata is kept as sent. */
export const clientSchema = z
  .looseObject({
    /** The client identifier (RFC 6749 §2.2), unique across `clients`. */
    client_id: z
      .string()
      .min(1, 'must not be empty')
      .meta({ description: 'The client identifier (RFC 6749 §2.2). Unique across `clients`.' }),
    /** The secret of a confidential client; only its SHA-256 is kept once loaded. */
    client_secret: z
      .string()
      .min(16, 'must be at least 16 characters: use a long random secret')
      .optional()
      .meta({
        description:
          'The secret of a confidential client, at least 16 characters of a high-entropy ' +
          'random string. Only its SHA-256 is kept in memory and in the database.',
      }),
    /** A human-readable name, shown on the consent screen. */
    client_name: z
      .string()
      .min(1, 'must not be empty')
      .optional()
      .meta({ description: 'A human-readable name, shown on the consent screen.' }),
    /** How the client authenticates at the token endpoint (RFC 7591 §2). */
    token_endpoint_auth_method: z
      .enum(TOKEN_ENDPOINT_AUTH_METHODS, oneOf(TOKEN_ENDPOINT_AUTH_METHODS))
      .optional()
      .meta({
        description: `How the client authenticates at the token endpoint: ${Object.entries(
          AUTH_METHOD_TEXT,
        )
          .map(([name, text]) => `\`${name}\`: ${text}`)
          .join('; ')}.`,
        defaultText: '`client_secret_basic` with a `client_secret`, else `none`',
      }),
    /** RFC 7591 §2: the default is `["authorization_code"]`. */
    grant_types: unique(z.enum(GRANT_TYPES, oneOf(GRANT_TYPES)))
      .min(1, 'must not be empty')
      .default(['authorization_code'])
      .meta({ description: 'The grant types the client may use (RFC 7591 §2).' }),
    /** Exact redirect URIs (RFC 6749 §3.1.2); required for the code grant. */
    redirect_uris: z
      .array(
        z
          .string()
          .refine(isRedirectUri, 'must be an absolute URL without fragment')
          .meta({ description: 'A redirect URI.' }),
      )
      .default([])
      .meta({
        description:
          'The redirect URIs, compared exactly (RFC 6749 §3.1.2): absolute URLs without ' +
          'fragment. Required (non-empty) when `grant_types` includes `authorization_code`.',
      }),
    /** RFC 7591 §2 `scope`: what the client may ask for. */
    scope: z
      .string()
      .refine(isScopeString, 'must be scope tokens separated by single spaces')
      .optional()
      .meta({
        description:
          'The scopes the client may ask for, space-separated; each must be in the top-level ' +
          '`scopes`.',
        defaultText: 'any scope of `scopes`',
      }),
    /** RFC 7517 §5 JWK Set of the client's public keys. */
    jwks: z
      .looseObject({
        keys: z
          .array(jwk)
          .min(1, 'must not be empty')
          .meta({ description: 'The public keys, as JWKs (RFC 7517 §4).' }),
      })
      .optional()
      .meta({
        description:
          'The client\'s public keys as a JWK Set (`{"keys": [...]}`), for `private_key_jwt` ' +
          'and `self_signed_tls_client_auth`. Public keys only. Not with `jwks_uri`.',
      }),
    /** Where the client publishes its JWK Set. */
    jwks_uri: z
      .string()
      .refine((value) => parseUrl(value)?.protocol === 'https:' && !value.includes('#'), {
        error: 'must be an https URL without fragment',
      })
      .optional()
      .meta({
        description: 'An https URL where the client publishes its JWK Set. Not with `jwks`.',
      }),
    /** How the client's access tokens are bound (keybound's own field). */
    token_binding: z
      .enum(TOKEN_BINDINGS, oneOf(TOKEN_BINDINGS))
      .default('none')
      .meta({
        description: `How the client's access tokens are bound: ${Object.entries(TOKEN_BINDING_TEXT)
          .map(([name, text]) => `\`${name}\`: ${text}`)
          .join('; ')}. \`dpop\` implies \`dpop_bound_access_tokens\`: proofs are required.`,
      }),
    /** RFC 9449 §5.2; implied by `token_binding: "dpop"`. */
    dpop_bound_access_tokens: z
      .boolean()
      .optional()
      .meta({
        description:
          'RFC 9449 §5.2: every token request of the client must carry a DPoP proof. ' +
          'Implied by `token_binding: "dpop"`, and only allowed with it.',
        defaultText: '`false`; `true` when `token_binding` is `dpop`',
      }),
    /** Overrides `accessToken.format` for this client. */
    access_token_format: tokenFormat.optional().meta({
      description: "Overrides the server's `accessToken.format` for this client.",
      defaultText: '`accessToken.format`',
    }),
    /** First-party clients skip the consent screen. */
    first_party: z
      .boolean()
      .default(false)
      .meta({ description: 'A first-party client: its users are not asked for consent.' }),
  })
  .superRefine((client, ctx) => {
    const issue = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message })
    const method = effectiveAuthMethod(client)
    const secret = client.client_secret !== undefined
    const methodText =
      client.token_endpoint_auth_method === undefined
        ? `token_endpoint_auth_method defaults to "${method}"`
        : `token_endpoint_auth_method is "${method}"`

    if (SECRET_AUTH_METHODS.includes(method) && !secret) {
      issue('client_secret', `required when ${methodText}`)
    }
    if (method === 'none' && secret) {
      issue('client_secret', 'must not be set when token_endpoint_auth_method is "none"')
    } else if (!SECRET_AUTH_METHODS.includes(method) && secret) {
      issue(
        'client_secret',
        `is only used by client_secret_basic and client_secret_post, not ${method}`,
      )
    }
    if (KEY_AUTH_METHODS.includes(method) && !client.jwks && !client.jwks_uri) {
      issue('jwks', `${method} needs the client's public keys: set jwks or jwks_uri`)
    }
    if (client.jwks && client.jwks_uri) {
      issue('jwks_uri', 'must not be set together with jwks (RFC 7591 §2)')
    }
    if (method === 'tls_client_auth') {
      const names = TLS_CLIENT_AUTH_NAMES.filter((name) => client[name] !== undefined)
      if (names.length !== 1) {
        issue(
          'token_endpoint_auth_method',
          `tls_client_auth needs exactly one of ${TLS_CLIENT_AUTH_NAMES.join(', ')} ` +
            `(RFC 8705 §2.1.2), found ${names.length}`,
        )
      }
    }
    for (const name of TLS_CLIENT_AUTH_NAMES) {
      const value = client[name]
      if (value === undefined) continue
      if (typeof value !== 'string' || value === '') issue(name, 'must be a non-empty string')
      else {
        const problem = tlsClientAuthNameProblem(name, value)
        if (problem) issue(name, problem)
      }
    }
    if (client.grant_types.includes('client_credentials') && method === 'none') {
      issue(
        'grant_types',
        `client_credentials needs an authenticated client, but ${methodText} (a public client)`,
      )
    }
    if (client.grant_types.includes('authorization_code') && client.redirect_uris.length === 0) {
      issue('redirect_uris', 'required (non-empty) when grant_types includes "authorization_code"')
    }
    if (client.token_binding === 'dpop' && client.dpop_bound_access_tokens === false) {
      issue('dpop_bound_access_tokens', 'cannot be false when token_binding is "dpop"')
    }
    if (client.token_binding !== 'dpop' && client.dpop_bound_access_tokens === true) {
      issue('dpop_bound_access_tokens', 'true needs token_binding "dpop"')
    }
    if (client.introspection !== undefined && typeof client.introspection !== 'boolean') {
      issue('introspection', 'must be a boolean')
    }
    const mtlsBound = client.tls_client_certificate_bound_access_tokens
    if (mtlsBound !== undefined && typeof mtlsBound !== 'boolean') {
      issue('tls_client_certificate_bound_access_tokens', 'must be a boolean')
    } else if (mtlsBound === true && client.token_binding !== 'mtls') {
      issue('tls_client_certificate_bound_access_tokens', 'true needs token_binding "mtls"')
    }
    for (const name of Object.keys(client)) {
      if (RESERVED_CLIENT_FIELDS.has(name)) issue(name, 'is set by keybound, not by the config')
    }
  })
  .meta({
    description:
      'The clients registered at start (replacing those of the previous start). Rules ' +
      'across fields: `client_secret_basic` and `client_secret_post` need `client_secret`; ' +
      '`none` and the key-based methods must not have one; `private_key_jwt` and ' +
      '`self_signed_tls_client_auth` need `jwks` or `jwks_uri`; `tls_client_auth` needs ' +
      'exactly one `tls_client_auth_*` name of the certificate (RFC 8705 §2.1.2); ' +
      '`client_credentials` needs an authenticated client (not `none`); `authorization_code` ' +
      'needs `redirect_uris`; `token_binding: "dpop"` makes DPoP proofs required. Other RFC ' +
      '7591 metadata (e.g. `tls_client_auth_subject_dn`) is kept as sent. `"introspection": ' +
      'true` lets a client (a resource server) introspect the access tokens of every client ' +
      '(RFC 7662); without it a client introspects only its own tokens.',
  })

// ---------------------------------------------------------------------------------------------
// Users

/** A resource owner who can log in at `/authorize`. */
export const userSchema = z
  .strictObject({
    /** The login name, also the `sub` of the user's tokens. */
    username: z
      .string()
      .min(1, 'must not be empty')
      .meta({ description: "The login name, also the `sub` of the user's tokens. Unique." }),
    /** A plain password, hashed with scrypt at load. */
    password: z
      .string()
      .min(8, 'must be at least 8 characters')
      .optional()
      .meta({
        description:
          'The password, at least 8 characters; hashed with scrypt when the file is loaded. ' +
          'Give either `password` or `password_hash`.',
      }),
    /** A hash from `hashPassword` (`scrypt$N$r$p$salt$hash`). */
    password_hash: z
      .string()
      .refine((value) => parseScryptHash(value) !== undefined, {
        error: 'must be a scrypt$N$r$p$salt$hash string (base64url salt and hash)',
      })
      .optional()
      .meta({
        description:
          'The password as a `scrypt$N$r$p$salt$hash` string (base64url salt and hash), so ' +
          'the file holds no plain password.',
      }),
    /** Claims about the user, e.g. `name` and `email`. */
    claims: z
      .record(z.string(), z.unknown())
      .default({})
      .meta({ description: 'Claims about the user, e.g. `name`, `email`.' }),
  })
  .superRefine((user, ctx) => {
    if (user.password === undefined && user.password_hash === undefined) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'set password or password_hash' })
    } else if (user.password !== undefined && user.password_hash !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['password_hash'],
        message: 'set either password or password_hash, not both',
      })
    }
  })
  .meta({ description: 'The users who can log in at `/authorize`.' })

// ---------------------------------------------------------------------------------------------
// The file

/** The whole configuration file. */
export const configSchema = z
  .strictObject({
    /** RFC 8414 §2 issuer identifier: the `iss` of tokens and the metadata's base. */
    issuer: z
      .string()
      .refine(isIssuerUrl, 'must be an absolute http(s) URL without query or fragment')
      .default(DEFAULT_ISSUER)
      .meta({
        description:
          'The issuer identifier (RFC 8414 §2): the `iss` of tokens and the base of the ' +
          'endpoints. An http(s) URL without query or fragment; https outside localhost.',
        defaultText: '`"http://localhost:PORT"` (`port`, or 4000 when it is 0)',
      }),
    /** The address to listen on. */
    host: z
      .string()
      .min(1, 'must not be empty')
      .default('127.0.0.1')
      .meta({ description: 'The address to listen on; `0.0.0.0` or `::` for every interface.' }),
    /** The TCP port to listen on; 0 picks a free one. */
    port: z
      .int('must be an integer')
      .min(0, 'must be between 0 and 65535')
      .max(65535, 'must be between 0 and 65535')
      .default(4000)
      .meta({ description: 'The TCP port to listen on; `0` picks a free one.' }),
    /** Where clients, codes, refresh tokens and keys are stored. */
    database: z
      .string()
      .refine(isDatabaseUrl, 'must be "sqlite:PATH" or a postgres:// or postgresql:// URL')
      .default('sqlite:.keybound/keybound.db')
      .meta({
        description:
          'Where clients, users, codes, tokens and signing keys are stored: `sqlite:PATH` ' +
          '(relative to the working directory) or a `postgres://` / `postgresql://` URL.',
      }),
    /** The server's signing keys, created and rotated automatically. */
    keys: z
      .strictObject({
        /** One key per alg is active at a time; the first signs by default. */
        algs: unique(signingAlg)
          .min(1, 'must not be empty')
          .default(['ES256'])
          .meta({
            description: `The algorithms the server signs tokens with, one active key each; the first is the default. Of ${SIGNING_ALGS.join(', ')}.`,
          }),
        /** How long a key signs before a new one replaces it. */
        rotationPeriod: seconds(
          30 * DAY,
          60,
          'How long a signing key signs before a new one replaces it. The new one is ' +
            'published in `/jwks` a day ahead (half the period when that is shorter), so ' +
            'that every instance and resource server knows it before it signs.',
        ),
        /** Must cover the lifetime of the tokens a retired key signed. */
        retention: seconds(
          7 * DAY,
          0,
          'How long a retired key stays published in `/jwks`, so the tokens it signed can ' +
            'still be verified: at least `accessToken.ttl`.',
        ),
      })
      .prefault({})
      .meta({ description: 'The signing keys, created and rotated by the server.' }),
    /** Access tokens (RFC 6749 §1.4). */
    accessToken: z
      .strictObject({
        /** JWT (RFC 9068) or a reference resolved by introspection (RFC 7662). */
        format: tokenFormat.default('jwt').meta({
          description:
            'A self-contained JWT (RFC 9068), or a random reference the resource server ' +
            'resolves by introspection (RFC 7662) and that can be revoked.',
        }),
        /** Lifetime of an access token. */
        ttl: seconds(600, 1, 'The lifetime of an access token.'),
        /** RFC 9068 §3 `aud` when the request names no `resource` (RFC 8707). */
        audience: z
          .string()
          .refine(
            (value) => parseUrl(value) !== undefined && !value.includes('#'),
            'must be an absolute URI without fragment',
          )
          .optional()
          .meta({
            description:
              'The `aud` of access tokens whose request names no `resource` (RFC 8707): ' +
              'an absolute URI without fragment.',
            defaultText: '`issuer`',
          }),
      })
      .prefault({})
      .meta({ description: 'Access tokens.' }),
    /** Refresh tokens (RFC 6749 §1.5). */
    refreshToken: z
      .strictObject({
        /** Lifetime of a refresh token. */
        ttl: seconds(14 * DAY, 1, 'The lifetime of a refresh token.'),
        /** A used refresh token is replaced; reusing it revokes the whole grant. */
        rotation: z
          .boolean()
          .default(true)
          .meta({
            description:
              'Each refresh returns a new refresh token and retires the old one; reusing a ' +
              'retired one revokes the whole grant (RFC 9700 §4.14.2).',
          }),
      })
      .prefault({})
      .meta({ description: 'Refresh tokens.' }),
    /** Authorization codes (RFC 6749 §4.1.2). */
    authorizationCode: z
      .strictObject({
        /** RFC 6749 §4.1.2 recommends at most 10 minutes. */
        ttl: seconds(60, 1, 'The lifetime of an authorization code.'),
      })
      .prefault({})
      .meta({ description: 'Authorization codes.' }),
    /** Pushed authorization requests (RFC 9126). */
    par: z
      .strictObject({
        /** Lifetime of a `request_uri`. */
        ttl: seconds(60, 1, 'The lifetime of a `request_uri` (RFC 9126 §2.2).'),
        /** RFC 9126 §5: `require_pushed_authorization_requests`. */
        required: z
          .boolean()
          .default(false)
          .meta({
            description:
              'Every authorization request must be pushed first (RFC 9126 §5 ' +
              '`require_pushed_authorization_requests`).',
          }),
      })
      .prefault({})
      .meta({ description: 'Pushed authorization requests (RFC 9126).' }),
    /** DPoP proof verification (RFC 9449). */
    dpop: dpopSection({
      defaultAlgs: ASYMMETRIC_ALGS,
      algsAre: 'announced in the metadata as `dpop_signing_alg_values_supported` (RFC 9449 §5.1)',
      nonceFrom: 'the server provides (RFC 9449 §8)',
    }),
    ...replayCacheFields('used proofs'),
    /** The scopes the server knows. */
    scopes: unique(scopeToken)
      .default(['read', 'write'])
      .meta({ description: 'The scopes the server knows (`scopes_supported`).' }),
    /** The configured clients. */
    clients: z.array(clientSchema).default([]),
    /** The configured users. */
    users: z.array(userSchema).default([]),
    /** Dynamic client registration (RFC 7591). */
    registration: z
      .strictObject({
        /** Serve `/register`. */
        enabled: z
          .boolean()
          .default(false)
          .meta({ description: 'Serve the registration endpoint `/register` (RFC 7591).' }),
        /** RFC 7591 §3: the bearer token that protects `/register`. */
        initialAccessToken: z
          .string()
          .min(16, 'must be at least 16 characters: use a long random token')
          .optional()
          .meta({
            description:
              'The initial access token (RFC 7591 §3) a registration request must present ' +
              'as a bearer token; at least 16 characters.',
            defaultText: 'none: registration is open to anyone',
          }),
      })
      .prefault({})
      .meta({
        description:
          "Dynamic client registration (RFC 7591). A registered client's `jwks_uri` is " +
          'fetched from public addresses only (not loopback, private, link-local or other ' +
          'special-purpose ranges, checked on the DNS answer at connect time): a client whose ' +
          'keys are on your own network belongs in `clients`.',
      }),
    /** The HTTPS listener for mutual TLS (RFC 8705). */
    tls: z
      .strictObject({
        /** The TCP port of the HTTPS listener. */
        port: z
          .int('must be an integer')
          .min(0, 'must be between 0 and 65535')
          .max(65535, 'must be between 0 and 65535')
          .default(4443)
          .meta({
            description:
              'The TCP port of the HTTPS listener; `0` picks a free one (then set ' +
              '`mtls.endpointBaseUrl`).',
          }),
        /** The address of the HTTPS listener. */
        host: z
          .string()
          .min(1, 'must not be empty')
          .optional()
          .meta({ description: 'The address of the HTTPS listener.', defaultText: '`host`' }),
        /** PEM file of the server certificate (and its chain). */
        cert: filePath(
          "The server's certificate, followed by any intermediates: a PEM file (relative to " +
            'the working directory).',
        ),
        /** PEM file of the server's private key. */
        key: filePath("The server certificate's private key: a PEM file (PKCS #8 or PKCS #1)."),
        /** The CAs `tls_client_auth` certificates must chain to. */
        ca: filePath(
          'The CA certificates (a PEM file, one or more) that `tls_client_auth` client ' +
            'certificates must chain to (RFC 8705 §2.1). Without it no certificate passes ' +
            '`tls_client_auth` on this listener; self-signed certificates and certificate-bound ' +
            'tokens work either way.',
        ).optional(),
        /** Whether the listener asks for client certificates. */
        clientCertificates: z
          .enum(['optional'], oneOf(['optional']))
          .default('optional')
          .meta({
            description:
              'The listener asks every client for a certificate and accepts connections ' +
              'without one (or with one that does not chain to `ca`): the endpoints decide ' +
              'what they need.',
          }),
      })
      .optional()
      .meta({
        description:
          'A second, HTTPS listener serving the same endpoints, which asks for TLS client ' +
          'certificates (RFC 8705): its URLs are the `mtls_endpoint_aliases` of the metadata. ' +
          'Not set: no HTTPS listener (behind a TLS-terminating proxy, see ' +
          '`mtls.certificateHeader`).',
        defaultText: 'none: no HTTPS listener',
      }),
    /** Mutual TLS client authentication and certificate-bound tokens (RFC 8705). */
    mtls: z
      .strictObject({
        /** Bind every token whose request came with a certificate (Duende's AlwaysEmitConfirmationClaim). */
        alwaysEmitConfirmation: z
          .boolean()
          .default(false)
          .meta({
            description:
              'Bind the access token to the client certificate whenever the token request ' +
              "presents one (`cnf.x5t#S256`, RFC 8705 §3), whatever the client's " +
              '`token_binding` (except `dpop`, whose proof wins) and however it authenticated. ' +
              'Without it, only clients with `token_binding: "mtls"` get certificate-bound tokens.',
          }),
        /** The header a TLS-terminating proxy forwards the client certificate in. */
        certificateHeader: z
          .strictObject({
            /** The proxy's format. */
            format: z.enum(CERTIFICATE_HEADER_FORMATS, oneOf(CERTIFICATE_HEADER_FORMATS)).meta({
              description:
                'How the proxy writes the certificate: `rfc9440` (`Client-Cert: :base64-DER:`, ' +
                'with `Client-Cert-Chain`), `nginx` (`$ssl_client_escaped_cert`, URL-encoded ' +
                'PEM), `apache` (`SSL_CLIENT_CERT`, PEM), `iis` (`X-ARR-ClientCert`, base64 ' +
                'DER), `envoy` (`x-forwarded-client-cert`, its `Cert=`), `traefik` ' +
                '(`X-Forwarded-Tls-Client-Cert`), `haproxy` (`ssl_c_der,base64`).',
            }),
            /** The header name. */
            name: z
              .string()
              .regex(HEADER_NAME, 'must be an HTTP header name')
              .optional()
              .meta({
                description: 'The header name.',
                defaultText:
                  '`client-cert` (rfc9440), `x-ssl-client-cert` (nginx, haproxy), ' +
                  '`ssl_client_cert` (apache), `x-arr-clientcert` (iis), ' +
                  '`x-forwarded-client-cert` (envoy), `x-forwarded-tls-client-cert` (traefik)',
              }),
            /** The CAs forwarded `tls_client_auth` certificates must chain to. */
            ca: filePath(
              'The CA certificates (a PEM file) that forwarded certificates must chain to for ' +
                '`tls_client_auth`, checked here again after the proxy.',
            )
              .optional()
              .meta({ defaultText: '`tls.ca`' }),
          })
          .optional()
          .meta({
            description:
              'Behind a TLS-terminating proxy: the header the proxy forwards the client ' +
              'certificate in. It is believed only from the peers of `trustProxy`; from anyone ' +
              'else it is ignored (and logged).',
            defaultText: 'none: certificates come from the `tls` listener only',
          }),
        /** The base of the `mtls_endpoint_aliases`. */
        endpointBaseUrl: z
          .string()
          .refine(
            (value) => parseUrl(value)?.protocol === 'https:' && isIssuerUrl(value),
            'must be an https URL without query or fragment',
          )
          .optional()
          .meta({
            description:
              'The base URL of the `mtls_endpoint_aliases` (RFC 8705 §5): the token, PAR, ' +
              'introspection and revocation endpoints are at this URL followed by `/token` ' +
              'and so on. Set it when a proxy serves the mTLS endpoints on another host.',
            defaultText:
              '`https://<issuer host>:<tls.port><issuer path>` with `tls`, else no aliases',
          }),
      })
      .prefault({})
      .meta({ description: 'Mutual TLS (RFC 8705): client authentication and bound tokens.' }),
    /** Fastify's `trustProxy`. */
    trustProxy: z
      .union(
        [
          z.boolean(),
          z.int().min(0),
          z.array(
            z.string().refine(isProxyAddress, 'must be an IP address, a CIDR range or loopback'),
          ),
        ],
        {
          error: 'must be true, false, a number of hops, or a list of IP addresses and CIDR ranges',
        },
      )
      .default(false)
      .meta({
        description:
          'Which proxies to believe about the client address and protocol ' +
          '(`X-Forwarded-*`): `false`, `true` (any), a number of hops, or a list of IP ' +
          'addresses, CIDR ranges and `loopback`/`linklocal`/`uniquelocal`.',
      }),
    /** Logging. */
    log: z
      .strictObject({
        /** Pino level. */
        level: z
          .enum(LOG_LEVELS, oneOf(LOG_LEVELS))
          .default('info')
          .meta({ description: 'The least severe level logged.' }),
      })
      .prefault({})
      .meta({ description: 'Logging.' }),
    /** Demo mode; `keybound serve` without `--config` turns it on. */
    demo: z
      .boolean()
      .default(false)
      .meta({
        description:
          'Demo mode, for trying keybound out on one machine, never for production. On when ' +
          '`keybound serve` runs without `--config`.',
      }),
  })
  .superRefine((config, ctx) => {
    const firstIndex = new Map<string, number>()
    config.clients.forEach((client, index) => {
      const first = firstIndex.get(client.client_id)
      if (first === undefined) firstIndex.set(client.client_id, index)
      else {
        ctx.addIssue({
          code: 'custom',
          path: ['clients', index, 'client_id'],
          message: `duplicate client_id ${JSON.stringify(client.client_id)} (also clients[${first}])`,
        })
      }
      for (const token of client.scope?.split(' ') ?? []) {
        if (isScopeString(token) && !config.scopes.includes(token)) {
          ctx.addIssue({
            code: 'custom',
            path: ['clients', index, 'scope'],
            message: `unknown scope ${JSON.stringify(token)} (scopes: ${config.scopes.join(', ')})`,
          })
        }
      }
    })
    const firstUser = new Map<string, number>()
    config.users.forEach((user, index) => {
      const first = firstUser.get(user.username)
      if (first === undefined) firstUser.set(user.username, index)
      else {
        ctx.addIssue({
          code: 'custom',
          path: ['users', index, 'username'],
          message: `duplicate username ${JSON.stringify(user.username)} (also users[${first}])`,
        })
      }
    })
    if (config.tls && config.tls.port !== 0 && config.tls.port === config.port) {
      const tlsHost = config.tls.host ?? config.host
      if (tlsHost === config.host) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls', 'port'],
          message: `must differ from port (${config.port}): the HTTPS listener is a second listener`,
        })
      }
    }
    if (config.tls?.port === 0 && config.mtls.endpointBaseUrl === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'port'],
        message:
          '0 (a free port) needs mtls.endpointBaseUrl: the mtls_endpoint_aliases must be known ' +
          'before the server listens',
      })
    }
    if (config.keys.retention < config.accessToken.ttl) {
      ctx.addIssue({
        code: 'custom',
        path: ['keys', 'retention'],
        message: `must be at least accessToken.ttl (${config.accessToken.ttl}), or tokens signed by a retired key could not be verified`,
      })
    }
  })

/** The file as written (every option optional). */
export type ConfigInput = z.input<typeof configSchema>
/** The file after validation and defaults, before `load.ts` hashes secrets and passwords. */
export type ParsedConfig = z.output<typeof configSchema>
export type ClientEntry = z.output<typeof clientSchema>
export type UserEntry = z.output<typeof userSchema>

/**
 * An example file, shown in `docs/configuration.md` (and checked against the schema by the
 * test suite). The secrets are examples: never reuse them.
 */
export const CONFIG_EXAMPLE = {
  issuer: 'https://auth.example.com',
  host: '0.0.0.0',
  port: 4000,
  database: 'postgres://keybound:change-me@db.internal:5432/keybound',
  keys: { algs: ['ES256', 'PS256'], rotationPeriod: 30 * DAY, retention: 7 * DAY },
  accessToken: { format: 'jwt', ttl: 10 * MINUTE },
  refreshToken: { ttl: 14 * DAY, rotation: true },
  dpop: {
    nonce: 'required',
    nonceSecret: 'q3Vb0Z5mJ1w7yXkQ2nT8sR4uH6pL9cA0eF1gD3iK5oM',
  },
  replayCache: 'rediss://cache.internal:6380',
  scopes: ['read', 'write', 'admin'],
  clients: [
    {
      client_id: 'web-app',
      client_name: 'Example web app',
      client_secret: 'replace-with-32-random-characters',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example.com/callback'],
      scope: 'read write',
      token_binding: 'dpop',
      first_party: true,
    },
    {
      client_id: 'spa',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://spa.example.com/callback'],
      scope: 'read',
      token_binding: 'dpop',
    },
    {
      client_id: 'billing-service',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: 'CN=billing-service,O=Example',
      grant_types: ['client_credentials'],
      token_binding: 'mtls',
      access_token_format: 'reference',
    },
  ],
  users: [
    {
      username: 'alice',
      password: 'correct horse battery staple',
      claims: { name: 'Alice', email: 'alice@example.com' },
    },
  ],
  registration: { enabled: true, initialAccessToken: 'replace-with-a-long-random-token' },
  // Behind nginx (in 10.0.0.0/8), which forwards the client certificate (RFC 8705).
  mtls: {
    certificateHeader: { format: 'nginx', ca: '/etc/keybound/client-ca.pem' },
    alwaysEmitConfirmation: true,
  },
  trustProxy: ['10.0.0.0/8'],
  log: { level: 'info' },
} satisfies ConfigInput
