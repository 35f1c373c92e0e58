// Runs the real `keybound` bin (dist/cli/main.js) in child processes.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { computeAth } from '../../src/bindings/dpop/ath.js'
import { verifyProof } from '../../src/bindings/dpop/verify.js'
import { jwkThumbprint, type PublicJwk } from '../../src/jose/jwk.js'
import { assertUsageError, BIN, buildIfStale, ROOT, runCli as run } from '../helpers/cli.js'

const URL_TOKEN = 'https://as.example/token'

/** The public JWK and jkt lines printed by `keygen`. */
function printedKey(text: string): {
  publicJwk: PublicJwk & { alg: string; kid: string }
  jkt: string
} {
  const jwkLine = /^public jwk: (.+)$/m.exec(text)
  const jktLine = /^jkt: (\S+)$/m.exec(text)
  assert.ok(jwkLine && jktLine, `no public jwk / jkt in: ${text}`)
  return { publicJwk: JSON.parse(jwkLine[1] as string), jkt: jktLine[1] as string }
}

let dir: string
let ecKey: string
let ecJkt: string
let rsaKey: string

before(() => {
  buildIfStale()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keybound-cli-'))
  ecKey = path.join(dir, 'ec.json')
  rsaKey = path.join(dir, 'rsa.json')
  const ec = run(['keygen', '--out', ecKey])
  assert.equal(ec.status, 0, ec.stderr)
  ecJkt = printedKey(ec.stdout).jkt
  const rsa = run(['keygen', '--alg', 'RS256', '--out', rsaKey])
  assert.equal(rsa.status, 0, rsa.stderr)
})

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

describe('keybound (top level)', () => {
  test('--help and help list the commands', () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const result = run(args)
      assert.equal(result.status, 0)
      for (const command of ['keygen', 'proof', 'inspect'])
        assert.match(result.stdout, new RegExp(command))
    }
  })

  test('help COMMAND and COMMAND --help show its options', () => {
    for (const args of [
      ['help', 'proof'],
      ['proof', '--help'],
    ]) {
      const result = run(args)
      assert.equal(result.status, 0)
      assert.match(result.stdout, /--access-token/)
    }
  })

  test('--version prints the package version', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
    const result = run(['--version'])
    assert.equal(result.status, 0)
    assert.equal(result.stdout, `${pkg.version}\n`)
  })

  test('no command: usage on stderr, exit 2', () => {
    const result = run([])
    assert.equal(result.status, 2)
    assert.equal(result.stdout, '')
    assert.match(result.stderr, /Usage: keybound/)
  })
})

describe('keybound keygen', () => {
  for (const alg of ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA']) {
    test(`${alg}: writes a 0600 private JWK and prints its public half and jkt`, () => {
      const out = path.join(dir, `keygen-${alg}.json`)
      const result = run(['keygen', '--alg', alg, '--out', out])
      assert.equal(result.status, 0, result.stderr)
      assert.equal(fs.statSync(out).mode & 0o777, 0o600)

      const jwk = JSON.parse(fs.readFileSync(out, 'utf8'))
      assert.equal(typeof jwk.d, 'string')
      assert.equal(jwk.alg, alg)
      const { publicJwk, jkt } = printedKey(result.stdout)
      assert.equal(jwkThumbprint(publicJwk), jkt)
      assert.equal(jwk.kid, jkt)
      assert.equal(publicJwk.kid, jkt)
      assert.equal(publicJwk.alg, alg)
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(member in publicJwk))
      for (const member of ['kty', 'crv', 'x', 'y', 'n', 'e'] as const) {
        assert.equal(publicJwk[member], jwk[member], member)
      }
      if (jwk.kty === 'RSA') assert.equal(Buffer.from(jwk.n, 'base64url').length * 8, 2048)

      const again = run(['keygen', '--alg', alg, '--out', out])
      assertUsageError(again, 'already exists')
      assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).kid, jkt)
    })
  }

  test('--force replaces the file, still 0600', () => {
    const out = path.join(dir, 'forced.json')
    fs.writeFileSync(out, 'old', { mode: 0o644 })
    const result = run(['keygen', '--out', out, '--force'])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(fs.statSync(out).mode & 0o777, 0o600)
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).kid, printedKey(result.stdout).jkt)
  })

  test('without --out: the private JWK alone on stdout, public JWK and jkt on stderr', () => {
    const result = run(['keygen', '--alg', 'ES384'])
    assert.equal(result.status, 0, result.stderr)
    const jwk = JSON.parse(result.stdout)
    assert.equal(jwk.crv, 'P-384')
    assert.equal(typeof jwk.d, 'string')
    const { publicJwk, jkt } = printedKey(result.stderr)
    assert.equal(jwk.kid, jkt)
    assert.equal(publicJwk.x, jwk.x)
  })
})

