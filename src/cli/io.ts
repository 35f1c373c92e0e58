/**
 * @module cli/io
 *
 * What the `keybound` commands share: the error that ends a command with exit code 2, argument
 * parsing with readable messages, reading key files, and where output goes.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { closeSync, fchmodSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import {
  ALGS,
  ASYMMETRIC_ALGS,
  type AsymmetricAlg,
  isAsymmetricAlg,
  MIN_RSA_MODULUS_BITS,
} from '../jose/algs.js'
import { checkPublicJwk, type PublicJwk } from '../jose/jwk.js'
import { algForKey } from '../jose/keys.js'

/** Exit code of a usage or input error (a missing file, a bad flag, a malformed key). */
export const EXIT_USAGE = 2

/**
 * An error the user can fix: `main` prints `keybound: <message>` on stderr, without a stack, and
 * exits with {@link exitCode}.
 */
export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = EXIT_USAGE) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** Where a command writes. Commands never touch `process.stdout` directly. */
export interface CliIo {
  /** Writes to stdout, as is (add the newline). */
  readonly out: (text: string) => void
  /** Writes to stderr, as is (add the newline). */
  readonly err: (text: string) => void
  /** Reads all of stdin. */
  readonly readStdin: () => Promise<string>
}

/** The process's own streams. */
export const processIo: CliIo = {
  out: (text) => {
    process.stdout.write(text)
  },
  err: (text) => {
    process.stderr.write(text)
  },
  readStdin: async () => {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk))
    return Buffer.concat(chunks).toString('utf8')
  },
}

/** A command: parses its own arguments and returns the process exit code. */
export type Command = (argv: readonly string[], io?: CliIo) => Promise<number>

type Options = NonNullable<ParseArgsConfig['options']>

/** What {@link parseCommandArgs} returns: `values` typed after the options, `positionals`. */
export type ParsedCommandArgs<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>
>

/**
 * `util.parseArgs` in strict mode, with its errors turned into short {@link CliError}s that name
 * the command.
 */
export function parseCommandArgs<const O extends Options>(
  command: string,
  argv: readonly string[],
  options: O,
  allowPositionals = false,
): ParsedCommandArgs<O> {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true })
  } catch (err) {
    const code = (err as { code?: string }).code
    const message = err instanceof Error ? err.message : String(err)
    const quoted = /'([^']*)'/.exec(message)?.[1]
    const help = `see "keybound ${command} --help"`
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new CliError(`unknown option ${quoted ?? ''} for "${command}" (${help})`)
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new CliError(`unexpected argument ${quoted ?? ''} for "${command}" (${help})`)
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
        const flag = /--[\w-]+/.exec(quoted ?? '')?.[0]
        if (!flag) throw new CliError(`${message} (${help})`)
        if (message.includes('does not take')) throw new CliError(`option ${flag} takes no value`)
        if (message.includes('ambiguous')) {
          throw new CliError(
            `option ${flag} needs a value; for one that starts with "-", write ${flag}=VALUE`,
          )
        }
        throw new CliError(`option ${flag} needs a value (${help})`)
      }
    }
    throw new CliError(message)
  }
}

/** Throws a {@link CliError} naming the flag when it was not given. */
export function required<T>(value: T | undefined, flag: string, command: string): T {
  if (value === undefined || value === '') {
    throw new CliError(`missing required option --${flag} (see "keybound ${command} --help")`)
  }
  return value
}

/** Parses a JWS alg, or refuses it with the list of the ones allowed. */
export function parseAlg(value: string, allowed: readonly AsymmetricAlg[] = ASYMMETRIC_ALGS) {
  if (!isAsymmetricAlg(value) || !allowed.includes(value)) {
    throw new CliError(`unknown alg "${value}" (allowed: ${allowed.join(', ')})`)
  }
  return value
}

/** Parses a number of seconds given to `--flag`. */
export function parseNumber(
  value: string,
  flag: string,
  { integer = false, min = Number.NEGATIVE_INFINITY } = {},
): number {
  const n = value.trim() === '' ? Number.NaN : Number(value)
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    const kind = integer ? 'an integer' : 'a number'
    const bound = min === Number.NEGATIVE_INFINITY ? '' : ` >= ${min}`
    throw new CliError(`--${flag} must be ${kind}${bound}, got "${value}"`)
  }
  return n
}

/** A short reason for a failed file system call. */
export function fsReason(err: unknown): string {
  const code = (err as { code?: string }).code
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EISDIR':
      return 'is a directory'
  }
  return err instanceof Error ? err.message : String(err)
}

