import assert from 'node:assert/strict'
import { test } from 'node:test'
import { htuOf, normalizeHtu } from '../../../src/bindings/dpop/htu.js'

test('normalises case, default ports, empty paths and percent-encodings (RFC 3986 §6.2.2, §6.2.3)', () => {
  const cases: Array<[string, string]> = [
    ['HTTPS://Server.Example.COM/token', 'https://server.example.com/token'],
    ['https://server.example.com:443/token', 'https://server.example.com/token'],
    ['http://server.example.com:80/token', 'http://server.example.com/token'],
    ['https://server.example.com', 'https://server.example.com/'],
    ['https://server.example.com/a/./b/../c', 'https://server.example.com/a/c'],
    ['https://server.example.com/%7euser/%2f', 'https://server.example.com/~user/%2F'],
    ['https://server.example.com/%41%62c', 'https://server.example.com/Abc'],
    ['https://server.example.com/token?query=1#fragment', 'https://server.example.com/token'],
  ]
  for (const [input, normal] of cases) assert.equal(normalizeHtu(input), normal, input)
})

test('keeps non-default ports and reserved encodings apart', () => {
  assert.notEqual(normalizeHtu('https://a.example:8443/x'), normalizeHtu('https://a.example/x'))
  assert.notEqual(normalizeHtu('https://a.example/a%2Fb'), normalizeHtu('https://a.example/a/b'))
})

test('refuses what is not an absolute http(s) URI without user info', () => {
  for (const uri of [
    '/token',
    'token',
    'ftp://a.example/x',
    'https://u:p@a.example/x',
    'https://',
  ]) {
    assert.equal(normalizeHtu(uri), undefined, uri)
  }
})

test('htuOf drops query and fragment', () => {
  assert.equal(htuOf('https://a.example:443/p/q?x=1#y'), 'https://a.example/p/q')
  assert.equal(htuOf(new URL('http://a.example:8080')), 'http://a.example:8080/')
})