describe('keybound proof', () => {
  test('prints one line that verifies, with htm, htu, ath, nonce and the keygen jkt', async () => {
    const result = run([
      'proof',
      '--key',
      ecKey,
      '--method',
      'POST',
      '--url',
      `${URL_TOKEN}?query=1#frag`,
      '--access-token',
      'token-123',
      '--nonce',
      'nonce-abc',
    ])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(result.stderr, '')
    assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const verified = await verifyProof(result.stdout.trim(), {
      htm: 'POST',
      htu: URL_TOKEN,
      accessToken: 'token-123',
      nonce: 'nonce-abc',
      expectedJkt: ecJkt,
      replayCache: null,
    })
    assert.equal(verified.jkt, ecJkt)
    assert.equal(verified.alg, 'ES256')
    assert.equal(verified.claims.htm, 'POST')
    assert.equal(verified.claims.htu, URL_TOKEN)
    assert.equal(verified.claims.ath, computeAth('token-123'))
    assert.equal(verified.claims.nonce, 'nonce-abc')
  })

  test('--iat and --jti are used as given', async () => {
    const iat = 1_700_000_000
    const result = run(['proof', '--key', ecKey, '--method', 'GET', '--url', URL_TOKEN])
    assert.equal(result.status, 0, result.stderr)
    const fixed = run([
      'proof',
      '--key',
      ecKey,
      '--method',
      'GET',
      '--url',
      URL_TOKEN,
      '--iat',
      String(iat),
      '--jti',
      'my-jti',
    ])
    assert.equal(fixed.status, 0, fixed.stderr)
    const verified = await verifyProof(fixed.stdout.trim(), {
      htm: 'GET',
      htu: URL_TOKEN,
      replayCache: null,
      currentDate: new Date(iat * 1000),
    })
    assert.equal(verified.claims.iat, iat)
    assert.equal(verified.claims.jti, 'my-jti')
  })

  test('--alg PS256 signs with an RSA key; the JWK alg (RS256) is the default', async () => {
    const pss = run([
      'proof',
      '--key',
      rsaKey,
      '--method',
      'GET',
      '--url',
      URL_TOKEN,
      '--alg',
      'PS256',
    ])
    assert.equal(pss.status, 0, pss.stderr)
    const verified = await verifyProof(pss.stdout.trim(), {
      htm: 'GET',
      htu: URL_TOKEN,
      algs: ['PS256'],
      replayCache: null,
    })
    assert.equal(verified.alg, 'PS256')
    assert.equal(verified.jkt, JSON.parse(fs.readFileSync(rsaKey, 'utf8')).kid)

    const pkcs1 = run(['proof', '--key', rsaKey, '--method', 'GET', '--url', URL_TOKEN])
    assert.equal(pkcs1.status, 0, pkcs1.stderr)
    const header = JSON.parse(
      Buffer.from(pkcs1.stdout.split('.')[0] as string, 'base64url').toString(),
    )
    assert.equal(header.alg, 'RS256')
  })

  test('a JWK without "alg" signs with the alg that fits the key', async () => {
    const out = path.join(dir, 'ed.json')
    assert.equal(run(['keygen', '--alg', 'EdDSA', '--out', out]).status, 0)
    const { alg: _, ...jwk } = JSON.parse(fs.readFileSync(out, 'utf8'))
    const noAlg = path.join(dir, 'ed-no-alg.json')
    fs.writeFileSync(noAlg, JSON.stringify(jwk), { mode: 0o600 })
    const result = run(['proof', '--key', noAlg, '--method', 'GET', '--url', URL_TOKEN])
    assert.equal(result.status, 0, result.stderr)
    const verified = await verifyProof(result.stdout.trim(), {
      htm: 'GET',
      htu: URL_TOKEN,
      replayCache: null,
    })
    assert.equal(verified.alg, 'EdDSA')
    assert.equal(verified.jkt, jwk.kid)
  })
})

