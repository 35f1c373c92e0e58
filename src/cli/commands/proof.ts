/**
 * @module cli/commands/proof
 *
 * `keybound proof`: creates a DPoP proof (RFC 9449 §4.2) with a private JWK file and prints it
 * alone on one line, for `curl -H "DPoP: $(keybound proof ...)"`.
 */
import { createProof } from '../../bindings/dpop/proof.js'
import {
  CliError,
  type CliIo,
  checkAlgFitsKey,
  parseCommandArgs,
  parseHttpUrl,
  parseNumber,
  processIo,
  readPrivateJwk,
  required,
  signingAlg,
} from '../io.js'

export const summary = 'create a DPoP proof for a request'

export const usage = `Usage: keybound proof --key FILE --method METHOD --url URL [options]

Creates a DPoP proof (RFC 9449) and prints it, alone, on stdout:
  curl -H "DPoP: $(keybound proof --key key.json --method POST --url https://as.example/token)" ...

Options:
  --key FILE            the private JWK (as written by "keybound keygen")
  --method METHOD       the HTTP method of the request (htm)
  --url URL             the URL of the request (htu; query and fragment are dropped)
  --access-token TOKEN  the access token sent with the request (adds ath)
  --nonce NONCE         the server's DPoP-Nonce
  --alg ALG             the JWS alg (default: the JWK's "alg", else the one that fits the key)
  --iat SECONDS         the creation time, seconds since the epoch (default: now)
  --jti JTI             the proof's unique identifier (default: a random UUID)
  -h, --help            show this help
`

const OPTIONS = {
  key: { type: 'string', short: 'k' },
  method: { type: 'string', short: 'X' },
  url: { type: 'string', short: 'u' },
  'access-token': { type: 'string' },
  nonce: { type: 'string' },
  alg: { type: 'string' },
  iat: { type: 'string' },
  jti: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function proof(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs('proof', argv, OPTIONS)
  if (values.help) {
    io.out(usage)
    return 0
  }
  const keyPath = required(values.key, 'key', 'proof')
  const method = required(values.method, 'method', 'proof')
  const url = parseHttpUrl(required(values.url, 'url', 'proof'))
  const iat =
    values.iat === undefined ? undefined : parseNumber(values.iat, 'iat', { integer: true, min: 0 })
  if (values.jti === '') throw new CliError('--jti must not be empty')

  const { jwk, privateKey, publicJwk } = readPrivateJwk(keyPath)
  const alg = signingAlg(keyPath, privateKey, values.alg, jwk.alg)
  checkAlgFitsKey(alg, publicJwk)

  const dpop = await createProof({
    key: privateKey,
    alg,
    htm: method,
    htu: url,
    ...(values['access-token'] === undefined ? {} : { accessToken: values['access-token'] }),
    ...(values.nonce === undefined ? {} : { nonce: values.nonce }),
    ...(iat === undefined ? {} : { iat }),
    ...(values.jti === undefined ? {} : { jti: values.jti }),
  })
  io.out(`${dpop}\n`)
  return 0
}
