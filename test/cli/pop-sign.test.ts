// `keybound pop-sign`, run as the real bin (dist/cli/main.js) in child processes; every printed
// signature is verified with the binding's verifyPopSignature (pop-wire-format.md §2, §3).
import assert from 'node:assert/strict'
import { type SpawnSyncReturns, spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  type PopPolicy,
  type PopRequest,
  verifyPopSignature,
} from '../../src/bindings/pop/verify.js'
import { EXAMPLE_JWS, EXAMPLE_PRIVATE_JWK } from '../bindings/pop/fixtures.js'
import { assertUsageError, BIN, buildIfStale, ROOT, runCli } from '../helpers/cli.js'

const AT = 'a-pop-access-token'

const run = (args: readonly string[]) => runCli(['pop-sign', ...args])

/** The JWS of a `PoP <jws>` line. */
function printedJws(result: SpawnSyncReturns<string>): string {
  assert.equal(result.status, 0, result.stderr)
  assert.equal(result.stderr, '')
  const match = /^PoP ([\w-]+\.[\w-]+\.[\w-]+)\n$/.exec(result.stdout)
  assert.ok(match, `not "PoP <jws>": ${result.stdout}`)
  return match[1] as string
}

let dir: string
let jwkFile: string
let pemFile: string
let ecFile: string
let exampleFile: string
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const RSA_CNF = { ...rsa.publicKey.export({ format: 'jwk' }), alg: 'RS256' }
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })

before(() => {
  buildIfStale()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keybound-pop-sign-'))
  jwkFile = path.join(dir, 'rsa.json')
  fs.writeFileSync(jwkFile, JSON.stringify(rsa.privateKey.export({ format: 'jwk' })))
  pemFile = path.join(dir, 'rsa.pem')
  fs.writeFileSync(pemFile, rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }))
  ecFile = path.join(dir, 'ec.pem')
  fs.writeFileSync(ecFile, ec.privateKey.export({ format: 'pem', type: 'sec1' }))
  exampleFile = path.join(dir, 'example.json')
  fs.writeFileSync(exampleFile, JSON.stringify(EXAMPLE_PRIVATE_JWK))
})

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

function verify(jws: string, request: PopRequest, policy: PopPolicy, cnfJwk: unknown = RSA_CNF) {
  return verifyPopSignature(jws, { cnfJwk, accessToken: AT, request, policy })
}

