/**
 * @module config/load
 *
 * Reads and validates the `keybound serve` configuration (the schema is in `schema.ts`), and
 * turns it into the {@link Config} the server runs on: every default applied, client secrets
 * replaced by their SHA-256 (`client_secret_hash`, as the store keeps them) and user passwords
 * by a scrypt hash. Every mistake in the file is reported at once, one line per issue, each
 * starting with the dotted path of the field (`clients[1].redirect_uris[0]: ...`).
 */
import { hash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import type { z } from 'zod'
import { encodeBase64url } from '../jose/base64url.js'
import { parseJsonObject } from '../jose/strict-json.js'
import type { ClientRecord, UserRecord } from '../store/types.js'
import {
  CERTIFICATE_AUTH_METHODS,
  type ClientEntry,
  clientSchema,
  configSchema,
  effectiveAuthMethod,
  KNOWN_CLIENT_METADATA,
  type ParsedConfig,
  parseScryptHash,
  type UserEntry,
} from './schema.js'

/** A configured client: a {@link ClientRecord} without what the store sets when saving it. */
export type ClientConfig = Omit<
  ClientRecord,
  'source' | 'registration_access_token_hash' | 'created_at'
>

/** A configured user, with a scrypt `password_hash`. */
export type UserConfig = UserRecord

/** The validated configuration, every default applied, with no plain secret or password. */
export type Config = Omit<ParsedConfig, 'clients' | 'users'> & {
  clients: ClientConfig[]
  users: UserConfig[]
}

/** One problem in the configuration: the dotted path of the field (`''` for the whole file). */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/**
 * The configuration is unusable. The message has one line per issue, each starting with the
 * dotted path of the field (or with the file, for a file that cannot be read or parsed).
 */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[]
  /** The file the configuration came from, when there was one. */
  readonly file: string | undefined

  constructor(issues: readonly ConfigIssue[], options: { file?: string; cause?: unknown } = {}) {
    super(
      issues
        .map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message))
        .join('\n'),
      options.cause === undefined ? undefined : { cause: options.cause },
    )
    this.name = 'ConfigError'
    this.issues = issues
    this.file = options.file
  }
}

// ---------------------------------------------------------------------------------------------
// Passwords

const SCRYPT = { N: 16384, r: 8, p: 1 } as const
const SALT_BYTES = 16
const KEY_BYTES = 32

/** Hashes a password with scrypt: `scrypt$16384$8$1$<salt>$<hash>` (base64url, 16-byte salt). */
export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES)
  const key = scryptSync(password, salt, KEY_BYTES, SCRYPT)
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${encodeBase64url(salt)}$${encodeBase64url(key)}`
}

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>

/**
 * Whether `password` matches a hash from {@link hashPassword} (its own N, r, p are used, so
 * hashes made with other parameters still verify). Compared in constant time; a malformed
 * hash answers `false`, never rejects.
 *
 * scrypt runs on libuv's thread pool, not on the event loop: one check costs tens of
 * milliseconds of CPU by design, and a burst of login attempts must not stall the token,
 * introspection and resource requests the same process serves meanwhile.
 */
export async function verifyPassword(password: string, passwordHash: string): Promise<boolean> {
  if (typeof password !== 'string' || typeof passwordHash !== 'string') return false
  const parsed = parseScryptHash(passwordHash)
  if (!parsed) return false
  try {
    const key = await scryptAsync(password, parsed.salt, parsed.hash.length, {
      N: parsed.N,
      r: parsed.r,
      p: parsed.p,
      maxmem: 256 * parsed.N * parsed.r + 1024 * 1024,
    })
    return timingSafeEqual(key, parsed.hash)
  } catch {
    return false
  }
}

/** SHA-256 of a client secret, base64url: the `client_secret_hash` of the store. */
export function hashClientSecret(secret: string): string {
  return hash('sha256', secret, 'base64url')
}

// ---------------------------------------------------------------------------------------------
// Validation

/** `['clients', 1, 'redirect_uris', 0]` → `clients[1].redirect_uris[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$-]*$/.test(part)) {
      out += out === '' ? part : `.${part}`
    } else out += `[${JSON.stringify(String(part))}]`
  }
  return out
}

/** A value as an error message names it: `the string "x"`, `number 3`, `a list`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  return `${typeof value} ${String(value)}`
}

const EXPECTED_TEXT: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean (true or false)',
  array: 'a list',
  object: 'an object',
  record: 'an object',
}

/**
 * Messages for the issues a schema leaves to zod (a wrong type, an unknown key). Issues the
 * schema words itself keep their own message. Shared by the server's and the gateway's config.
 */
