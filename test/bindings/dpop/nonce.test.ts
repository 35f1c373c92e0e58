import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createNonceProvider } from '../../../src/bindings/dpop/nonce.js'

const secret = new Uint8Array(32).fill(9)
const T = 1_800_000_000_000

test('a nonce is accepted during its step and the next, then refused', () => {
  const nonces = createNonceProvider({ secret, step: 60 })
  const nonce = nonces.current(T)
  assert.match(nonce, /^[A-Za-z0-9_-]{43}$/)
  assert.ok(nonces.verify(nonce, T))
  assert.ok(nonces.verify(nonce, T + 60_000))
  assert.equal(nonces.verify(nonce, T + 120_000), false)
  assert.notEqual(nonces.current(T + 60_000), nonce)
})

test('instances sharing the secret accept each other’s nonces; others do not', () => {
  const a = createNonceProvider({ secret })
  const b = createNonceProvider({ secret: Uint8Array.from(secret) })
  const c = createNonceProvider({ secret: new Uint8Array(32).fill(1) })
  assert.ok(b.verify(a.current(T), T))
  assert.equal(c.verify(a.current(T), T), false)
})

test('refuses malformed nonces without throwing', () => {
  const nonces = createNonceProvider({ secret })
  for (const n of ['', 'x', 'é'.repeat(43), 'a'.repeat(43), 42 as unknown as string]) {
    assert.equal(nonces.verify(n, T), false)
  }
})

test('the secret must be 32 bytes and the step a positive integer', () => {
  assert.throws(() => createNonceProvider({ secret: new Uint8Array(16) }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /"secret" must be 32 bytes/,
  })
  assert.throws(() => createNonceProvider({ secret, step: 0 }), { code: 'ERR_INVALID_ARG_VALUE' })
})
