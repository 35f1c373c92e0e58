import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { after, describe, test } from 'node:test'
import pg from 'pg'
import { openStore, redactDatabaseUrl } from '../../src/store/index.js'
import {
  epochNow,
  sampleClient,
  sampleRefreshToken,
  sampleSigningKey,
  storeContract,
} from './contract.js'

const PG_URL = process.env.KEYBOUND_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = `kb_test_${randomBytes(6).toString('hex')}`

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  server.close()
  await once(server, 'close')
  return address.port
}

after(async () => {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(SCHEMA)} CASCADE`)
  } finally {
    await client.end()
  }
})

storeContract(`PostgreSQL (schema ${SCHEMA})`, () => openStore(PG_URL, { schema: SCHEMA }))

describe('PostgreSQL store', () => {
  test('data survives closing and reopening the pool; tables live in the schema', async () => {
    const now = epochNow()
    const client = sampleClient()
    const refresh = sampleRefreshToken(now)
    // Far-future creation time: listed first whatever the contract suite inserted.
    const key = sampleSigningKey(now, { created_at: now + 20 * 365 * 86_400 })

    const first = await openStore(PG_URL, { schema: SCHEMA })
    await first.upsertClient(client)
    await first.insertRefreshToken(refresh)
    await first.insertSigningKey(key)
    await first.close()

    const second = await openStore(PG_URL, { schema: SCHEMA })
    try {
      assert.deepEqual(await second.getClient(client.client_id), client)
      assert.deepEqual(await second.getRefreshToken(refresh.id), refresh)
      assert.deepEqual((await second.listSigningKeys(now))[0], key)
    } finally {
      await second.close()
    }

    const raw = new pg.Client({ connectionString: PG_URL })
    await raw.connect()
    try {
      const tables = await raw.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [SCHEMA],
      )
      assert.deepEqual(
        tables.rows.map((r) => r.table_name),
        [
          'access_tokens',
          'authorization_codes',
          'authorization_transactions',
          'clients',
          'keybound_migration',
          'keybound_migration_lock',
          'login_failures',
          'pushed_requests',
          'refresh_tokens',
          'signing_keys',
          'users',
        ],
      )
      const types = await raw.query<{ data_type: string }>(
        `SELECT data_type FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = 'refresh_tokens' AND column_name = 'expires_at'`,
        [SCHEMA],
      )
      assert.deepEqual(types.rows, [{ data_type: 'bigint' }])
    } finally {
      await raw.end()
    }
  })

  test('an unreachable server fails fast, naming host:port and the cause, not the password', async () => {
    const port = await freePort()
    const started = Date.now()
    await assert.rejects(
      openStore(`postgres://postgres:s3cret@127.0.0.1:${port}/test`),
      (err: Error) => {
        assert.match(err.message, /database/)
        assert.ok(err.message.includes(`127.0.0.1:${port}`), err.message)
        assert.match(err.message, /ECONNREFUSED/)
        assert.ok(!err.message.includes('s3cret'), err.message)
        return true
      },
    )
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
  })

  test('an invalid schema name is refused before connecting', async () => {
    await assert.rejects(openStore(PG_URL, { schema: 'a"; drop' }), /invalid schema name/)
  })
})

describe('openStore URLs', () => {
  test('an unsupported scheme names database and the (redacted) value', async () => {
    await assert.rejects(openStore('mysql://root:hunter2@db.example/app'), (err: Error) => {
      assert.match(err.message, /database/)
      assert.ok(err.message.includes('mysql://root:***@db.example/app'), err.message)
      assert.ok(!err.message.includes('hunter2'), err.message)
      return true
    })
    await assert.rejects(openStore('store.db'), /database: unsupported URL "store\.db"/)
  })

  test('redactDatabaseUrl removes the password', () => {
    assert.equal(
      redactDatabaseUrl('postgres://kb:p%40ss@db.example:5433/auth?sslmode=require'),
      'postgres://kb:***@db.example:5433/auth?sslmode=require',
    )
    assert.equal(
      redactDatabaseUrl('postgresql://kb@db.example/auth?password=secret'),
      'postgresql://kb@db.example/auth?password=***',
    )
    assert.equal(
      redactDatabaseUrl('postgres://kb@db.example/auth'),
      'postgres://kb@db.example/auth',
    )
    assert.equal(redactDatabaseUrl('sqlite:./data/keybound.db'), 'sqlite:./data/keybound.db')
    assert.equal(redactDatabaseUrl('sqlite::memory:'), 'sqlite::memory:')
  })
})
