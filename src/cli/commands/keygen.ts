/**
 * @module cli/commands/keygen
 *
 * `keybound keygen`: generates a key pair and writes the private JWK, with `alg` and `kid`
 * (the RFC 7638 thumbprint, the `jkt` a server binds DPoP tokens to). For the algs signed
 * requests use, it also prints the `key` parameter of a `token_type=pop` token request.
 */
import { exportJWK } from 'jose'
import { ASYMMETRIC_ALGS } from '../../jose/algs.js'
import { generateKeyPair } from '../../jose/generate.js'
import { jwkThumbprint } from '../../jose/jwk.js'
import { publicJwkOf } from '../../jose/keys.js'
import { CliError, type CliIo, parseAlg, parseCommandArgs, processIo, writeNewFile } from '../io.js'

export const summary = 'generate a key pair and write the private JWK'

export const usage = `Usage: keybound keygen [--alg ALG] [--out FILE [--force]]

Generates a key pair and writes the private JWK, with "alg" and "kid" (its RFC 7638
thumbprint), to FILE with mode 0600, or to stdout without --out. The public JWK and its
thumbprint (jkt) are printed to stdout with --out, else to stderr; for RS, PS and ES algs also
"pop key", the public JWK in base64url: the "key" of a token_type=pop token request (signed
requests, docs/bindings/pop.md). RSA keys are 2048 bits.

Options:
  --alg ALG     ${ASYMMETRIC_ALGS.join(', ')} (default ES256)
  --out FILE    write the private JWK to FILE (refuses to overwrite it)
  --force       overwrite FILE if it exists
  -h, --help    show this help
`

const OPTIONS = {
  alg: { type: 'string' },
  out: { type: 'string', short: 'o' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function keygen(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs('keygen', argv, OPTIONS)
  if (values.help) {
    io.out(usage)
    return 0
  }
  if (values.force && values.out === undefined) throw new CliError('--force needs --out')
  if (values.out === '') throw new CliError('--out needs a file name')
  const alg = parseAlg(values.alg ?? 'ES256')

  const pair = await generateKeyPair(alg, { extractable: true })
  const publicJwk = await publicJwkOf(pair.publicKey)
  const kid = jwkThumbprint(publicJwk)
  const privateJwk = { ...(await exportJWK(pair.privateKey)), alg, kid }
  const privateText = `${JSON.stringify(privateJwk, null, 2)}\n`
  const publicText = JSON.stringify({ ...publicJwk, alg, kid })
  // The `key` form field of a PoP token request (wire format §1.1): base64url of the JWK's JSON.
  const popKey = /^(RS|PS|ES)\d+$/.test(alg)
    ? `pop key: ${Buffer.from(publicText).toString('base64url')}\n`
    : ''
  const info = `public jwk: ${publicText}\njkt: ${kid}\n${popKey}`

  if (values.out === undefined) {
    io.out(privateText)
    io.err(info)
  } else {
    writeNewFile(values.out, privateText, 0o600, values.force ?? false)
    io.out(`wrote ${alg} private key to ${values.out} (mode 0600)\n${info}`)
  }
  return 0
}
