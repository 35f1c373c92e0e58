import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeBase64url, isBase64url } from '../../src/jose/base64url.js'

test('accepts canonical unpadded base64url of every length', () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff))
    const s = bytes.toString('base64url')
    assert.ok(isBase64url(s), s)
    assert.deepEqual(decodeBase64url(s), bytes)
  }
})

test('refuses padding, the base64 alphabet, whitespace and impossible lengths', () => {
  for (const s of ['YQ==', 'YWI=', 'a+b/', 'YW Jj', 'YWJj\n', 'Y', 'YWJjZ', '%41']) {
    assert.equal(isBase64url(s), false, s)
    assert.equal(decodeBase64url(s), undefined, s)
  }
})

test('refuses non-zero unused bits, which would decode to the same bytes', () => {
  // 'YQ' is 'a'; 'YR'..'YT' carry the same byte with unused bits set.
  assert.ok(isBase64url('YQ'))
  for (const s of ['YR', 'YS', 'YT']) {
    assert.deepEqual(Buffer.from(s, 'base64url'), Buffer.from('a'))
    assert.equal(isBase64url(s), false, s)
  }
  assert.ok(isBase64url('YWI'))
  assert.equal(isBase64url('YWJ'), false)
})
