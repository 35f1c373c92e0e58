/**
 * `verifyJwsSignature` decodes each signature and copies each signing input into buffers it
 * reuses (jose/signature.ts): a verification must never see bytes left by the one before it,
 * whatever the lengths, the algs and the order.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { test } from 'node:test'
import type { AsymmetricAlg } from '../../src/jose/algs.js'
import { signCompact } from '../../src/jose/sign.js'
import { verifyJwsSignature } from '../../src/jose/signature.js'

const pairs: Record<string, { privateKey: KeyObject; publicKey: KeyObject }> = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ES512: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  PS256: generateKeyPairSync('rsa', { modulusLength: 3072 }),
  EdDSA: generateKeyPairSync('ed25519'),
}

function signed(alg: AsymmetricAlg, filler: string) {
  const pair = pairs[alg] as (typeof pairs)[string]
  const jws = signCompact(alg, pair.privateKey, { typ: 'JWT' }, { filler })
  return { jws, key: pair.publicKey, start: jws.lastIndexOf('.') + 1 }
}

test('every alg, every length, in any order: each signature checked against its own input', () => {
  const algs = Object.keys(pairs) as AsymmetricAlg[]
  const all = []
  for (let n = 0; n < 40; n++) {
    for (const alg of algs) all.push({ alg, ...signed(alg, 'x'.repeat((n * 37) % 300)) })
  }
  // Shuffled so that long inputs precede short ones and the reverse.
  all.sort((a, b) => ((a.jws.length * 7919) % 101) - ((b.jws.length * 7919) % 101))
  for (const { alg, jws, key, start } of all) {
    assert.equal(verifyJwsSignature(alg, key, jws, start), true, alg)
    // The same signature over an input one character shorter: a view of the wrong length or a
    // byte left over from a longer input would show here.
    const shorter = `${jws.slice(0, start - 2)}${jws.slice(start - 1)}`
    assert.equal(verifyJwsSignature(alg, key, shorter, start - 1), false, alg)
  }
})

test('a flipped byte in the input or the signature does not verify', () => {
  for (const alg of Object.keys(pairs) as AsymmetricAlg[]) {
    const { jws, key, start } = signed(alg, 'flip')
    const input = `${jws.slice(0, 5)}${jws[5] === 'A' ? 'B' : 'A'}${jws.slice(6)}`
    assert.equal(verifyJwsSignature(alg, key, input, start), false, alg)
    const last = jws.length - 3
    const signature = `${jws.slice(0, last)}${jws[last] === 'A' ? 'B' : 'A'}${jws.slice(last + 1)}`
    assert.equal(verifyJwsSignature(alg, key, signature, start), false, alg)
  }
})

test('an empty or non-canonical signature segment is undefined, a wrong length false', () => {
  const { jws, key, start } = signed('ES256', 'segment')
  const input = jws.slice(0, start)
  assert.equal(verifyJwsSignature('ES256', key, input, start), undefined)
  assert.equal(verifyJwsSignature('ES256', key, `${input}AAA=`, start), undefined)
  assert.equal(verifyJwsSignature('ES256', key, `${input}AA+A`, start), undefined)
  assert.equal(verifyJwsSignature('ES256', key, `${jws}AAA`, start), undefined)
  // 63 bytes, canonical: not an ES256 signature.
  assert.equal(verifyJwsSignature('ES256', key, `${input}${'A'.repeat(84)}`, start), false)
  // A signature too long for any key is refused without being decoded into the scratch buffer.
  assert.equal(verifyJwsSignature('RS256', key, `${input}${'A'.repeat(4000)}`, start), false)
})

test('a signing input longer than the reused buffer is verified all the same', () => {
  for (const alg of ['ES256', 'RS256'] as const) {
    const { jws, key, start } = signed(alg, 'y'.repeat(20_000))
    assert.ok(start > 16 * 1024)
    assert.equal(verifyJwsSignature(alg, key, jws, start), true)
    const input = `${jws.slice(0, 5)}${jws[5] === 'A' ? 'B' : 'A'}${jws.slice(6)}`
    assert.equal(verifyJwsSignature(alg, key, input, start), false)
  }
})