describe('keybound inspect', () => {
  let proof: string
  before(() => {
    const result = run([
      'proof',
      '--key',
      ecKey,
      '--method',
      'POST',
      '--url',
      URL_TOKEN,
      '--access-token',
      'tok',
      '--nonce',
      'n-1',
    ])
    assert.equal(result.status, 0, result.stderr)
    proof = result.stdout.trim()
  })
  const context = () => [
    '--method',
    'POST',
    '--url',
    URL_TOKEN,
    '--access-token',
    'tok',
    '--nonce',
    'n-1',
    // A thumbprint is base64url and starts with "-" one time in 64: the `=` form takes it.
    `--jkt=${ecJkt}`,
  ]

  test('a good proof: header, payload, jkt, iat age and PASS lines; exit 0', () => {
    const result = run(['inspect', proof, ...context()])
    assert.equal(result.status, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /"typ": "dpop\+jwt"/)
    assert.match(result.stdout, /"htu": "https:\/\/as\.example\/token"/)
    assert.ok(result.stdout.includes(`jkt: ${ecJkt}`))
    assert.match(result.stdout, /^iat: \d+ \(.+\), \d+ s old at server time \d+/m)
    for (const check of ['signature', 'htm', 'htu', 'nonce', 'iat', 'ath', 'jkt']) {
      assert.match(result.stdout, new RegExp(`^ {2}PASS {2}${check}\\b`, 'm'), check)
    }
    assert.doesNotMatch(result.stdout, /FAIL/)
    assert.match(result.stdout, /result: valid/)
  })

  test('without context the request checks are skipped, and the proof is still valid', () => {
    const result = run(['inspect', proof])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /^ {2}SKIP {2}htu\s+not given$/m)
  })

  test('a wrong --url: FAIL htu_mismatch, exit 1', () => {
    const result = run(['inspect', proof, '--method', 'POST', '--url', 'https://rs.example/api'])
    assert.equal(result.status, 1)
    assert.match(
      result.stdout,
      /^ {2}FAIL {2}htu\s+htu_mismatch: .*expected=https:\/\/rs\.example\/api/m,
    )
    assert.match(result.stdout, /result: INVALID \(1 check failed\)/)
  })

  test('a wrong --jkt, access token and nonce fail with their reasons', () => {
    const result = run([
      'inspect',
      proof,
      '--jkt',
      'not-the-jkt',
      '--access-token',
      'other',
      '--nonce',
      'n-2',
    ])
    assert.equal(result.status, 1)
    for (const reason of ['jkt_mismatch', 'ath_mismatch', 'nonce_invalid']) {
      assert.match(result.stdout, new RegExp(`FAIL .*${reason}`), reason)
    }
  })

  test('an old proof fails iat against server time', () => {
    const old = run([
      'proof',
      '--key',
      ecKey,
      '--method',
      'GET',
      '--url',
      URL_TOKEN,
      '--iat',
      String(Math.floor(Date.now() / 1000) - 3600),
    ])
    const result = run(['inspect', old.stdout.trim()])
    assert.equal(result.status, 1)
    assert.match(result.stdout, /^iat: \d+ .*, 3[56]\d\d s old/m)
    assert.match(result.stdout, /FAIL {2}iat\s+iat_too_old/)
    const tolerant = run(['inspect', old.stdout.trim(), '--max-age', '7200'])
    assert.equal(tolerant.status, 0, tolerant.stdout)
  })

  test('not a JWS: FAIL malformed_jws, exit 1', () => {
    const result = run(['inspect', 'not-a-proof'])
    assert.equal(result.status, 1)
    assert.match(result.stdout, /FAIL {2}compact JWS\s+malformed_jws/)
  })

  test('--json prints the Inspection', () => {
    const result = run(['inspect', proof, '--json', ...context()])
    assert.equal(result.status, 0)
    const inspection = JSON.parse(result.stdout)
    assert.equal(inspection.valid, true)
    assert.equal(inspection.jkt, ecJkt)
    assert.equal(inspection.payload.htm, 'POST')
    assert.ok(inspection.steps.length > 10)
    assert.ok(inspection.steps.every((s: { status: string }) => s.status === 'pass'))

    const bad = run(['inspect', proof, '--json', '--url', 'https://rs.example/'])
    assert.equal(bad.status, 1)
    const failed = JSON.parse(bad.stdout)
    assert.equal(failed.valid, false)
    assert.deepEqual(
      failed.steps
        .filter((s: { status: string }) => s.status === 'fail')
        .map((s: { reason: string }) => s.reason),
      ['htu_mismatch'],
    )
  })

  test('PROOF "-" reads the proof from stdin', () => {
    const result = run(['inspect', '-', ...context()], `${proof}\n`)
    assert.equal(result.status, 0, result.stdout)
    assert.match(result.stdout, /PASS {2}signature/)
  })
})

