/**
 * `keybound cert` (RFC 8705 client certificates), run as the real bin (dist/cli/main.js) in child
 * processes: what it prints and writes is read back by node's X509Certificate, and curl presents
 * the files it writes to a real keybound authorization server's HTTPS listener.
 */
import assert from 'node:assert/strict'
import { execFile, type SpawnSyncReturns, spawnSync } from 'node:child_process'
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { decodeJwt } from 'jose'
import { createCa, freePort } from '../helpers/certificates.js'
import { buildIfStale, runCli as run } from '../helpers/cli.js'
import { startServer, type TestServer } from '../helpers/server.js'

const MINUTE = 60_000
const DAY = 86_400_000
const SECRET = 'a-high-entropy-secret-0123456789'

function assertUsageError(result: SpawnSyncReturns<string>, message: string): void {
  assert.equal(result.status, 2, `exit code; stderr: ${result.stderr}`)
  assert.equal(result.stdout, '')
  const lines = result.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `one line on stderr: ${result.stderr}`)
  assert.equal(lines[0], `keybound: ${message}`)
}

/** The `name: value` lines `keybound cert` prints about the certificate. */
function printed(text: string) {
  const line = (name: string) => {
    const match = new RegExp(`^${name}: (.+)$`, 'm').exec(text)
    assert.ok(match, `no "${name}:" line in: ${text}`)
    return match[1] as string
  }
  return {
    subject: line('subject'),
    serial: line('serial'),
    notBefore: new Date(line('not before')),
    notAfter: new Date(line('not after')),
    thumbprint: line('x5t#S256'),
    publicJwk: JSON.parse(line('public jwk')) as Record<string, unknown>,
  }
}

const sha256OfDer = (certificate: X509Certificate) =>
  createHash('sha256').update(certificate.raw).digest('base64url')

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----\n[A-Za-z0-9+/=\n]+-----END \1-----\n/g

let dir: string

before(() => {
  buildIfStale()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keybound-cli-cert-'))
})

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

