/**
 * @module resource/gateway/config
 *
 * The configuration of `keybound gateway`: its own small schema (the authorization server's
 * `keybound serve` file is another one), with a documented default for every option. A mistake
 * is reported with the dotted path of the option (`dpop.nonce: must be one of "off",
 * "required"`), every problem at once. Command-line flags are merged over the file before it is
 * validated, so a flag is checked exactly like the option it overrides.
 *
 * Conventions, as in the server's file: camelCase names; durations in **seconds** (fractions
 * allowed for the timeouts); unknown options are errors.
 */

import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { z } from 'zod'
import { CERTIFICATE_HEADER_FORMATS } from '../../bindings/mtls/certificate-header.js'
import { POP_PARTS } from '../../bindings/pop/verify.js'
import {
  ConfigError,
  describeValue,
  locateJsonError,
  toConfigIssues,
  zodIssueMessage,
} from '../../config/load.js'
import { dpopSection, isIssuerUrl, LOG_LEVELS, replayCacheFields } from '../../config/schema.js'
import { encodeBase64url } from '../../jose/base64url.js'
import { parseJsonObject } from '../../jose/strict-json.js'
import { DEFAULT_DPOP_ALGS } from '../options.js'
import { compileTrustProxy } from '../request-url.js'

/** What the gateway does: proxy to `upstream`, answer forward-auth sub-requests, or both. */
export const GATEWAY_MODES = ['proxy', 'forward-auth', 'both'] as const
export type GatewayMode = (typeof GATEWAY_MODES)[number]

/** The identity headers sent upstream (and in forward-auth answers), by default. */
export const DEFAULT_IDENTITY_HEADERS = {
  subject: 'X-Keybound-Subject',
  clientId: 'X-Keybound-Client-Id',
  scope: 'X-Keybound-Scope',
  binding: 'X-Keybound-Binding',
  jkt: 'X-Keybound-Jkt',
  certThumbprint: 'X-Keybound-Cert-Thumbprint',
} as const

/**
 * Names an identity header may not take: the gateway sets or strips these itself (framing,
 * credentials, RFC 9110 §7.6.1 hop-by-hop fields, RFC 7239 forwarding fields).
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'connection',
  'content-length',
  'content-type',
  'cookie',
  'dpop',
  'dpop-nonce',
  'expect',
  'forwarded',
  'host',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'set-cookie',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'www-authenticate',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-method',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-proto',
  'x-forwarded-uri',
  'x-original-method',
  'x-original-uri',
])

/** Named address ranges `trustProxy` accepts, as their CIDRs (the names of Fastify's `proxy-addr`). */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

function oneOf(values: readonly string[]): string {
  return `must be one of ${values.map((value) => JSON.stringify(value)).join(', ')}`
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/** An http(s) URL without query, fragment or credentials. */
function isBaseUrl(value: string): boolean {
  const url = parseUrl(value)
  return (
    url !== undefined &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.username === '' &&
    url.password === '' &&
    !value.includes('?') &&
    !value.includes('#')
  )
}

/** An https URL, or http on a loopback host (what the verifier accepts for its own fetches). */
function isHttpsOrLoopback(value: string): boolean {
  const url = parseUrl(value)
  if (url === undefined || !isBaseUrl(value)) return false
  return url.protocol === 'https:' || /^(localhost|127\.[\d.]+|\[::1\])$/.test(url.hostname)
}

/** An IP address, a CIDR range, or one of {@link NAMED_RANGES}. */
function isProxyEntry(value: string): boolean {
  if (Object.hasOwn(NAMED_RANGES, value) || isIP(value) !== 0) return true
  try {
    compileTrustProxy([value])
    return true
  } catch {
    return false
  }
}

/** RFC 9110 §5.1 field-name: a token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A duration in seconds; fractions allowed (timeouts are turned into milliseconds). */
function duration(defaultValue: number, description: string) {
  return z
    .number('must be a number of seconds')
    .positive('must be more than 0')
    .max(86_400, 'must be at most 86400 (a day)')
    .default(defaultValue)
    .meta({ description, unit: 'seconds' })
}

function headerName(defaultValue: string, description: string) {
  return z
    .string()
    .regex(TOKEN, "must be an HTTP field name (letters, digits and !#$%&'*+-.^_`|~)")
    .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), {
      error: 'is a field the gateway sets or strips itself; choose another name',
    })
    .default(defaultValue)
    .meta({ description })
}

