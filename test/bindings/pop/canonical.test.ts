import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  asciiHash,
  bodyParam,
  compareOrdinalIgnoreCase,
  headerParam,
  headerString,
  hostWithoutPort,
  parseQuery,
  parseQueryKatana,
  pathParam,
  queryParam,
  queryString,
  rebuildList,
  sortByValue,
} from '../../../src/bindings/pop/canonical.js'

// Every hash vector of pop-wire-format.md (§2.3, §2.4, §2.5, §3.3, §4.2, §5), byte for byte.

test('q vectors (§2.4): value-sorted pairs, decoded, &-joined, ASCII SHA-256', () => {
  assert.deepEqual(queryParam(parseQuery('a=apple&b=banana&b=carrot&b=duck')), [
    ['a', 'b', 'b', 'b'],
    'yo_hLZrWnia7ghdlOkEjUoW-dzfMIUW3hgJg1h3ZkfU',
  ])
  assert.deepEqual(queryParam(parseQuery('foo=bar1&foo=bar2')), [
    ['foo', 'foo'],
    'EgePUeakH8URmSH3yz8zE39c0r4kYVYsuQRSZa_MdvQ',
  ])
  // The draft's example string, hashed as written.
  assert.equal(asciiHash('b=bar&a=foo&c=duck'), 'u4LgkGUWhP9MsKrEjA4dizIllDXluDku6ZqCeyuR-JY')
})

test('q sorts by value, stably (§2.4 step 3): ?y=5&x=1&y=3 gives x,y,y', () => {
  const q = queryParam(parseQuery('?y=5&x=1&y=3'))
  assert.deepEqual(q?.[0], ['x', 'y', 'y'])
  assert.equal(q?.[1], asciiHash('x=1&y=3&y=5'))
  // Equal values keep request order.
  assert.deepEqual(
    sortByValue([
      ['b', 'X'],
      ['a', 'x'],
      ['c', 'w'],
    ]),
    [
      ['c', 'w'],
      ['b', 'X'],
      ['a', 'x'],
    ],
  )
})

test('OrdinalIgnoreCase compares upper-cased code units: "a" < "_" (§2.4)', () => {
  assert.ok(compareOrdinalIgnoreCase('a', '_') < 0)
  assert.ok('a' > '_')
  assert.equal(compareOrdinalIgnoreCase('ABC', 'abc'), 0)
  assert.ok(compareOrdinalIgnoreCase('ab', 'abc') < 0)
})

test('query values are decoded before hashing (§2.4 step 1)', () => {
  assert.deepEqual(parseQuery('a=b+c&d=%C3%A9&e&&f=%zz'), [
    ['a', 'b c'],
    ['d', 'é'],
    ['e', ''],
    ['f', '%zz'],
  ])
  // Non-ASCII becomes "?" before hashing (§2.4 step 5).
  assert.equal(asciiHash('d=é'), asciiHash('d=?'))
  assert.equal(asciiHash('d=😀'), asciiHash('d=?'))
  assert.notEqual(asciiHash('d=é'), asciiHash('d=e'))
})

test('h vectors (§2.5): lower-cased names, "name: value", LF-joined', () => {
  assert.deepEqual(
    headerParam([
      ['foo', 'bar1'],
      ['foo', 'bar2'],
    ]),
    [['foo', 'foo'], 'trcKLrzChz2G8_T50KpExyZ9DTfcsMTXsGGd3YwftLc'],
  )
  assert.deepEqual(
    headerParam([
      ['a', 'apple'],
      ['B', 'banana'],
      ['b', 'carrot'],
      ['b', 'duck'],
    ]),
    [['a', 'b', 'b', 'b'], 'DPgVz1VB3aU4gmnSYPl69woLEij0XlKVvYhZVTS5hd0'],
  )
  const text = headerString([
    ['Content-Type', 'application/json'],
    ['etag', '742-3u8f34-3r2nvv3'],
  ])
  assert.equal(text, 'content-type: application/json\netag: 742-3u8f34-3r2nvv3')
  assert.equal(asciiHash(text), 'P6z5XN4tTzHkfwe3XO1YvVUIurSuhvh_UG10N_j-aGs')
  // §5.2: the draft's example hash is the CRLF string, which keybound does not use.
  assert.equal(asciiHash(text.replace('\n', '\r\n')), 'bZA981YJBrPlIzOvplbu3e7ueREXXr38vSkxIBYOaxI')
  // §2.5 step 3: c:carrot, a:apple, a:pear → a, c, a.
  assert.deepEqual(
    headerParam([
      ['c', 'carrot'],
      ['a', 'apple'],
      ['a', 'pear'],
    ])?.[0],
    ['a', 'c', 'a'],
  )
})