export function zodIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'required'
      const expected = EXPECTED_TEXT[issue.expected] ?? issue.expected
      return `must be ${expected}, not ${describeValue(issue.input)}`
    }
    case 'too_small':
      if (issue.origin === 'array') return 'must not be empty'
      if (issue.origin === 'string') return `must be at least ${issue.minimum} characters`
      return `must be at least ${issue.minimum}`
    case 'too_big':
      return `must be at most ${issue.maximum}`
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`
    default:
      return undefined
  }
}

/**
 * Zod's issues as {@link ConfigIssue}s: one per unknown key, each with its dotted path.
 *
 * @param docs The page that lists the options, named in the message of an unknown one.
 */
export function toConfigIssues(
  issues: readonly z.core.$ZodIssue[],
  docs = 'docs/configuration.md',
): ConfigIssue[] {
  const out: ConfigIssue[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({
          path: formatPath([...issue.path, key]),
          message: `unknown option (check the spelling; see ${docs})`,
        })
      }
    } else {
      out.push({ path: formatPath(issue.path) || '(config)', message: issue.message })
    }
  }
  return out
}

/** The keys of a client entry the schema models; the others go to `metadata`. */
const CLIENT_FIELDS: ReadonlySet<string> = new Set(Object.keys(clientSchema.shape))

function toClientConfig(entry: ClientEntry): ClientConfig {
  const metadata: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(entry)) {
    if (!CLIENT_FIELDS.has(name)) metadata[name] = value
  }
  return {
    client_id: entry.client_id,
    client_secret_hash:
      entry.client_secret === undefined ? null : hashClientSecret(entry.client_secret),
    client_name: entry.client_name ?? null,
    token_endpoint_auth_method: effectiveAuthMethod(entry),
    grant_types: [...entry.grant_types],
    redirect_uris: [...entry.redirect_uris],
    scope: entry.scope ?? null,
    jwks: entry.jwks ? { keys: entry.jwks.keys } : null,
    jwks_uri: entry.jwks_uri ?? null,
    token_binding: entry.token_binding,
    dpop_bound_access_tokens: entry.dpop_bound_access_tokens ?? entry.token_binding === 'dpop',
    access_token_format: entry.access_token_format ?? null,
    first_party: entry.first_party,
    metadata,
  }
}

/**
 * Validates one client entry with the schema of `clients` (the rules and messages of the file),
 * for RFC 7591 registration: the paths of the issues are relative to the entry.
 *
 * @throws {ConfigError} listing every problem.
 */
export function parseClient(input: unknown): ClientConfig {
  const result = clientSchema.safeParse(input, {
    reportInput: false,
    error: (issue) => zodIssueMessage(issue),
  })
  if (!result.success) throw new ConfigError(toConfigIssues(result.error.issues))
  return toClientConfig(result.data)
}

function toUserConfig(entry: UserEntry): UserConfig {
  return {
    username: entry.username,
    password_hash: entry.password_hash ?? hashPassword(entry.password as string),
    claims: entry.claims,
  }
}

function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname)
  )
}

/** Whether the server can see client certificates at all: a TLS listener or a proxy's header. */
export const mtlsEnabled = (config: Pick<ParsedConfig, 'tls' | 'mtls'>): boolean =>
  config.tls !== undefined || config.mtls.certificateHeader !== undefined

/** Mutual-TLS settings that cannot work as written (RFC 8705). */
function mtlsWarnings(parsed: ParsedConfig): string[] {
  const warnings: string[] = []
  const enabled = mtlsEnabled(parsed)
  const hasCa = parsed.tls?.ca !== undefined || parsed.mtls.certificateHeader?.ca !== undefined
  const noCertificates =
    'no client certificate can reach the server: configure tls (an HTTPS listener) or ' +
    'mtls.certificateHeader (behind a proxy)'
  parsed.clients.forEach((client, index) => {
    const method = effectiveAuthMethod(client)
    if (!enabled && CERTIFICATE_AUTH_METHODS.includes(method)) {
      warnings.push(
        `clients[${index}].token_endpoint_auth_method: ${method}, but ${noCertificates}`,
      )
    } else if (!enabled && client.token_binding === 'mtls') {
      warnings.push(`clients[${index}].token_binding: mtls, but ${noCertificates}`)
    } else if (enabled && method === 'tls_client_auth' && !hasCa) {
      warnings.push(
        `clients[${index}].token_endpoint_auth_method: tls_client_auth, but no CA is configured ` +
          '(tls.ca or mtls.certificateHeader.ca), so no certificate can pass',
      )
    }
  })
  const trust = parsed.trustProxy
  if (
    parsed.mtls.certificateHeader !== undefined &&
    (trust === false || trust === 0 || (Array.isArray(trust) && trust.length === 0))
  ) {
    warnings.push(
      'mtls.certificateHeader: trustProxy trusts no proxy, so the header is never believed',
    )
  }
  if (!enabled && parsed.mtls.alwaysEmitConfirmation) {
    warnings.push(`mtls.alwaysEmitConfirmation: unused: ${noCertificates}`)
  }
  if (!enabled && parsed.mtls.endpointBaseUrl !== undefined) {
    warnings.push(`mtls.endpointBaseUrl: unused: ${noCertificates}`)
  }
  return warnings
}

/**
 * The base URL of the `mtls_endpoint_aliases` (RFC 8705 §5): `mtls.endpointBaseUrl`, or the
 * issuer's host on `tls.port` over https; `undefined` without either.
 */
export function mtlsEndpointBase(
  config: Pick<Config, 'issuer' | 'tls' | 'mtls'>,
): string | undefined {
  if (config.mtls.endpointBaseUrl !== undefined) {
    return config.mtls.endpointBaseUrl.replace(/\/+$/, '')
  }
  if (config.tls === undefined) return undefined
  const issuer = new URL(config.issuer)
  // `hostname` keeps the brackets of an IPv6 address.
  const url = new URL(`https://${issuer.hostname}`)
  url.port = String(config.tls.port)
  return `${url.origin}${issuer.pathname.replace(/\/+$/, '')}`
}

