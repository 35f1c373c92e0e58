import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  decodeBase64url,
  decodeBase64urlInto,
  decodeBase64urlText,
  encodeBase64url,
  isBase64url,
} from '../../src/jose/base64url.js'

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

test('decodeBase64urlText: the UTF-8 text, refusing non-canonical input and invalid UTF-8', () => {
  const encode = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url')
  assert.equal(decodeBase64urlText(encode('{"a":1}')), '{"a":1}')
  assert.equal(decodeBase64urlText(encode('{"n":"Zoë ✓ 😀"}')), '{"n":"Zoë ✓ 😀"}')
  // A U+FFFD that is really there is text like any other.
  assert.equal(decodeBase64urlText(encode('"\uFFFD"')), '"\uFFFD"')
  // Invalid UTF-8 (a lone continuation byte, an overlong form, a surrogate) is null.
  for (const bytes of [
    [0x22, 0x80, 0x22],
    [0xc0, 0xaf],
    [0xed, 0xa0, 0x80],
  ]) {
    assert.equal(decodeBase64urlText(encode(Uint8Array.from(bytes))), null, String(bytes))
  }
  // Not canonical base64url, or nothing at all: undefined.
  for (const s of ['', 'YQ==', 'a+b/', 'YR', 'Y'])
    assert.equal(decodeBase64urlText(s), undefined, s)
})

test('decodeBase64urlText: each result is its own, and long input is decoded whole', () => {
  const first = decodeBase64urlText(encodeBase64url('first'))
  const second = decodeBase64urlText(encodeBase64url('second'))
  assert.deepEqual([first, second], ['first', 'second'])
  // Exactly the reused 12 KiB buffer, then longer than it, with a multi-byte character across its end.
  const long = `${'x'.repeat(12 * 1024 - 1)}é${'y'.repeat(5000)}`
  const full = 'z'.repeat(12 * 1024)
  assert.equal(decodeBase64urlText(encodeBase64url(full)), full)
  assert.equal(decodeBase64urlText(encodeBase64url(long)), long)
})

test('decodeBase64urlInto: the same bytes as Buffer, from any range, and the same refusals', () => {
  const out = new Uint8Array(64)
  for (let n = 0; n < 48; n++) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 91 + n * 7) & 0xff))
    const s = `xx.${bytes.toString('base64url')}.yy`
    const written = decodeBase64urlInto(s, 3, s.length - 3, out)
    assert.equal(written, n)
    assert.deepEqual(Buffer.from(out.subarray(0, written)), bytes)
  }
  for (const s of ['YQ==', 'a+b/', 'YW Jj', 'Y', 'YWJjZ', '%41', 'YR', 'YWJ\u00e9', 'YWJ\u0100']) {
    assert.equal(decodeBase64urlInto(s, 0, s.length, out), -1, s)
  }
  // What does not fit is refused whole, never written past the end.
  assert.equal(decodeBase64urlInto('AAAAAAAA', 0, 8, new Uint8Array(5)), -1)
  assert.equal(decodeBase64urlInto('AAAAAAAA', 0, 8, new Uint8Array(6)), 6)
})
