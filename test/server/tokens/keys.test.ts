// Signing-key rotation on a real store (SQLite, or PostgreSQL with KEYBOUND_TEST_DATABASE),
// with the clock passed in: the successor of a key is published a while before it signs, and
// instances sharing the store, each with its own connection, agree on every key.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { type KeyPolicy, prepublication, SigningKeys } from '../../../src/server/tokens/keys.js'
import { openStore } from '../../../src/store/open.js'
import type { Store } from '../../../src/store/types.js'
import { testDatabase } from '../../helpers/server.js'

const DAY = 86_400
const policy: KeyPolicy = { algs: ['ES256'], rotationPeriod: 30 * DAY, retention: 7 * DAY }

let database: Awaited<ReturnType<typeof testDatabase>>
let store: Store
let other: Store

before(async () => {
  database = await testDatabase()
  store = await openStore(database.url)
  other = await openStore(database.url)
})
after(async () => {
  await store.close()
  await other.close()
  await database.drop()
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
  const b = await SigningKeys.load(other, policy)
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

test('instances starting at once on an empty store make one first key between them', async () => {
  // A database of its own: empty, as on a fleet's first start.
  const empty = await testDatabase()
  const stores = [await openStore(empty.url), await openStore(empty.url)]
  try {
    const fleet = await Promise.all(
      [0, 1, 0, 1].map((i) => SigningKeys.load(stores[i] as Store, policy)),
    )
    const kid = fleet[0]?.current().kid
    for (const keys of fleet) {
      assert.equal(keys.current().kid, kid)
      assert.deepEqual(kids(keys), [kid])
    }
  } finally {
    for (const s of stores) await s.close()
    await empty.drop()
  }
})