/** What is valid but probably not meant. Each warning starts with the dotted path. */
function collectWarnings(parsed: ParsedConfig, config: Config): string[] {
  const warnings: string[] = []
  const issuer = new URL(parsed.issuer)
  if (issuer.protocol === 'http:' && !isLoopback(issuer.hostname)) {
    warnings.push(
      `issuer: plain http outside localhost; RFC 8414 §2 requires https (behind a TLS proxy, ` +
        `the issuer is the proxy's https URL)`,
    )
  }
  parsed.clients.forEach((client, index) => {
    for (const name of Object.keys(client)) {
      if (!CLIENT_FIELDS.has(name) && !KNOWN_CLIENT_METADATA.has(name)) {
        warnings.push(
          `clients[${index}].${name}: not a client metadata name keybound knows; kept in ` +
            'metadata (a typo?)',
        )
      }
    }
  })
  warnings.push(...mtlsWarnings(parsed))
  if (parsed.dpop.nonce === 'off' && parsed.dpop.nonceSecret !== undefined) {
    warnings.push('dpop.nonceSecret: unused while dpop.nonce is "off"')
  }
  if (parsed.dpop.nonce === 'required' && parsed.dpop.nonceSecret === undefined) {
    config.dpop.nonceSecret = encodeBase64url(randomBytes(32))
    warnings.push(
      'dpop.nonceSecret: not set, so a random one was generated: nonces will not survive a ' +
        'restart, and several instances will not share them (set dpop.nonceSecret to 32 ' +
        'random bytes, base64url)',
    )
  }
  if (parsed.registration.enabled && parsed.registration.initialAccessToken === undefined) {
    warnings.push(
      'registration.initialAccessToken: not set, so anyone can register clients at /register',
    )
  }
  if (!parsed.registration.enabled && parsed.registration.initialAccessToken !== undefined) {
    warnings.push('registration.initialAccessToken: unused while registration.enabled is false')
  }
  return warnings
}

/**
 * Validates a configuration object (the parsed JSON file) and applies every default.
 *
 * @returns the configuration, with secrets and passwords hashed, and warnings about what is
 *   valid but probably not meant (each starting with the dotted path).
 * @throws {ConfigError} listing every problem.
 */
export function parseConfig(input: unknown): { config: Config; warnings: string[] } {
  // The issuer's default follows the port, so `--port 5000` alone gives a working issuer.
  if (isPlainObject(input) && input.issuer === undefined) {
    const port = input.port
    if (Number.isInteger(port) && (port as number) > 0 && (port as number) <= 65535) {
      input = { ...input, issuer: `http://localhost:${port}` }
    }
  }
  const result = configSchema.safeParse(input, {
    reportInput: false,
    error: (issue) => zodIssueMessage(issue),
  })
  if (!result.success) throw new ConfigError(toConfigIssues(result.error.issues))
  const parsed = result.data
  const config: Config = {
    ...parsed,
    dpop: { ...parsed.dpop },
    clients: parsed.clients.map(toClientConfig),
    users: parsed.users.map(toUserConfig),
  }
  return { config, warnings: collectWarnings(parsed, config) }
}

