import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import { readPopTokenRequest } from '../../../src/bindings/pop/issue.js'
import { InvalidRequestError } from '../../../src/errors.js'
import { DOTNET_SHAPED_JWK, EXAMPLE_KEY_PARAM, EXAMPLE_PRIVATE_JWK } from './fixtures.js'

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const { d, p, q, dp, dq, qi, ...PUBLIC } = EXAMPLE_PRIVATE_JWK

function refused(params: Record<string, string>): string {
  try {
    readPopTokenRequest(params)
  } catch (error) {
    assert.ok(error instanceof InvalidRequestError, String(error))
    assert.equal(error.status, 400)
    return `${error.reason}: ${error.error_description}`
  }
  assert.fail('accepted')
}

test('without token_type=pop the request is not a PoP request (exact, case-sensitive)', () => {
  assert.equal(readPopTokenRequest({ key: EXAMPLE_KEY_PARAM }), undefined)
  assert.equal(readPopTokenRequest({ token_type: 'PoP', key: EXAMPLE_KEY_PARAM }), undefined)
})

test('the worked example key (§4.1) gives the clean JWK and echoes alg', () => {
  assert.equal(EXAMPLE_KEY_PARAM.length, 538)
  const pop = readPopTokenRequest({ token_type: 'pop', alg: 'RS256', key: EXAMPLE_KEY_PARAM })
  assert.deepEqual(pop, { alg: 'RS256', jwk: { ...PUBLIC, alg: 'RS256', kid: 'popkey1' } })
  // Padded base64url is accepted too (IdentityModel's Base64Url.Decode re-pads).
  const padded = `${EXAMPLE_KEY_PARAM}${'='.repeat((4 - (EXAMPLE_KEY_PARAM.length % 4)) % 4)}`
  assert.notEqual(padded, EXAMPLE_KEY_PARAM)
  assert.deepEqual(readPopTokenRequest({ token_type: 'pop', key: padded })?.jwk, pop?.jwk)
  assert.equal(readPopTokenRequest({ token_type: 'pop', key: padded })?.alg, undefined)
})

test('a .NET-shaped JWK is tolerated and cleaned', () => {
  const dotnet = DOTNET_SHAPED_JWK
  assert.deepEqual(readPopTokenRequest({ token_type: 'pop', key: b64(dotnet) })?.jwk, {
    kty: 'RSA',
    n: PUBLIC.n,
    e: PUBLIC.e,
    alg: 'RS256',
    kid: dotnet.kid,
  })
})

test('EC keys, with the alg taken from the curve', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })
  const pop = readPopTokenRequest({ token_type: 'pop', key: b64(ec) })
  assert.deepEqual(pop?.jwk, { kty: 'EC', crv: 'P-384', x: ec.x, y: ec.y, alg: 'ES384' })
  assert.match(refused({ token_type: 'pop', alg: 'ES256', key: b64(ec) }), /does not fit alg/)
})

test('each mistake is a 400 invalid_request naming the problem', () => {
  const key = b64({ ...PUBLIC, alg: 'RS256' })
  assert.match(refused({ token_type: 'pop' }), /^pop_key_missing: key is required/)
  assert.match(refused({ token_type: 'pop', alg: 'HS256', key }), /^pop_alg_invalid/)
  assert.match(refused({ token_type: 'pop', alg: 'none', key }), /^pop_alg_invalid/)
  assert.match(refused({ token_type: 'pop', alg: 'PS256', key }), /alg member differs/)
  assert.match(refused({ token_type: 'pop', key: 'x'.repeat(2049) }), /^pop_key_too_long/)
  assert.match(refused({ token_type: 'pop', key: JSON.stringify(PUBLIC) }), /not base64url/)
  assert.match(refused({ token_type: 'pop', key: b64('{"kty":"RSA"') }), /not a JSON object/)
  assert.match(refused({ token_type: 'pop', key: b64('[1]') }), /not a JSON object/)
  // A private RSA JWK is longer than 2048 characters; a private EC JWK is not.
  assert.match(refused({ token_type: 'pop', key: b64(EXAMPLE_PRIVATE_JWK) }), /^pop_key_too_long/)
  const ecPrivate = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  assert.match(
    refused({ token_type: 'pop', key: b64(ecPrivate.export({ format: 'jwk' })) }),
    /^pop_key_private: invalid key: it holds private key members/,
  )
  assert.match(
    refused({ token_type: 'pop', key: b64({ ...PUBLIC, HasPrivateKey: true }) }),
    /^pop_key_private/,
  )
  assert.match(
    refused({ token_type: 'pop', key: b64({ kty: 'oct', k: 'c2VjcmV0', alg: 'HS256' }) }),
    /^pop_key_symmetric/,
  )
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
  assert.match(
    refused({ token_type: 'pop', key: b64(small.export({ format: 'jwk' })) }),
    /RSA size under 2048/,
  )
  const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' })
  assert.match(refused({ token_type: 'pop', key: b64(ed) }), /^pop_key_kty/)
  assert.match(refused({ token_type: 'pop', key: b64({ kty: 'RSA', n: 'AQAB' }) }), /malformed/)
  assert.match(refused({ token_type: 'pop', key: b64({ ...PUBLIC, kid: 7 }) }), /kid/)
})