describe('keybound cert', () => {
  test('is listed by --help after the earlier commands', () => {
    const result = run(['--help'])
    assert.equal(result.status, 0)
    const commands = [...result.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1])
    assert.deepEqual(commands.slice(0, 7), [
      'serve',
      'migrate',
      'keygen',
      'proof',
      'inspect',
      'gateway',
      'cert',
    ])
    assert.match(
      result.stdout,
      /^ {2}cert {2,}make a self-signed TLS client certificate \(mutual TLS\)$/m,
    )
  })

  test('prints the certificate and its key, and on stderr the subject and thumbprint', () => {
    const startedAt = Date.now()
    const result = run(['cert', '--subject', 'CN=client,O=Example'])
    assert.equal(result.status, 0, result.stderr)
    const blocks = result.stdout.match(PEM_BLOCK) ?? []
    assert.equal(blocks.join(''), result.stdout)
    assert.deepEqual(
      blocks.map((block) => /BEGIN ([A-Z ]+)-/.exec(block)?.[1]),
      ['CERTIFICATE', 'PRIVATE KEY'],
    )
    const certificate = new X509Certificate(blocks[0] as string)
    const key = createPrivateKey(blocks[1] as string)
    assert.equal(certificate.checkPrivateKey(key), true)
    assert.equal(certificate.subject, 'O=Example\nCN=client')
    assert.equal(certificate.issuer, certificate.subject)
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')

    const info = printed(result.stderr)
    assert.equal(info.subject, 'CN=client,O=Example')
    assert.equal(info.thumbprint, sha256OfDer(certificate))
    assert.equal(info.serial.toUpperCase(), certificate.serialNumber)
    assert.deepEqual(info.publicJwk, certificate.publicKey.export({ format: 'jwk' }))
    assert.equal(info.notBefore.getTime(), new Date(certificate.validFrom).getTime())
    assert.equal(info.notAfter.getTime(), new Date(certificate.validTo).getTime())
    assert.equal(info.notAfter.getTime() - info.notBefore.getTime(), DAY + 5 * MINUTE)
    assert.ok(Math.abs(info.notBefore.getTime() + 5 * MINUTE - startedAt) < 10_000)
  })

  test('--out-cert and --out-key: the key with mode 0600; --days, --alg', () => {
    const certFile = path.join(dir, 'eddsa.pem')
    const keyFile = path.join(dir, 'eddsa.key')
    const result = run([
      'cert',
      '--days',
      '3',
      '--alg',
      'EdDSA',
      '--out-cert',
      certFile,
      '--out-key',
      keyFile,
    ])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(result.stderr, '')
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600)
    const certificate = new X509Certificate(fs.readFileSync(certFile))
    assert.equal(certificate.checkPrivateKey(createPrivateKey(fs.readFileSync(keyFile))), true)
    assert.equal(certificate.publicKey.asymmetricKeyType, 'ed25519')
    assert.equal(certificate.subject, 'CN=keybound client')
    const [first] = result.stdout.split('\n')
    assert.equal(
      first,
      `wrote the EdDSA certificate to ${certFile} and its key to ${keyFile} (mode 0600)`,
    )
    const info = printed(result.stdout)
    assert.equal(info.thumbprint, sha256OfDer(certificate))
    assert.equal(info.notAfter.getTime() - info.notBefore.getTime(), 3 * DAY + 5 * MINUTE)
  })

  test('--out BASE writes BASE.pem and BASE.key; existing files are kept without --force', () => {
    const base = path.join(dir, 'client')
    const first = run(['cert', '--out', base])
    assert.equal(first.status, 0, first.stderr)
    const before = {
      cert: fs.readFileSync(`${base}.pem`, 'utf8'),
      key: fs.readFileSync(`${base}.key`, 'utf8'),
    }
    assert.equal(printed(first.stdout).thumbprint, sha256OfDer(new X509Certificate(before.cert)))

    assertUsageError(
      run(['cert', '--out', base]),
      `${base}.key already exists; use --force to overwrite it`,
    )
    fs.rmSync(`${base}.key`)
    // The certificate exists: the key is not written either.
    assertUsageError(
      run(['cert', '--out', base]),
      `${base}.pem already exists; use --force to overwrite it`,
    )
    assert.equal(fs.existsSync(`${base}.key`), false)
    assert.equal(fs.readFileSync(`${base}.pem`, 'utf8'), before.cert)

    // --force replaces them, the key with mode 0600 even where a wider file was.
    fs.writeFileSync(`${base}.key`, 'old', { mode: 0o644 })
    const forced = run(['cert', '--out', base, '--force'])
    assert.equal(forced.status, 0, forced.stderr)
    assert.equal(fs.statSync(`${base}.key`).mode & 0o777, 0o600)
    const certificate = new X509Certificate(fs.readFileSync(`${base}.pem`))
    assert.notEqual(
      certificate.raw.toString('base64'),
      new X509Certificate(before.cert).raw.toString('base64'),
    )
    assert.equal(
      certificate.checkPrivateKey(createPrivateKey(fs.readFileSync(`${base}.key`))),
      true,
    )
  })

  test('--key: a certificate of a key keygen made (JWK) or of a PEM key', () => {
    const jwkFile = path.join(dir, 'registered.json')
    const keygen = run(['keygen', '--alg', 'ES384', '--out', jwkFile])
    assert.equal(keygen.status, 0, keygen.stderr)
    const jwk = JSON.parse(fs.readFileSync(jwkFile, 'utf8'))
    const fromJwk = run(['cert', '--key', jwkFile])
    assert.equal(fromJwk.status, 0, fromJwk.stderr)
    const certificate = new X509Certificate(fromJwk.stdout)
    assert.deepEqual(printed(fromJwk.stderr).publicJwk, {
      kty: 'EC',
      crv: 'P-384',
      x: jwk.x,
      y: jwk.y,
    })
    assert.equal(certificate.checkPrivateKey(createPrivateKey({ key: jwk, format: 'jwk' })), true)

    const pemFile = path.join(dir, 'registered.key')
    fs.writeFileSync(
      pemFile,
      createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }),
    )
    const fromPem = run(['cert', '--key', pemFile, '--subject', 'CN=renewed'])
    assert.equal(fromPem.status, 0, fromPem.stderr)
    assert.deepEqual(printed(fromPem.stderr).publicJwk, printed(fromJwk.stderr).publicJwk)
    assert.equal(new X509Certificate(fromPem.stdout).subject, 'CN=renewed')
  })

  test('bad flags: one line on stderr, exit 2', () => {
    const ecKey = path.join(dir, 'ec.json')
    assert.equal(run(['keygen', '--out', ecKey]).status, 0)
    const notAKey = path.join(dir, 'not-a-key.txt')
    fs.writeFileSync(notAKey, 'hello')
    const missing = path.join(dir, 'missing.key')
    const cases: Array<[string[], string]> = [
      [['--days', '0'], '--days must be above 0 and at most 3650, got "0"'],
      [['--days', '3651'], '--days must be above 0 and at most 3650, got "3651"'],
      [['--days', 'soon'], '--days must be a number, got "soon"'],
      [
        ['--alg', 'HS256'],
        'unknown alg "HS256" (allowed: ES256, ES384, ES512, RS256, PS256, EdDSA)',
      ],
      [
        ['--subject', 'XX=client'],
        '--subject is not an RFC 4514 name: unknown attribute type "XX"',
      ],
      [['--subject', ''], '--subject must name at least one attribute'],
      [['--out-cert', 'a.pem'], '--out-cert and --out-key go together: give both'],
      [['--out-key', 'a.key'], '--out-cert and --out-key go together: give both'],
      [['--out', 'a', '--out-key', 'a.key'], 'give --out, or --out-cert and --out-key, not both'],
      [
        ['--out-cert', 'same', '--out-key', 'same'],
        '--out-cert and --out-key must be different files',
      ],
      [['--out', ''], '--out needs a file name'],
      [['--force'], '--force needs --out, or --out-cert and --out-key'],
      [['--key', missing], `cannot read key file ${missing}: no such file or directory`],
      [['--key', ecKey, '--alg', 'RS256'], `--alg RS256 does not fit the ec key of --key`],
      [['--bogus'], 'unknown option --bogus for "cert" (see "keybound cert --help")'],
      [['--days'], 'option --days needs a value (see "keybound cert --help")'],
      [['extra'], 'unexpected argument extra for "cert" (see "keybound cert --help")'],
    ]
    for (const [args, message] of cases) assertUsageError(run(['cert', ...args]), message)
    const garbage = run(['cert', '--key', notAKey])
    assert.equal(garbage.status, 2)
    assert.match(
      garbage.stderr,
      new RegExp(`^keybound: key file ${notAKey} is not a private key \\(PEM or JWK\\): .+\\n$`),
    )
  })

  test('--help', () => {
    const result = run(['cert', '--help'])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /^Usage: keybound cert /)
    for (const flag of [
      '--subject',
      '--days',
      '--alg',
      '--key',
      '--out',
      '--out-cert',
      '--out-key',
      '--force',
    ]) {
      assert.match(result.stdout, new RegExp(`^ {2}${flag} `, 'm'))
    }
  })
})