// ---------------------------------------------------------------------------------------------
// The file

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'not found (a part of the path is not a directory)',
}

/**
 * Where the first JSON syntax error of `text` is, and what was expected there. `JSON.parse`
 * messages differ between Node versions and can quote the whole text (secrets included), so
 * they are not shown.
 */
export function locateJsonError(text: string): { offset: number; message: string } | undefined {
  let i = 0
  const fail = (message: string): never => {
    throw { offset: i, message }
  }
  const describe = (): string =>
    i >= text.length ? 'the end of the file' : JSON.stringify(text[i])
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++
  }
  const string = () => {
    i++
    for (;;) {
      if (i >= text.length) fail('unterminated string')
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return
      }
      if (c < 0x20) fail('a control character (a line break?) inside a string')
      if (c === 0x5c) {
        i++
        const escaped = text[i]
        if (escaped === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail('bad \\u escape')
          i += 5
        } else if (escaped !== undefined && '"\\/bfnrt'.includes(escaped)) i++
        else fail('bad escape in a string')
      } else i++
    }
  }
  const value = (depth: number): void => {
    if (depth > 500) fail('nesting too deep')
    skipSpace()
    const c = text[i]
    if (c === '{') {
      i++
      skipSpace()
      if (text[i] === '}') {
        i++
        return
      }
      for (;;) {
        skipSpace()
        if (text[i] !== '"') {
          fail(`expected a double-quoted member name, found ${describe()} (a trailing comma?)`)
        }
        string()
        skipSpace()
        if (text[i] !== ':') fail(`expected ':' after the member name, found ${describe()}`)
        i++
        value(depth + 1)
        skipSpace()
        if (text[i] === '}') {
          i++
          return
        }
        if (text[i] !== ',') fail(`expected ',' or '}', found ${describe()}`)
        i++
      }
    }
    if (c === '[') {
      i++
      skipSpace()
      if (text[i] === ']') {
        i++
        return
      }
      for (;;) {
        value(depth + 1)
        skipSpace()
        if (text[i] === ']') {
          i++
          return
        }
        if (text[i] !== ',') fail(`expected ',' or ']', found ${describe()}`)
        i++
      }
    }
    if (c === '"') {
      string()
      return
    }
    const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
    number.lastIndex = i
    if (number.test(text)) {
      i = number.lastIndex
      return
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length
        return
      }
    }
    fail(`expected a value, found ${describe()}`)
  }
  try {
    value(0)
    skipSpace()
    if (i < text.length) fail(`unexpected ${describe()} after the JSON value`)
    return undefined
  } catch (error) {
    if (isPlainObject(error) && typeof error.offset === 'number') {
      return { offset: error.offset, message: String(error.message) }
    }
    throw error
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  return { line, column: offset - before.lastIndexOf('\n') }
}

/**
 * Loads the configuration: from the JSON file at `path`, or, without a path, every default with
 * `demo: true`. `overrides.port` (the `--port` flag) replaces the file's port.
 *
 * @throws {ConfigError} when the file cannot be read, is not JSON, or is not a valid config.
 */
export async function loadConfig(
  path?: string,
  overrides: { port?: number } = {},
): Promise<{ config: Config; warnings: string[] }> {
  const portOverride = overrides.port === undefined ? {} : { port: overrides.port }
  if (path === undefined) return parseConfig({ demo: true, ...portOverride })

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

  let input: unknown
  try {
    input = JSON.parse(text)
  } catch (error) {
    const found = locateJsonError(text)
    if (!found) throw fileError('invalid JSON', error)
    const { line, column } = lineAndColumn(text, found.offset)
    throw fileError(`invalid JSON at line ${line}, column ${column}: ${found.message}`, error)
  }
  if (!isPlainObject(input)) throw fileError(`must hold a JSON object, not ${describeValue(input)}`)
  if (parseJsonObject(text) === 'duplicate_member') {
    throw fileError('an object has the same member name twice (only the last would count)')
  }
  try {
    return parseConfig({ ...input, ...portOverride })
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(error.issues, { file: path, cause: error.cause })
    }
    throw error
  }
}
