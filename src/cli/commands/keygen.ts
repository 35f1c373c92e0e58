/**
 * @module cli/commands/keygen
 *
 * `keybound keygen`: generates a DPoP key pair and writes the private JWK, with `alg` and `kid`
 * (the RFC 7638 thumbprint, the `jkt` a server binds tokens to).
 */
import { closeSync, fchmodSync, openSync, rmSync, writeSync } from 'node:fs'
import { exportJWK } from 'jose'
import { ASYMMETRIC_ALGS } from '../../jose/algs.js'
import { generateKeyPair } from '../../jose/generate.js'
import { jwkThumbprint } from '../../jose/jwk.js'
import { publicJwkOf } from '../../jose/keys.js'
import { CliError, type CliIo, fsReason, parseAlg, parseCommandArgs, processIo } from '../io.js'

export const summary = 'generate a key pair and write the private JWK'

export const usage = `Usage: keybound keygen [--alg ALG] [--out FILE [--force]]

Generates a key pair and writes the private JWK, with "alg" and "kid" (its RFC 7638
thumbprint), to FILE with mode 0600, or to stdout without --out. The public JWK and its
thumbprint (jkt) are printed to stdout with --out, else to stderr. RSA keys are 2048 bits.

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

/** Creates `path` with mode 0600 and writes `text`; refuses an existing file unless `force`. */
function writePrivateFile(path: string, text: string, force: boolean): void {
  if (force) {
    // Replace the file rather than truncate it: its old mode may be wider than 0600.
    try {
      rmSync(path, { force: true })
    } catch (err) {
      throw new CliError(`cannot replace ${path}: ${fsReason(err)}`)
    }
  }
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') {
      throw new CliError(`${path} already exists; use --force to overwrite it`)
    }
    throw new CliError(`cannot write ${path}: ${fsReason(err)}`)
  }
  try {
    fchmodSync(fd, 0o600)
    writeSync(fd, text)
  } catch (err) {
    throw new CliError(`cannot write ${path}: ${fsReason(err)}`)
  } finally {
    closeSync(fd)
  }
}

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
  const info = `public jwk: ${JSON.stringify({ ...publicJwk, alg, kid })}\njkt: ${kid}\n`

  if (values.out === undefined) {
    io.out(privateText)
    io.err(info)
  } else {
    writePrivateFile(values.out, privateText, values.force ?? false)
    io.out(`wrote ${alg} private key to ${values.out} (mode 0600)\n${info}`)
  }
  return 0
}