describe('keybound pop-sign', () => {
  test('the worked example (§4.2) byte for byte, from the command line', () => {
    const result = run([
      '--key',
      exampleFile,
      '--token',
      '8b1e2f0c6a5d4e3f9a7b6c5d4e3f2a1b',
      '--method',
      'POST',
      '--url',
      'https://api.example.com/orders/42?y=5&x=1&y=3',
      '--header',
      'x-tenant: contoso',
      '--header',
      'x-request-id:abc123',
      '--body',
      '{"item":"book","qty":2}',
      '--sign',
      'm,u,p,q,h,b',
      '--ts',
      '1459512000',
    ])
    assert.equal(printedJws(result), EXAMPLE_JWS)
  })

  test('default parts m,u,p,q,b with a JWK key verify against the request', async () => {
    const jws = printedJws(
      run([
        '--key',
        jwkFile,
        '--token',
        AT,
        '-X',
        'POST',
        '--url',
        'http://127.0.0.1:8080/orders?b=2&a=1',
        '--header',
        'x-tenant: contoso',
        '--body',
        'héllo',
      ]),
    )
    const verified = await verify(
      jws,
      {
        method: 'POST',
        host: '127.0.0.1:8080',
        path: '/orders',
        query: '?b=2&a=1',
        headers: { 'x-tenant': 'contoso' },
        body: Buffer.from('héllo'),
      },
      { required: ['m', 'u', 'p', 'q', 'b'] },
    )
    assert.deepEqual(verified.covered, ['m', 'u', 'p', 'q', 'b'])
    assert.equal(verified.payload.u, '127.0.0.1:8080')
  })

  test('a PEM key, --token-file, --body-file bytes, headers covered, --jws', async () => {
    const tokenFile = path.join(dir, 'token')
    fs.writeFileSync(tokenFile, `${AT}\n`)
    const bodyFile = path.join(dir, 'body.bin')
    const bytes = Buffer.from([0, 255, 10, 13, 128, 1])
    fs.writeFileSync(bodyFile, bytes)
    const result = run([
      '--key',
      pemFile,
      '--token-file',
      tokenFile,
      '--method',
      'PUT',
      '--url',
      'https://api.example/files/a%20b',
      '--header',
      'Content-Type: application/octet-stream',
      '--header',
      'x-request-id: 42',
      '--body-file',
      bodyFile,
      '--sign',
      'm,p,h,b',
      '--jws',
    ])
    assert.equal(result.status, 0, result.stderr)
    const jws = result.stdout.trim()
    assert.match(jws, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    const verified = await verify(
      jws,
      {
        method: 'PUT',
        host: 'api.example',
        path: '/files/a%20b',
        query: '',
        headers: { 'content-type': 'application/octet-stream', 'x-request-id': '42' },
        body: bytes,
      },
      { required: ['m', 'p', 'h', 'b'], headerNames: ['content-type', 'x-request-id'] },
    )
    assert.deepEqual(verified.covered, ['m', 'p', 'h', 'b'])
  })

  test('--sign none gives {at, ts}; an EC PEM key signs ES256', async () => {
    const jws = printedJws(
      run([
        '--key',
        ecFile,
        '--token',
        AT,
        '--method',
        'GET',
        '--url',
        'https://api.example/x',
        '--sign',
        'none',
      ]),
    )
    const cnf = ec.publicKey.export({ format: 'jwk' })
    const verified = await verify(
      jws,
      { method: 'GET', host: 'api.example', path: '/x', query: '', headers: {} },
      {},
      cnf,
    )
    assert.equal(verified.alg, 'ES256')
    assert.deepEqual(Object.keys(verified.payload), ['at', 'ts'])
  })

  test('bad input: one line on stderr, exit 2, no stack trace', () => {
    const base = ['--token', AT, '--method', 'GET', '--url', 'https://api.example/x']
    assertUsageError(run(base), 'missing required option --key')
    assertUsageError(run(['--key', path.join(dir, 'absent.json'), ...base]), 'cannot read key file')
    const bad = path.join(dir, 'bad.pem')
    fs.writeFileSync(bad, 'not a key')
    assertUsageError(run(['--key', bad, ...base]), 'is not a private key (PEM or JWK)')
    const pub = path.join(dir, 'pub.json')
    fs.writeFileSync(pub, JSON.stringify(rsa.publicKey.export({ format: 'jwk' })))
    assertUsageError(run(['--key', pub, ...base]), 'holds a public key')
    const key = ['--key', jwkFile]
    assertUsageError(
      run([...key, '--token', AT, '--method', 'GET', '--url', 'not a url']),
      '--url is not an absolute URL',
    )
    assertUsageError(
      run([...key, '--token', AT, '--method', 'GET', '--url', 'ftp://x/y']),
      '--url must be an http or https URL',
    )
    assertUsageError(
      run([...key, '--method', 'GET', '--url', 'https://api.example/x']),
      'missing required option --token',
    )
    assertUsageError(run([...key, ...base, '--sign', 'm,x']), '--sign: unknown part "x"')
    assertUsageError(run([...key, ...base, '--header', 'no-colon']), '--header must be NAME:VALUE')
    assertUsageError(run([...key, ...base, '--alg', 'ES256']), 'alg ES256 does not fit the key')
    assertUsageError(run([...key, ...base, '--ts', '1.5']), '--ts must be an integer')
    assertUsageError(
      run([...key, ...base, '--token-file', path.join(dir, 'absent')]),
      'give --token or --token-file, not both',
    )
  })

  test('--help, and listed by keybound --help', () => {
    const help = run(['--help'])
    assert.equal(help.status, 0)
    assert.match(help.stdout, /^Usage: keybound pop-sign/)
    const top = spawnSync(process.execPath, [BIN, '--help'], { cwd: ROOT, encoding: 'utf8' })
    assert.match(top.stdout, /\n {2}pop-sign {2}/)
  })
})