describe('curl presents what keybound cert wrote (the docs walk-through)', () => {
  let t: TestServer
  let tlsBase: string
  let caFile: string

  before(async () => {
    const ca = await createCa('CN=cli cert test CA')
    const server = await ca.issue({ subject: 'CN=localhost', ip: ['127.0.0.1'], server: true })
    caFile = path.join(dir, 'server-ca.pem')
    fs.writeFileSync(caFile, ca.pem)
    fs.writeFileSync(path.join(dir, 'server.pem'), server.pem)
    fs.writeFileSync(path.join(dir, 'server.key'), server.key)
    const port = await freePort()
    tlsBase = `https://127.0.0.1:${port}`
    t = await startServer({
      tls: {
        port,
        cert: path.join(dir, 'server.pem'),
        key: path.join(dir, 'server.key'),
      },
      clients: [
        {
          client_id: 'worker',
          client_secret: SECRET,
          grant_types: ['client_credentials'],
          token_binding: 'mtls',
        },
      ],
    })
  })
  after(() => t?.close())

  test('a token bound to the printed x5t#S256', async () => {
    // curl is part of the machine: missing, the test fails (it never skips).
    assert.equal(spawnSync('curl', ['--version']).status, 0, 'curl is not installed')
    const base = path.join(dir, 'curl-client')
    const made = run(['cert', '--subject', 'CN=worker', '--out', base])
    assert.equal(made.status, 0, made.stderr)
    const { stdout } = await promisify(execFile)('curl', [
      '-sS',
      '--cacert',
      caFile,
      '--cert',
      `${base}.pem`,
      '--key',
      `${base}.key`,
      '-u',
      `worker:${SECRET}`,
      '-d',
      'grant_type=client_credentials',
      `${tlsBase}/token`,
    ])
    const answer = JSON.parse(stdout) as { access_token: string; token_type: string }
    assert.equal(answer.token_type, 'Bearer')
    assert.deepEqual(decodeJwt(answer.access_token).cnf, {
      'x5t#S256': printed(made.stdout).thumbprint,
    })
  })
})