/** Reads a JSON object from a file, with one-line errors for every way that can fail. */
export function readJsonFile(path: string, what: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${fsReason(err)}`)
  }
  if (text.trim() === '') throw new CliError(`${what} ${path} is empty`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new CliError(`${what} ${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(`${what} ${path} is not a JWK: expected a JSON object`)
  }
  return value as Record<string, unknown>
}

export interface PrivateKeyFile {
  /** The JWK as read from the file (private members included). */
  readonly jwk: Readonly<Record<string, unknown>>
  readonly privateKey: KeyObject
  /** The public half, as the members of RFC 7638 (no `alg`, no `kid`). */
  readonly publicJwk: PublicJwk
}

/** Reads and imports a private JWK file, as written by `keybound keygen`. */
export function readPrivateJwk(path: string): PrivateKeyFile {
  const jwk = readJsonFile(path, 'key file')
  if (typeof jwk.kty !== 'string') {
    throw new CliError(`key file ${path} is not a JWK: "kty" is missing`)
  }
  if (!['EC', 'RSA', 'OKP'].includes(jwk.kty)) {
    throw new CliError(`key file ${path}: unsupported key type "${jwk.kty}" (use EC, RSA or OKP)`)
  }
  if (!('d' in jwk)) {
    throw new CliError(
      `key file ${path} holds a public key; a private JWK (with "d") is required, as written by "keybound keygen"`,
    )
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: jwk as never, format: 'jwk' })
  } catch (err) {
    throw new CliError(`key file ${path} is not a valid private JWK: ${(err as Error).message}`)
  }
  const { kty, crv, x, y, n, e } = createPublicKey(privateKey).export({ format: 'jwk' })
  const publicJwk = Object.fromEntries(
    Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined),
  ) as unknown as PublicJwk
  return { jwk, privateKey, publicJwk }
}

/** `--url`: an absolute http(s) URL. */
export function parseHttpUrl(value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new CliError(`--url is not an absolute URL: ${value}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(`--url must be an http or https URL: ${value}`)
  }
  return url
}

/**
 * The alg to sign with: `--alg`, else the key file's own `alg` member, else the one that fits
 * the key (ES256 for P-256, RS256 for RSA, ...).
 */
export function signingAlg(
  path: string,
  key: KeyObject,
  explicit: string | undefined,
  jwkAlg: unknown,
): AsymmetricAlg {
  if (explicit !== undefined) return parseAlg(explicit)
  if (jwkAlg !== undefined) {
    if (!isAsymmetricAlg(jwkAlg)) {
      throw new CliError(
        `key file ${path} has unsupported "alg" ${JSON.stringify(jwkAlg)} (allowed: ${ASYMMETRIC_ALGS.join(', ')}; or pass --alg)`,
      )
    }
    return jwkAlg
  }
  try {
    return algForKey(key)
  } catch (err) {
    throw new CliError(`key file ${path}: ${(err as Error).message}`)
  }
}

/** Refuses an `alg` that does not fit the key (type, curve, RSA modulus size). */
export function checkAlgFitsKey(alg: AsymmetricAlg, publicJwk: PublicJwk): void {
  const failure = checkPublicJwk(publicJwk, alg)
  if (failure === undefined) return
  if (publicJwk.kty === 'RSA' && ALGS[alg].kty === 'RSA') {
    throw new CliError(`alg ${alg} needs an RSA key of at least ${MIN_RSA_MODULUS_BITS} bits`)
  }
  const key = publicJwk.crv ? `${publicJwk.kty} ${publicJwk.crv}` : publicJwk.kty
  throw new CliError(`alg ${alg} does not fit the key (${key})`)
}

/** Pretty JSON, two spaces, as written to key files and printed. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2)
}

/** Creates `path` with `mode` and writes `text`; refuses an existing file unless `force`. */
export function writeNewFile(path: string, text: string, mode: number, force: boolean): void {
  if (force) {
    // Replace the file rather than truncate it: its old mode may be wider.
    try {
      rmSync(path, { force: true })
    } catch (err) {
      throw new CliError(`cannot replace ${path}: ${fsReason(err)}`)
    }
  }
  let fd: number
  try {
    fd = openSync(path, 'wx', mode)
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') {
      throw new CliError(`${path} already exists; use --force to overwrite it`)
    }
    throw new CliError(`cannot write ${path}: ${fsReason(err)}`)
  }
  try {
    if (mode === 0o600) fchmodSync(fd, mode)
    writeSync(fd, text)
  } catch (err) {
    throw new CliError(`cannot write ${path}: ${fsReason(err)}`)
  } finally {
    closeSync(fd)
  }
}
