/**
 * The client's WebCrypto computations agree with the server's node:crypto ones: `ath` (RFC 9449
 * §4.2) and the JWK thumbprint (RFC 7638), for CryptoKeys and KeyObjects; which bodies can be
 * sent twice.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import { computeAth } from '../../src/bindings/dpop/ath.js'
import { verifyProof } from '../../src/bindings/dpop/verify.js'
import { athOf, createProof, isReplayableBody, jktOf } from '../../src/client/index.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { jwkThumbprint, type PublicJwk } from '../../src/jose/jwk.js'
import { publicJwkOf } from '../../src/jose/keys.js'
import { RESOURCE_REQUEST_PROOF } from '../vectors/rfc9449.js'

test('athOf is computeAth, asynchronously (RFC 9449 §7.1 example)', async () => {
  assert.equal(await athOf(RESOURCE_REQUEST_PROOF.accessToken), RESOURCE_REQUEST_PROOF.ath)
  for (const token of ['a', 'eyJhbGciOiJFUzI1NiJ9.e30.sig', 'x'.repeat(5000)]) {
    assert.equal(await athOf(token), computeAth(token))
  }
})

test('jktOf: the RFC 7638 thumbprint of CryptoKeys and KeyObjects', async () => {
  for (const alg of ['ES256', 'ES384', 'EdDSA', 'PS256'] as const) {
    const pair = await generateKeyPair(alg)
    assert.equal(await jktOf(pair), jwkThumbprint(await publicJwkOf(pair.publicKey)), alg)
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const expected = jwkThumbprint(publicKey.export({ format: 'jwk' }) as PublicJwk)
  assert.equal(await jktOf(privateKey), expected)
  assert.equal(await jktOf({ privateKey, publicKey }), expected)
})

test('a private KeyObject still signs proofs, ath included, that verifyProof accepts', async () => {
  const { privateKey } = generateKeyPairSync('ed25519')
  const proof = await createProof({
    key: privateKey,
    htm: 'GET',
    htu: 'https://rs.example/x?y',
    accessToken: 'token',
  })
  const verified = await verifyProof(proof, {
    htm: 'GET',
    htu: 'https://rs.example/x',
    accessToken: 'token',
    expectedJkt: await jktOf(privateKey),
    replayCache: null,
  })
  assert.equal(verified.claims.htu, 'https://rs.example/x')
  assert.match(verified.claims.jti, /^[0-9a-f-]{36}$/)
})

test('isReplayableBody', () => {
  const replayable = [
    undefined,
    null,
    '',
    'text',
    new Uint8Array(1),
    Buffer.from('x'),
    new ArrayBuffer(2),
    new DataView(new ArrayBuffer(1)),
    new URLSearchParams('a=1'),
    new Blob(['x']),
    new FormData(),
  ]
  for (const body of replayable) assert.equal(isReplayableBody(body), true, String(body))
  const streams = [
    new Blob(['x']).stream(),
    new Request('http://x.example', { method: 'POST', body: 'x' }).body,
    (async function* () {})(),
    { [Symbol.asyncIterator]() {} },
  ]
  for (const body of streams) assert.equal(isReplayableBody(body), false)
})
