/**
 * The ECDSA signature encodings: converting by hand must agree with OpenSSL's own conversion
 * (`dsaEncoding`) for every curve, including halves with leading zeros and high bits.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { test } from 'node:test'
import { derToP1363, p1363ToDer } from '../../src/jose/ecdsa.js'

for (const [curve, size] of [
  ['P-256', 32],
  ['P-384', 48],
  ['P-521', 66],
] as const) {
  test(`${curve}: R || S ↔ DER, both ways, as OpenSSL encodes them`, () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve })
    for (let i = 0; i < 200; i++) {
      const data = Buffer.from(`message ${i}`)
      const der = sign('sha256', data, privateKey)
      const p1363 = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
      assert.equal(p1363.length, 2 * size)
      const fromDer = derToP1363(der, size)
      assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, fromDer))
      const back = p1363ToDer(p1363, size)
      assert.ok(verify('sha256', data, publicKey, back))
      // One to one: OpenSSL's DER of a signature is exactly ours.
      assert.deepEqual(p1363ToDer(fromDer, size), der)
    }
  })
}

test('halves with leading zero bytes and high bits keep a minimal encoding', () => {
  const size = 32
  const r = Buffer.alloc(size)
  r[5] = 0x80 // leading zeros, then a high bit: one 0x00 pad byte after stripping
  const s = Buffer.alloc(size, 0x01)
  const der = p1363ToDer(Buffer.concat([r, s]), size)
  assert.deepEqual([...der.subarray(0, 4)], [0x30, 2 + 28 + 2 + 32, 0x02, 28])
  assert.equal(der[4], 0x00)
  assert.deepEqual(derToP1363(der, size), Buffer.concat([r, s]))
})