/** A path of the gateway itself: `/` and more, no query, no fragment. */
const ownPath = z
  .string()
  .regex(/^\/[^?#\s]*$/, 'must be a path starting with "/", without query or fragment')

/** The `keybound gateway` configuration file. */
export const gatewayConfigSchema = z
  .strictObject({
    mode: z
      .enum(GATEWAY_MODES, oneOf(GATEWAY_MODES))
      .default('proxy')
      .meta({
        description:
          '`proxy`: verify every request and forward it to `upstream`. `forward-auth`: only ' +
          'answer the sub-requests of a proxy that asks before forwarding (nginx ' +
          '`auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`) at ' +
          '`paths.forwardAuth`. `both`: the two.',
      }),
    upstream: z
      .string()
      .refine(isBaseUrl, 'must be an http:// or https:// URL without query or fragment')
      .optional()
      .meta({
        description:
          'The service requests are forwarded to, e.g. `http://127.0.0.1:3000`. A path ' +
          '(`http://10.0.0.5:8080/api`) is put before the path of every request. Required in ' +
          'the `proxy` and `both` modes.',
      }),
    issuer: z
      .string()
      .refine(isIssuerUrl, 'must be an absolute http(s) URL without query or fragment')
      .meta({
        description:
          "The authorization server's issuer identifier: tokens' `iss` must equal it (RFC " +
          '9068 §4); its RFC 8414 metadata gives `jwks_uri` and `introspection_endpoint`.',
      }),
    audience: z
      .union([z.string().min(1, 'must not be empty'), z.array(z.string().min(1)).min(1)], {
        error: 'must be a non-empty string or a non-empty list of strings',
      })
      .optional()
      .meta({
        description:
          "This resource's identifier(s): a token's `aud` must contain one (RFC 9068 §4). " +
          'Required unless `publicUrl` is set. With keybound as the authorization server, ' +
          'it is its `accessToken.audience`, or the `resource` (RFC 8707) a client asks for.',
        defaultText: '`publicUrl`',
      }),
    host: z
      .string()
      .min(1, 'must not be empty')
      .default('127.0.0.1')
      .meta({ description: 'The address to listen on; `0.0.0.0` or `::` for every interface.' }),
    port: z
      .int('must be an integer')
      .min(0, 'must be between 0 and 65535')
      .max(65535, 'must be between 0 and 65535')
      .default(4100)
      .meta({ description: 'The TCP port to listen on; `0` picks a free one.' }),
    publicUrl: z
      .string()
      .refine(isBaseUrl, 'must be an http:// or https:// URL without query or fragment')
      .optional()
      .meta({
        description:
          "The gateway's external base URL, e.g. `https://api.example.com`: the `htu` of " +
          'DPoP proofs is checked against it (RFC 9449 §4.3), and it is sent upstream as ' +
          '`X-Forwarded-Proto`/`-Host`. A path (`https://example.com/api`) is put before ' +
          'the request path (in forward-auth only the origin is used: the original URI is ' +
          'complete).',
        defaultText:
          'the `Host` of each request (and `X-Forwarded-Proto`/`-Host`/`Forwarded` from a ' +
          '`trustProxy` peer)',
      }),
    trustProxy: z
      .union(
        [
          z.boolean(),
          z.array(
            z
              .string()
              .refine(
                isProxyEntry,
                'must be an IP address, a CIDR range, or loopback, linklocal, uniquelocal',
              ),
          ),
        ],
        { error: 'must be true, false, or a list of IP addresses and CIDR ranges' },
      )
      .default(false)
      .meta({
        description:
          'The proxies in front of the gateway whose `Forwarded`/`X-Forwarded-*` fields (RFC ' +
          '7239) are believed, and the only peers whose forward-auth sub-requests are ' +
          'answered: a list of IP addresses, CIDR ranges and `loopback`/`linklocal`/' +
          '`uniquelocal`, or `true` (any peer: only when nothing else can reach the gateway). ' +
          'Required (not `false`) in the `forward-auth` and `both` modes.',
      }),
    jwksUri: z
      .string()
      .refine(isHttpsOrLoopback, 'must be an https URL (http only on localhost)')
      .optional()
      .meta({
        description: "The issuer's JWK Set.",
        defaultText: "`jwks_uri` of the issuer's metadata",
      }),
    introspection: z
      .strictObject({
        endpoint: z
          .string()
          .refine(isHttpsOrLoopback, 'must be an https URL (http only on localhost)')
          .optional()
          .meta({
            description: 'The introspection endpoint.',
            defaultText: "`introspection_endpoint` of the issuer's metadata",
          }),
        clientId: z
          .string()
          .min(1, 'must not be empty')
          .meta({ description: "The gateway's client id at the authorization server." }),
        clientSecret: z
          .string()
          .min(1, 'must not be empty')
          .meta({ description: 'Its secret (`client_secret_basic`).' }),
        cacheTtl: z
          .int('must be an integer number of seconds')
          .min(0, 'must be at least 0')
          .default(30)
          .meta({
            description: "How long an active answer is reused, never past the token's `exp`.",
            unit: 'seconds',
          }),
      })
      .optional()
      .meta({
        description:
          'Resolve opaque (reference) tokens by RFC 7662 introspection. Without it, only JWT ' +
          'access tokens (RFC 9068) are accepted.',
      }),
    clockTolerance: z
      .int('must be an integer number of seconds')
      .min(0, 'must be at least 0')
      .default(5)
      .meta({
        description: "Clock skew tolerated on the token's `exp`, `nbf` and `iat`.",
        unit: 'seconds',
      }),
    dpop: dpopSection({
      defaultAlgs: DEFAULT_DPOP_ALGS,
      algsAre: 'announced in `WWW-Authenticate` (RFC 9449 §7.1)',
      nonceFrom: 'the gateway provides (RFC 9449 §9)',
    }),
    pop: z
      .strictObject({
        required: z
          .array(z.enum(POP_PARTS, oneOf(POP_PARTS)))
          .default([])
          .meta({
            description:
              'The request parts a signed request (PoP, `cnf.jwk`) must cover: `m` method, `u` ' +
              'host, `p` path, `q` query, `h` headers, `b` body. Empty: `at` and `ts` only, ' +
              "IdentityModel's default; recommended `m`, `u`, `p`, `q`, `b`. A part " +
              'signed but not required is still checked.',
          }),
        window: z
          .int('must be an integer number of seconds')
          .min(1, 'must be at least 1')
          .default(300)
          .meta({ description: 'How far `ts` may be from now, both ways.', unit: 'seconds' }),
        compat: z
          .boolean()
          .default(false)
          .meta({
            description:
              "IdentityModel.Owin.PopAuthentication's semantics: the covered parts must be " +
              'exactly `required`, the host is compared without its port.',
          }),
        headerNames: z
          .array(
            z
              .string()
              .regex(TOKEN, 'must be an HTTP field name')
              .refine((name) => name === name.toLowerCase(), 'must be lower-case'),
          )
          .optional()
          .meta({ description: 'Header names every signature must cover (with `h` required).' }),
        queryNames: z
          .array(z.string().min(1))
          .optional()
          .meta({ description: 'With `compat`: the query parameter names validated.' }),
        maxBody: z
          .int('must be an integer number of bytes')
          .min(0, 'must be at least 0')
          .default(1024 * 1024)
          .meta({
            description:
              'The largest body the gateway buffers to check a signature that covers it ' +
              '(413 past it); other bodies are streamed.',
            unit: 'bytes',
          }),
      })
      .optional()
      .meta({
        description:
          'Signed requests (PoP tokens, draft-ietf-oauth-signed-http-request): their policy. ' +
          'With this section the `PoP` scheme is offered in challenges; without it a token ' +
          'bound with `cnf.jwk` is still verified, with the defaults.',
      }),
    ...replayCacheFields('used proofs and signatures'),
    allowBearer: z.boolean().default(false).meta({
      description: 'Accept tokens with no binding (`cnf`) as plain `Bearer` tokens.',
    }),
    requireBinding: z
      .boolean()
      .default(false)
      .meta({
        description:
          'Refuse every token that is not sender-constrained (the default already refuses ' +
          'unbound tokens unless `allowBearer`). Not with `allowBearer`.',
      }),
    realm: z
      .string()
      .optional()
      .meta({ description: 'The `realm` of the `WWW-Authenticate` challenges (RFC 6750 §3).' }),
    tls: z
      .strictObject({
        cert: z
          .string()
          .min(1)
          .meta({ description: "The gateway's certificate chain, a PEM file." }),
        key: z.string().min(1).meta({ description: 'Its private key, a PEM file.' }),
        ca: z
          .string()
          .min(1)
          .optional()
          .meta({
            description:
              'PEM file of the CAs a client certificate is checked against, for the log only: a ' +
              'certificate-bound token is bound to the certificate itself, whose key the TLS ' +
              'handshake proved (RFC 8705 §3), whoever issued it.',
          }),
      })
      .optional()
      .meta({
        description:
          'Terminate TLS: listen with HTTPS, asking every client for a certificate without ' +
          'requiring one, so that certificate-bound tokens (RFC 8705 §3) can be checked.',
      }),
    certificateHeader: z
      .strictObject({
        format: z.enum(CERTIFICATE_HEADER_FORMATS).meta({
          description:
            'How the TLS-terminating proxy in front forwards the client certificate: `rfc9440` ' +
            '(`Client-Cert`), `nginx`, `apache`, `iis`, `envoy`, `traefik`, `haproxy`.',
        }),
        name: z.string().regex(TOKEN, 'must be an HTTP field name').optional().meta({
          description: "The header's name, when not the format's usual one.",
        }),
      })
      .optional()
      .meta({
        description:
          'Behind a TLS-terminating proxy: read the client certificate from this header, only ' +
          'from `trustProxy` peers (from anyone else it is ignored and logged).',
      }),
    headers: z
      .strictObject({
        subject: headerName(DEFAULT_IDENTITY_HEADERS.subject, "The token's `sub`."),
        clientId: headerName(DEFAULT_IDENTITY_HEADERS.clientId, "The token's `client_id`."),
        scope: headerName(
          DEFAULT_IDENTITY_HEADERS.scope,
          "The token's scopes, separated by single spaces.",
        ),
        binding: headerName(
          DEFAULT_IDENTITY_HEADERS.binding,
          'How the token was bound: `dpop`, `mtls`, `pop` or `bearer`.',
        ),
        jkt: headerName(
          DEFAULT_IDENTITY_HEADERS.jkt,
          "The DPoP key's RFC 7638 thumbprint (`cnf.jkt`), for a DPoP-bound token.",
        ),
        certThumbprint: headerName(
          DEFAULT_IDENTITY_HEADERS.certThumbprint,
          "The certificate's thumbprint (`cnf.x5t#S256`), for a certificate-bound token.",
        ),
        forwardAuthorization: z
          .boolean()
          .default(false)
          .meta({
            description:
              'Pass the verified `Authorization` field on to the upstream. Off: the upstream ' +
              'gets the identity headers, never the token.',
          }),
      })
      .prefault({})
      .meta({
        description:
          'The headers that carry the verified identity upstream (and in forward-auth ' +
          "answers). A client's own copies of them are removed, whatever their case and " +
          'however often they are repeated.',
      }),
    paths: z
      .strictObject({
        metrics: z
          .union([ownPath, z.literal(false)], {
            error: 'must be a path starting with "/", or false',
          })
          .default('/metrics')
          .meta({
            description: 'Where the gateway answers Prometheus metrics; `false` turns it off.',
          }),
        health: z
          .union([ownPath, z.literal(false)], {
            error: 'must be a path starting with "/", or false',
          })
          .default('/healthz')
          .meta({
            description:
              'Where the gateway answers `200 {"status":"ok"}` (503 while shutting down); ' +
              '`false` turns it off.',
          }),
        forwardAuth: ownPath.default('/_keybound/auth').meta({
          description:
            'Where forward-auth sub-requests are answered (modes `forward-auth`, `both`).',
        }),
      })
      .prefault({})
      .meta({
        description:
          "The gateway's own endpoints. They are answered by the gateway, never proxied (so " +
          'they hide upstream paths of the same name), and need no token.',
      }),
    timeouts: z
      .strictObject({
        connect: duration(5, 'To open a connection to the upstream (then 504).'),
        upstream: duration(
          60,
          "From the request sent upstream to the upstream's response headers (then 504).",
        ),
        idle: duration(
          60,
          'The longest silence on a connection, from the client or in the upstream body ' +
            '(then the connection is closed).',
        ),
        request: duration(300, 'The longest a client may take to send a whole request.'),
        verifier: duration(
          5,
          'Each request to the issuer: metadata, JWK Set, introspection (then 503).',
        ),
        shutdown: duration(
          10,
          'On SIGTERM or SIGINT, how long requests in flight may take to finish.',
        ),
      })
      .prefault({})
      .meta({ description: 'Timeouts.' }),
    log: z
      .strictObject({
        level: z
          .enum(LOG_LEVELS, oneOf(LOG_LEVELS))
          .default('info')
          .meta({
            description:
              'The least severe level logged (JSON lines on stdout): `info` logs every ' +
              'request, `warn` refusals and upstream failures.',
          }),
      })
      .prefault({})
      .meta({ description: 'Logging.' }),
  })
  .superRefine((config, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message })
    if (config.mode !== 'forward-auth' && config.upstream === undefined) {
      issue(['upstream'], `required when mode is "${config.mode}"`)
    }
    if (config.audience === undefined && config.publicUrl === undefined) {
      issue(
        ['audience'],
        "required unless publicUrl is set (a token's aud must name this resource, RFC 9068 §4)",
      )
    }
    if (config.mode !== 'proxy' && config.trustProxy === false) {
      issue(
        ['trustProxy'],
        `required when mode is "${config.mode}": list the proxies whose forward-auth requests are answered`,
      )
    }
    if (config.allowBearer && config.requireBinding) {
      issue(['allowBearer'], 'must be false when requireBinding is true')
    }
    if (config.certificateHeader !== undefined && config.trustProxy === false) {
      issue(['trustProxy'], 'required with certificateHeader: list the proxies it is read from')
    }
    const names = new Map<string, string>()
    for (const [key, value] of Object.entries(config.headers)) {
      if (typeof value !== 'string') continue
      const other = names.get(value.toLowerCase())
      if (other) issue(['headers', key], `is the same field as headers.${other}`)
      else names.set(value.toLowerCase(), key)
    }
    const paths = new Map<string, string>()
    for (const [key, value] of Object.entries(config.paths)) {
      if (value === false || (key === 'forwardAuth' && config.mode === 'proxy')) continue
      const other = paths.get(value)
      if (other) issue(['paths', key], `is the same path as paths.${other}`)
      else paths.set(value, key)
    }
  })

