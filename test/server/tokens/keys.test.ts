// Signing-key rotation on a real SQLite store, with the clock passed in: the successor of a key
// is published a while before it signs, and instances sharing the store agree on both.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type KeyPolicy, prepublication, SigningKeys } from '../../../src/server/tokens/keys.js'
import { openStore } from '../../../src/store/open.js'
import type { Store } from '../../../src/store/types.js'

const DAY = 86_400
const policy: KeyPolicy = { algs: ['ES256'], rotationPeriod: 30 * DAY, retention: 7 * DAY }

let dir: string
let store: Store

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybound-keys-'))
  store = await openStore(`sqlite:${join(dir, 'keys.db')}`)
})
after(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

const kids = (keys: SigningKeys) => keys.jwks().keys.map((k) => k.kid as string)

test('the successor is published a day ahead, signs from the retirement, and is made once', async () => {
  assert.equal(prepublication(policy.rotationPeriod), DAY)
  // load() refreshes at the wall clock: the first key signs from now.
  const T0 = Math.floor(Date.now() / 1000)
  const a = await SigningKeys.load(store, policy)
  await a.refresh(T0)
  const first = a.current().kid
  assert.deepEqual(kids(a), [first])

  // Until a day before it retires, nothing new.
  const { retires_at: retires } = (await store.listSigningKeys(T0))[0] as { retires_at: number }
  assert.ok(retires - T0 >= 30 * DAY - 5)
  await a.refresh(retires - DAY - 1)
  assert.deepEqual(kids(a), [first])

  // A day before: the successor is published, and the old key still signs.
  await a.refresh(retires - DAY)
  const [next, ...rest] = kids(a)
  assert.deepEqual(rest, [first])
  assert.notEqual(next, first)
  assert.equal(a.current().kid, first)

  // A second instance on the same store publishes the same two keys, making none of its own.
  const b = await SigningKeys.load(store, policy)
  await b.refresh(retires - DAY + 60)
  assert.deepEqual(kids(b), [next, first])
  assert.equal(b.current().kid, first)

  // From the retirement on, both sign with the successor; the old key stays published.
  for (const keys of [a, b]) {
    await keys.refresh(retires)
    assert.equal(keys.current().kid, next)
    assert.deepEqual(kids(keys), [next, first])
  }

  // After its retention, the old key is gone from /jwks.
  await a.refresh(retires + 7 * DAY)
  assert.deepEqual(kids(a), [next])
})

test('a short rotation period publishes the successor half a period ahead', () => {
  assert.equal(prepublication(120), 60)
  assert.equal(prepublication(60), 30)
})
