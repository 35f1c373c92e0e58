/**
 * @module cli/commands/pop-sign
 *
 * `keybound pop-sign`: signs a request for a signed-request PoP token (IdentityServer3 /
 * IdentityModel; `§n` are the sections of `pop-wire-format.md`) and prints the value of its
 * `Authorization` header, `PoP <jws>` (§2.1), alone on one line, for
 * `curl -H "Authorization: $(keybound pop-sign ...)"`.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createPopSignature } from '../../bindings/pop/sign.js'
import { POP_PARTS, type PopPart } from '../../bindings/pop/verify.js'
import { type PopFetchSign, popSignParts } from '../../client/pop-fetch.js'
import { ALGS } from '../../jose/algs.js'
import type { PublicJwk } from '../../jose/jwk.js'
import {
  CliError,
  type CliIo,
  checkAlgFitsKey,
  fsReason,
  parseCommandArgs,
  parseHttpUrl,
  parseNumber,
  processIo,
  readPrivateJwk,
  required,
  signingAlg,
} from '../io.js'

export const summary = 'sign a request with a PoP key (Authorization: PoP, IdentityServer3)'

const DEFAULT_PARTS: readonly PopPart[] = ['m', 'u', 'p', 'q', 'b']

export const usage = `Usage: keybound pop-sign --key FILE --token TOKEN --method METHOD --url URL [options]

Signs a request for a PoP access token (token_type "pop", IdentityServer3 / IdentityModel) and
prints the value of its Authorization header, "PoP <jws>", alone, on stdout:
  curl -H "Authorization: $(keybound pop-sign --key key.json --token "$AT" \\
    --method GET --url https://api.example/orders)" https://api.example/orders

Options:
  --key FILE          the private key the token is bound to: a JWK (as written by
                      "keybound keygen") or a PEM; RSA (RS256) for a .NET API
  --token TOKEN       the access token (the payload's "at")
  --token-file FILE   read the access token from FILE instead (surrounding space dropped)
  --method METHOD     the HTTP method of the request (m)
  --url URL           the URL of the request: host[:port] (u), path (p) and query (q)
  --header NAME:VALUE a request header; repeat for several (covered with --sign h)
  --body TEXT         the request body, as UTF-8 (b)
  --body-file FILE    read the request body from FILE, as bytes
  --sign PARTS        the parts to cover, comma-separated among m,u,p,q,h,b
                      (default m,u,p,q,b; b only when there is a body, h covers every --header);
                      "none" for only at and ts (the .NET default). The API must check the same.
  --alg ALG           the JWS alg (default: the JWK's "alg", else RS256 for RSA, ES* for EC)
  --ts SECONDS        the time, seconds since the epoch (default: now)
  --jws               print the JWS alone, without "PoP "
  -h, --help          show this help
`

const OPTIONS = {
  key: { type: 'string', short: 'k' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  method: { type: 'string', short: 'X' },
  url: { type: 'string', short: 'u' },
  header: { type: 'string', short: 'H', multiple: true },
  body: { type: 'string', short: 'd' },
  'body-file': { type: 'string' },
  sign: { type: 'string' },
  alg: { type: 'string' },
  ts: { type: 'string' },
  jws: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

function parseParts(value: string | undefined): readonly PopPart[] {
  if (value === undefined) return DEFAULT_PARTS
  if (value.trim() === 'none') return []
  const parts = value.split(',').map((p) => p.trim())
  for (const part of parts) {
    if (!(POP_PARTS as readonly string[]).includes(part)) {
      throw new CliError(`--sign: unknown part "${part}" (parts: ${POP_PARTS.join(', ')}, or none)`)
    }
  }
  return parts as PopPart[]
}

function parseHeaders(values: readonly string[]): Headers {
  const headers = new Headers()
  for (const header of values) {
    const colon = header.indexOf(':')
    if (colon <= 0) throw new CliError(`--header must be NAME:VALUE, got "${header}"`)
    const name = header.slice(0, colon).trim()
    try {
      headers.append(name, header.slice(colon + 1).trim())
    } catch {
      throw new CliError(`--header has an invalid name or value: "${header}"`)
    }
  }
  return headers
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${fsReason(err)}`)
  }
}

/** The private key, from a JWK or a PEM file, with the public JWK and the JWK's own `alg`. */
function readKey(path: string): { key: KeyObject; publicJwk: PublicJwk; jwkAlg?: unknown } {
  const text = readFile(path, 'key file').toString('utf8')
  if (text.trimStart().startsWith('{')) {
    const { jwk, privateKey, publicJwk } = readPrivateJwk(path)
    return { key: privateKey, publicJwk, jwkAlg: jwk.alg }
  }
  let key: KeyObject
  try {
    key = createPrivateKey(text)
  } catch (err) {
    throw new CliError(
      `key file ${path} is not a private key (PEM or JWK): ${(err as Error).message}`,
    )
  }
  const { kty, crv, x, y, n, e } = createPublicKey(key).export({ format: 'jwk' })
  const publicJwk = Object.fromEntries(
    Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined),
  ) as unknown as PublicJwk
  return { key, publicJwk }
}

export async function popSign(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs('pop-sign', argv, OPTIONS)
  if (values.help) {
    io.out(usage)
    return 0
  }
  const keyPath = required(values.key, 'key', 'pop-sign')
  if (values.token !== undefined && values['token-file'] !== undefined) {
    throw new CliError('give --token or --token-file, not both')
  }
  const accessToken =
    values['token-file'] !== undefined
      ? readFile(values['token-file'], 'token file').toString('utf8').trim()
      : required(values.token, 'token', 'pop-sign')
  if (accessToken === '') throw new CliError('the access token is empty')
  const method = required(values.method, 'method', 'pop-sign')
  const url = parseHttpUrl(required(values.url, 'url', 'pop-sign'))
  const headers = parseHeaders(values.header ?? [])
  if (values.body !== undefined && values['body-file'] !== undefined) {
    throw new CliError('give --body or --body-file, not both')
  }
  const body =
    values['body-file'] !== undefined
      ? new Uint8Array(readFile(values['body-file'], 'body file'))
      : values.body
  const parts = parseParts(values.sign)
  const ts =
    values.ts === undefined ? undefined : parseNumber(values.ts, 'ts', { integer: true, min: 1 })

  const { key, publicJwk, jwkAlg } = readKey(keyPath)
  const alg = signingAlg(keyPath, key, values.alg, jwkAlg)
  if (ALGS[alg].kty === 'OKP') {
    throw new CliError(`alg ${alg} cannot sign PoP requests: use an RSA (RS256) or EC key`)
  }
  checkAlgFitsKey(alg, publicJwk)

  const sign: PopFetchSign = {
    method: parts.includes('m'),
    host: parts.includes('u'),
    path: parts.includes('p'),
    query: parts.includes('q'),
    body: parts.includes('b'),
    ...(parts.includes('h') ? { headers: [...headers.keys()] } : {}),
  }
  const jws = await createPopSignature({
    key,
    alg,
    accessToken,
    ...(ts === undefined ? {} : { ts }),
    sign: await popSignParts({ url, method, headers, body }, sign),
  })
  io.out(values.jws ? `${jws}\n` : `PoP ${jws}\n`)
  return 0
}