describe('errors: one line on stderr, exit 2, no stack', () => {
  const proofArgs = (key: string, ...more: string[]) => [
    'proof',
    '--key',
    key,
    '--method',
    'GET',
    '--url',
    URL_TOKEN,
    ...more,
  ]
  const file = (name: string, text: string) => {
    const p = path.join(dir, name)
    fs.writeFileSync(p, text)
    return p
  }

  test('missing key file', () => {
    assertUsageError(
      run(proofArgs(path.join(dir, 'nope.json'))),
      /cannot read key file .*nope\.json: no such file/,
    )
  })

  test('unreadable key file (a directory)', () => {
    assertUsageError(run(proofArgs(dir)), /cannot read key file .*: is a directory/)
  })

  test('malformed JSON', () => {
    assertUsageError(
      run(proofArgs(file('bad.json', '{"kty":'))),
      /key file .*bad\.json is not valid JSON/,
    )
  })

  test('empty key file', () => {
    assertUsageError(run(proofArgs(file('empty.json', ''))), /key file .*empty\.json is empty/)
  })

  test('JSON that is not a JWK', () => {
    assertUsageError(run(proofArgs(file('array.json', '[1,2]'))), /is not a JWK/)
    assertUsageError(
      run(proofArgs(file('object.json', '{"a":1}'))),
      /is not a JWK: "kty" is missing/,
    )
    assertUsageError(
      run(proofArgs(file('oct.json', '{"kty":"oct","k":"AAAA"}'))),
      /unsupported key type "oct"/,
    )
  })

  test('malformed private key', () => {
    const broken = file('broken.json', '{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}')
    assertUsageError(run(proofArgs(broken)), /is not a valid private JWK/)
  })

  test('a public key where a private one belongs', () => {
    const { d: _, ...pub } = JSON.parse(fs.readFileSync(ecKey, 'utf8'))
    assertUsageError(
      run(proofArgs(file('public.json', JSON.stringify(pub)))),
      /holds a public key; a private JWK \(with "d"\) is required/,
    )
  })

  test('unknown alg lists the allowed ones', () => {
    for (const result of [
      run(proofArgs(ecKey, '--alg', 'HS256')),
      run(['keygen', '--alg', 'none']),
    ]) {
      assertUsageError(
        result,
        /unknown alg "(HS256|none)" \(allowed: ES256, ES384, ES512, PS256, .*EdDSA/,
      )
    }
  })

  test('an alg that does not fit the key', () => {
    assertUsageError(
      run(proofArgs(ecKey, '--alg', 'PS256')),
      'alg PS256 does not fit the key (EC P-256)',
    )
    assertUsageError(
      run(proofArgs(rsaKey, '--alg', 'ES256')),
      'alg ES256 does not fit the key (RSA)',
    )
  })

  test('missing required flags', () => {
    assertUsageError(
      run(['proof', '--method', 'GET', '--url', URL_TOKEN]),
      'missing required option --key',
    )
    assertUsageError(
      run(['proof', '--key', ecKey, '--url', URL_TOKEN]),
      'missing required option --method',
    )
    assertUsageError(
      run(['proof', '--key', ecKey, '--method', 'GET']),
      'missing required option --url',
    )
    assertUsageError(run(['proof', '--key']), 'option --key needs a value')
    assertUsageError(run(['inspect']), 'missing PROOF')
  })

  test('bad flag values', () => {
    assertUsageError(run(proofArgs(ecKey, '--iat', 'soon')), '--iat must be an integer')
    assertUsageError(
      run(['proof', '--key', ecKey, '--method', 'GET', '--url', 'as.example/token']),
      '--url is not an absolute URL',
    )
    assertUsageError(
      run(['inspect', 'x', '--url', 'ftp://as.example/']),
      '--url must be an absolute http or https URL',
    )
    assertUsageError(run(['inspect', 'x', '--max-age', 'long']), '--max-age must be a number')
    assertUsageError(run(['inspect', 'x', '--json=yes']), 'option --json takes no value')
  })

  test('unknown flag', () => {
    assertUsageError(run(proofArgs(ecKey, '--bogus')), 'unknown option --bogus for "proof"')
    assertUsageError(run(['inspect', 'x', '-z']), 'unknown option -z for "inspect"')
    assertUsageError(run(['--bogus']), 'unknown option --bogus')
  })

  test('unknown command', () => {
    assertUsageError(
      run(['frobnicate']),
      /unknown command "frobnicate" \(commands: serve, migrate, keygen, proof, inspect/,
    )
    assertUsageError(run(['help', 'frobnicate']), 'unknown command "frobnicate"')
  })

  test('keygen: --out in a missing directory', () => {
    assertUsageError(
      run(['keygen', '--out', path.join(dir, 'missing', 'k.json')]),
      /cannot write .*: no such file or directory/,
    )
  })
})

describe('unexpected errors', () => {
  // createProof refuses Ed448 keys (WebCrypto cannot sign with them) with a TypeError the CLI
  // does not translate, so it shows the generic path.
  test('message only, exit 2; the stack with KEYBOUND_DEBUG=1', () => {
    const key = path.join(dir, 'ed448.json')
    const { privateKey } = generateKeyPairSync('ed448')
    const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'EdDSA' }
    fs.writeFileSync(key, JSON.stringify(jwk), { mode: 0o600 })
    const args = ['proof', '--key', key, '--method', 'GET', '--url', URL_TOKEN]
    assertUsageError(run(args), 'Ed448 keys cannot sign proofs')
    const debug = spawnSync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, KEYBOUND_DEBUG: '1' },
    })
    assert.equal(debug.status, 2)
    assert.match(debug.stderr, /^\s+at /m)
  })
})
