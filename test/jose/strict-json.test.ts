import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseJsonObject } from '../../src/jose/strict-json.js'

test('parses objects with unique members, nested ones included', () => {
  assert.deepEqual(parseJsonObject('{"a":1,"b":{"a":2,"c":[{"a":3},{"a":4}]},"s":"x\\":y"}'), {
    a: 1,
    b: { a: 2, c: [{ a: 3 }, { a: 4 }] },
    s: 'x":y',
  })
})

test('refuses duplicate members at any depth, after unescaping', () => {
  for (const text of [
    '{"a":1,"a":2}',
    '{"a":1, "a" :2}',
    '{"x":{"b":1,"b":1}}',
    '{"x":[{"b":1,"b":1}]}',
    '{"alg":"ES256","\\u0061lg":"none"}',
    '{"a\\"b":1,"a\\"b":2}',
    '{"a\\\\":1,"a\\\\":2}',
    '{"v":"\\\\","w":"\\"","v":0}',
  ]) {
    assert.equal(parseJsonObject(text), 'duplicate_member', text)
  }
})

test('escaped quotes and backslashes do not end a string early', () => {
  assert.deepEqual(parseJsonObject('{"a\\"":"\\\\","a\\\\":"\\""}'), { 'a"': '\\', 'a\\': '"' })
  assert.deepEqual(parseJsonObject('{"k":"\\":\\"","j":1}'), { k: '":"', j: 1 })
})

test('colons inside names and values are not member names', () => {
  assert.deepEqual(parseJsonObject('{"a:b":"c:d", "e" : {"f:":":"}}'), {
    'a:b': 'c:d',
    e: { 'f:': ':' },
  })
  assert.equal(parseJsonObject('{"a:b":1,"a:b":2}'), 'duplicate_member')
})

test('a member value equal to a member name is not a duplicate', () => {
  assert.deepEqual(parseJsonObject('{"a":"a","b":["a","a"]}'), { a: 'a', b: ['a', 'a'] })
})

test('refuses what is not a JSON object', () => {
  assert.equal(parseJsonObject('{"a":'), 'bad_json')
  assert.equal(parseJsonObject("{'a':1}"), 'bad_json')
  assert.equal(parseJsonObject('[{"a":1}]'), 'not_object')
  assert.equal(parseJsonObject('null'), 'not_object')
  assert.equal(parseJsonObject('"{}"'), 'not_object')
})
