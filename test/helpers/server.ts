/**
 * Starts a real authorization server on an ephemeral loopback port, on a SQLite file in a temp
 * directory, or on PostgreSQL (a fresh schema) when KEYBOUND_TEST_DATABASE=postgres.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { parseConfig } from '../../src/config/index.js'
import { type AuthorizationServer, createAuthorizationServer } from '../../src/server/server.js'

export const POSTGRES_URL =
  process.env.KEYBOUND_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface TestServer {
  server: AuthorizationServer
  /** The issuer, e.g. `http://127.0.0.1:PORT`. */
  issuer: string
  database: string
  close(): Promise<void>
}

/** A database URL for one test server, and how to drop it afterwards. */
export async function testDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (process.env.KEYBOUND_TEST_DATABASE === 'postgres') {
    const schema = `kb_e2e_${randomBytes(6).toString('hex')}`
    const url = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    await client.connect()
    await client.query(`CREATE SCHEMA ${schema}`)
    await client.end()
    return {
      url,
      drop: async () => {
        const c = new pg.Client({ connectionString: POSTGRES_URL })
        await c.connect()
        await c.query(`DROP SCHEMA ${schema} CASCADE`)
        await c.end()
      },
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'keybound-'))
  return {
    url: `sqlite:${join(dir, 'keybound.db')}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  }
}

/**
 * Starts a server for `config` (merged over test defaults). The issuer must be known before the
 * port is: the server listens on a port picked first.
 */
export async function startServer(
  config: Record<string, unknown> = {},
  database?: string,
): Promise<TestServer> {
  const { createServer } = await import('node:net')
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
  const db = database ? { url: database, drop: async () => {} } : await testDatabase()
  const issuer = `http://127.0.0.1:${port}`
  const { config: parsed } = parseConfig({
    issuer,
    host: '127.0.0.1',
    port,
    database: db.url,
    log: { level: 'silent' },
    ...config,
  })
  const server = await createAuthorizationServer(parsed, { logger: false })
  await server.listen(port)
  return {
    server,
    issuer,
    database: db.url,
    close: async () => {
      await server.close()
      await db.drop()
    },
  }
}