test('b (§2.3): base64url SHA-256 of the raw body; omitted without one', () => {
  const body = new Uint8Array(40).map((_, i) => (i + 1) % 10)
  assert.equal(bodyParam(body), 'vnPfBFvKBXMv9S6m1FMSeSi1VLnnmqYXGr4xk9ImCp8')
  assert.equal(bodyParam(''), '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU')
  assert.equal(bodyParam('{"item":"book","qty":2}'), 'Y4MRTP8i5fgugelvvjDHI5Qkue2JPif-p-tnUyqgP7k')
  assert.equal(bodyParam(undefined), undefined)
  assert.equal(queryParam([]), undefined)
  assert.equal(headerParam([]), undefined)
})

test('the verifier rebuild (§3.3): listed names take ascending values', () => {
  const pairs = parseQuery('a=apple&b=carrot&b=duck&b=banana')
  const rebuilt = rebuildList(['b', 'b', 'b', 'a'], pairs)
  assert.equal(rebuilt?.uncovered, 0)
  const text = queryString(rebuilt?.pairs ?? [])
  assert.equal(text, 'b=banana&b=carrot&b=duck&a=apple')
  assert.equal(asciiHash(text), 'GCDxUdmJ6mfoSmV1oWnKKgx2Utrksk32XoDb3HtAMns')
  assert.equal(rebuildList(['b', 'c'], pairs), undefined)
})

test('the worked example (§4.2) and its counter-example', () => {
  const pairs = parseQuery('y=5&x=1&z=skip&y=3').filter(([n]) => n === 'x' || n === 'y')
  assert.deepEqual(queryParam(pairs), [
    ['x', 'y', 'y'],
    'tJWS30Gxm7sjPZuBCnxs-qJzIy62Z_gqhxBfLIzrQkI',
  ])
  assert.deepEqual(
    headerParam([
      ['x-tenant', 'contoso'],
      ['x-request-id', 'abc123'],
    ]),
    [['x-request-id', 'x-tenant'], 'jypbRWR8FawDggr2KmSDQc-_sY3Jcbnccf_dPpD4LQo'],
  )
  assert.equal(asciiHash('y=5&x=1&y=3'), 'vQBrs7eJ-FU3YKIt4At8o4Jy96MwbOUA-TvgPjzs4Lo')
  const rebuilt = rebuildList(['y', 'x', 'y'], pairs)
  assert.equal(queryString(rebuilt?.pairs ?? []), 'y=3&x=1&y=5')
  assert.equal(asciiHash('y=3&x=1&y=5'), '7XKx3mNaey0C4T_hwVgFQs3oBD5Tf2pT7nJtYxVrkfk')
})

test('host and path rules (§2.3, §3.3)', () => {
  assert.equal(hostWithoutPort('API.Example.com:8443'), 'api.example.com')
  assert.equal(hostWithoutPort('api.example.com'), 'api.example.com')
  assert.equal(hostWithoutPort('[::1]:8080'), '[::1]')
  assert.equal(pathParam('/bar?x=1'), '/bar')
  assert.equal(pathParam('/a%20b'), '/a%20b')
})

test('the OWIN verifier parses the query on & and ;, without parameters lacking = (§3.3)', () => {
  assert.deepEqual(parseQueryKatana('?a=1;b=x+y&c&d=%41'), [
    ['a', '1'],
    ['b', 'x y'],
    ['d', 'A'],
  ])
})