/** The file as written. */
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>
/** The configuration after validation, with every default applied. */
export type GatewayConfig = Omit<z.output<typeof gatewayConfigSchema>, 'audience'> & {
  /** `audience`, or `[publicUrl]`. */
  audience: string[]
  /** `trustProxy` with named ranges expanded to CIDRs. */
  trustProxy: boolean | string[]
}

/** What flags may override: the options of the same names. */
export interface GatewayOverrides {
  mode?: string
  upstream?: string
  issuer?: string
  audience?: string[]
  host?: string
  port?: number
  publicUrl?: string
  trustProxy?: boolean | string[]
  logLevel?: string
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The flags, placed where the options they override live. */
function applyOverrides(input: Record<string, unknown>, overrides: GatewayOverrides) {
  const out: Record<string, unknown> = { ...input }
  const top = ['mode', 'upstream', 'issuer', 'audience', 'host', 'port', 'publicUrl', 'trustProxy']
  for (const key of top) {
    const value = overrides[key as keyof GatewayOverrides]
    if (value !== undefined) out[key] = value
  }
  if (overrides.logLevel !== undefined) {
    out.log = { ...(isPlainObject(input.log) ? input.log : {}), level: overrides.logLevel }
  }
  return out
}

/**
 * Validates a configuration object, with `overrides` (the flags) merged over it.
 *
 * @returns the configuration, every default applied, and warnings (valid but probably not
 *   meant), each starting with the dotted path of the option.
 * @throws {ConfigError} listing every problem.
 */
export function parseGatewayConfig(
  input: unknown,
  overrides: GatewayOverrides = {},
): { config: GatewayConfig; warnings: string[] } {
  if (!isPlainObject(input)) {
    throw new ConfigError([{ path: '', message: `must be an object, not ${describeValue(input)}` }])
  }
  const result = gatewayConfigSchema.safeParse(applyOverrides(input, overrides), {
    reportInput: false,
    error: (issue) => zodIssueMessage(issue),
  })
  if (!result.success) {
    throw new ConfigError(toConfigIssues(result.error.issues, 'docs/resource/gateway.md'))
  }
  const parsed = result.data
  const warnings: string[] = []
  const trustProxy = Array.isArray(parsed.trustProxy)
    ? parsed.trustProxy.flatMap((entry) => NAMED_RANGES[entry] ?? [entry])
    : parsed.trustProxy
  const audience =
    parsed.audience === undefined
      ? [parsed.publicUrl as string]
      : typeof parsed.audience === 'string'
        ? [parsed.audience]
        : parsed.audience
  const config: GatewayConfig = { ...parsed, dpop: { ...parsed.dpop }, audience, trustProxy }
  if (parsed.mode === 'forward-auth' && parsed.upstream !== undefined) {
    warnings.push('upstream: unused when mode is "forward-auth"')
  }
  if (parsed.dpop.nonce === 'required' && parsed.dpop.nonceSecret === undefined) {
    config.dpop.nonceSecret = encodeBase64url(randomBytes(32))
    warnings.push(
      'dpop.nonceSecret: not set, so a random one was generated: nonces will not survive a ' +
        'restart, and several instances will not share them',
    )
  }
  if (parsed.dpop.nonce === 'off' && parsed.dpop.nonceSecret !== undefined) {
    warnings.push('dpop.nonceSecret: unused while dpop.nonce is "off"')
  }
  if (parsed.trustProxy === true) {
    warnings.push(
      'trustProxy: true believes the forwarding fields of any peer: only safe when nothing ' +
        'but the proxy can reach the gateway',
    )
  }
  return { config, warnings }
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
}

/**
 * Reads the JSON file at `path` (or only the overrides, without a path) and validates it.
 *
 * @throws {ConfigError} when the file cannot be read, is not JSON, or is not a valid config.
 */
export async function loadGatewayConfig(
  path: string | undefined,
  overrides: GatewayOverrides = {},
): Promise<{ config: GatewayConfig; warnings: string[] }> {
  if (path === undefined) return parseGatewayConfig({}, overrides)
  const fileError = (message: string, cause?: unknown) =>
    new ConfigError([{ path: '', message: `config file ${path}: ${message}` }], {
      file: path,
      cause,
    })
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    throw fileError(READ_ERRORS[code] ?? `cannot be read (${code || String(error)})`, error)
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const parsed = parseJsonObject(text)
  if (parsed === 'bad_json') {
    const found = locateJsonError(text)
    if (!found) throw fileError('invalid JSON')
    const before = text.slice(0, found.offset)
    const line = before.split('\n').length
    const column = found.offset - before.lastIndexOf('\n')
    throw fileError(`invalid JSON at line ${line}, column ${column}: ${found.message}`)
  }
  if (parsed === 'not_object') throw fileError('must hold a JSON object')
  if (parsed === 'duplicate_member') {
    throw fileError('an object has the same member name twice (only the last would count)')
  }
  try {
    return parseGatewayConfig(parsed, overrides)
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(error.issues, { file: path })
    throw error
  }
}
