/**
 * @module cli/commands/cert
 *
 * `keybound cert`: makes a key pair (or takes a key file) and a self-signed TLS client
 * certificate of it, for mutual TLS (RFC 8705): certificate-bound tokens with any client
 * authentication (§3), or `self_signed_tls_client_auth` (§2.2). Prints the PEMs, or writes them
 * for `curl --cert client.pem --key client.key`, and the certificate's `x5t#S256` thumbprint.
 */

import { createPrivateKey, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import {
  CERTIFICATE_ALGS,
  type CertificateAlg,
  createClientCertificate,
} from '../../client/mtls/certificate.js'
import { CodedTypeError } from '../../errors.js'
import {
  CliError,
  type CliIo,
  fsReason,
  parseCommandArgs,
  parseNumber,
  processIo,
  writeNewFile,
} from '../io.js'

export const summary = 'make a self-signed TLS client certificate (mutual TLS)'

export const usage = `Usage: keybound cert [--subject DN] [--days N] [--alg ALG] [--key FILE]
                     [--out BASE | --out-cert FILE --out-key FILE [--force]]

Makes a key pair and a self-signed TLS client certificate of it (RFC 8705): present it to get
certificate-bound tokens, e.g.
  curl --cert client.pem --key client.key -u CLIENT:SECRET -d grant_type=client_credentials \\
    https://auth.example.com:4443/token
Without --out the certificate and its key (PEM) are printed to stdout, and what the certificate
holds to stderr; with --out they are written to files (the key with mode 0600) and what it holds
is printed to stdout. "x5t#S256" is the thumbprint bound tokens carry in their cnf; "public jwk"
is what a self_signed_tls_client_auth client registers in its jwks.

Options:
  --subject DN       the subject, an RFC 4514 name, most specific first (default
                     "CN=keybound client"), e.g. "CN=billing,O=Example"
  --days N           days of validity from now (default 1; at most 3650); valid from 5 minutes ago
  --alg ALG          ${CERTIFICATE_ALGS.join(', ')} (default ES256; with --key, the one that fits it)
  --key FILE         certify this private key (PEM, or a JWK as written by "keybound keygen")
                     instead of a new one
  --out BASE         write BASE.pem and BASE.key
  --out-cert FILE    write the certificate to FILE (with --out-key)
  --out-key FILE     write the private key to FILE, PKCS #8 PEM, mode 0600 (with --out-cert)
  --force            overwrite the files if they exist
  -h, --help         show this help
`

const OPTIONS = {
  subject: { type: 'string', short: 's' },
  days: { type: 'string' },
  alg: { type: 'string' },
  key: { type: 'string', short: 'k' },
  out: { type: 'string', short: 'o' },
  'out-cert': { type: 'string' },
  'out-key': { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Reads a private key file: PEM, or a private JWK (as `keybound keygen` writes). */
function readKeyFile(path: string): KeyObject {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read key file ${path}: ${fsReason(err)}`)
  }
  try {
    const key = text.trimStart().startsWith('{')
      ? createPrivateKey({ key: JSON.parse(text), format: 'jwk' })
      : createPrivateKey(text)
    return key
  } catch (err) {
    throw new CliError(
      `key file ${path} is not a private key (PEM or JWK): ${(err as Error).message}`,
    )
  }
}

/** The files to write, when any. */
function outputs(values: {
  out?: string | undefined
  'out-cert'?: string | undefined
  'out-key'?: string | undefined
  force?: boolean | undefined
}): { cert: string; key: string } | undefined {
  const { out, 'out-cert': outCert, 'out-key': outKey } = values
  if (out !== undefined && (outCert !== undefined || outKey !== undefined)) {
    throw new CliError('give --out, or --out-cert and --out-key, not both')
  }
  if (out !== undefined) {
    if (out === '') throw new CliError('--out needs a file name')
    return { cert: `${out}.pem`, key: `${out}.key` }
  }
  if ((outCert === undefined) !== (outKey === undefined)) {
    throw new CliError('--out-cert and --out-key go together: give both')
  }
  if (outCert === undefined || outKey === undefined) {
    if (values.force) throw new CliError('--force needs --out, or --out-cert and --out-key')
    return undefined
  }
  if (outCert === '' || outKey === '')
    throw new CliError('--out-cert and --out-key need file names')
  if (outCert === outKey) throw new CliError('--out-cert and --out-key must be different files')
  return { cert: outCert, key: outKey }
}

export async function cert(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs('cert', argv, OPTIONS)
  if (values.help) {
    io.out(usage)
    return 0
  }
  const files = outputs(values)
  let days: number | undefined
  if (values.days !== undefined) {
    days = parseNumber(values.days, 'days')
    if (!(days > 0 && days <= 3650)) {
      throw new CliError(`--days must be above 0 and at most 3650, got "${values.days}"`)
    }
  }
  if (values.alg !== undefined && !(CERTIFICATE_ALGS as readonly string[]).includes(values.alg)) {
    throw new CliError(`unknown alg "${values.alg}" (allowed: ${CERTIFICATE_ALGS.join(', ')})`)
  }
  const privateKey = values.key === undefined ? undefined : readKeyFile(values.key)

  let made: Awaited<ReturnType<typeof createClientCertificate>>
  try {
    made = await createClientCertificate({
      ...(values.subject === undefined ? {} : { subject: values.subject }),
      ...(days === undefined ? {} : { days }),
      ...(values.alg === undefined ? {} : { alg: values.alg as CertificateAlg }),
      ...(privateKey === undefined ? {} : { privateKey }),
    })
  } catch (err) {
    if (!(err instanceof CodedTypeError)) throw err
    // The library names its options; the command names its flags.
    throw new CliError(
      err.message
        .replace(/^"subject"/, '--subject')
        .replace(
          /"alg" (\S+) does not fit the (\S+) "privateKey"/,
          '--alg $1 does not fit the $2 key of --key',
        )
        .replace(/^"privateKey"/, `--key ${values.key}`),
    )
  }

  const info = [
    `subject: ${made.subject}`,
    `serial: ${made.serialNumber}`,
    `not before: ${made.notBefore.toISOString()}`,
    `not after: ${made.notAfter.toISOString()}`,
    `x5t#S256: ${made.thumbprint}`,
    `public jwk: ${JSON.stringify(made.publicJwk)}`,
    '',
  ].join('\n')

  if (files === undefined) {
    io.out(`${made.cert}${made.key}`)
    io.err(info)
    return 0
  }
  const force = values.force ?? false
  if (!force) {
    // Both files are new, or neither is written.
    for (const path of [files.key, files.cert]) {
      if (existsSync(path))
        throw new CliError(`${path} already exists; use --force to overwrite it`)
    }
  }
  writeNewFile(files.key, made.key, 0o600, force)
  try {
    writeNewFile(files.cert, made.cert, 0o644, force)
  } catch (err) {
    rmSync(files.key, { force: true })
    throw err
  }
  io.out(
    `wrote the ${made.alg} certificate to ${files.cert} and its key to ${files.key} (mode 0600)\n${info}`,
  )
  return 0
}
