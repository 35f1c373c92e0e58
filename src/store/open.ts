/**
 * @module store/open
 *
 * Opens the {@link Store} named by a database URL:
 * - `sqlite:PATH` — a SQLite file (its parent directory is created), in WAL mode with a busy
 *   timeout so several processes can share it; `sqlite::memory:` for a private in-memory database.
 * - `postgres://…` or `postgresql://…` — a PostgreSQL pool of at most 10 connections.
 *
 * The schema is migrated before the store is returned.
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import { createKyselyStore, type Database } from './kysely.js'
import type { Store } from './types.js'

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /**
   * PostgreSQL only: the schema holding the tables, created if missing and made the only entry of
   * every connection's `search_path`. Letters, digits and `_`, not starting with a digit.
   */
  schema?: string
  /**
   * SQLite only: the path of a `better_sqlite3.node` built for the running Node.js, when the
   * installed one was built for another (better-sqlite3's `nativeBinding` option).
   */
  sqliteNativeBinding?: string
}

/** How long SQLite waits for another connection's write lock before failing with `SQLITE_BUSY`. */
const SQLITE_BUSY_TIMEOUT_MS = 5000
/** How long a PostgreSQL connection attempt may take: an unreachable server fails, not hangs. */
const PG_CONNECT_TIMEOUT_MS = 5000
const PG_POOL_MAX = 10
/** OID of PostgreSQL `int8` (`bigint`). */
const INT8_OID = 20

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * The URL with its password (userinfo password, or a `password` query parameter) replaced by
 * `***`, for logs and error messages. Returned unchanged when it holds no password.
 */
export function redactDatabaseUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Not a URL the WHATWG parser accepts: strip whatever sits between `user:` and `@`.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#:@]*):[^@]*@/i, '$1:***@')
  }
  if (parsed.password === '' && !parsed.searchParams.has('password')) return url
  if (parsed.password !== '') parsed.password = '***'
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***')
  return parsed.href
}

/**
 * Opens and migrates the store at `url` (`sqlite:PATH`, `sqlite::memory:`, `postgres://…`,
 * `postgresql://…`).
 *
 * @throws Error naming `database` and the (redacted) URL when the scheme is not supported; an
 *   Error naming the PostgreSQL host and port and the cause (e.g. `ECONNREFUSED`) when the server
 *   cannot be reached within 5 s or refuses the connection; the migration's error otherwise.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    if (options.schema !== undefined) {
      throw new TypeError('database: the schema option applies to PostgreSQL only')
    }
    return openSqlite(url.slice('sqlite:'.length), options.sqliteNativeBinding)
  }
  if (/^postgres(ql)?:\/\//i.test(url)) return openPostgres(url, options.schema)
  throw new Error(
    `database: unsupported URL ${JSON.stringify(redactDatabaseUrl(url))} (expected sqlite:PATH, postgres://… or postgresql://…)`,
  )
}

/**
 * better-sqlite3 12 (the last release for Node 20) aborts the process on Node 24 when a
 * Database or Statement is garbage-collected while Node tears its environment down
 * (`Assertion failed: (env) != nullptr` in RemoveEnvironmentCleanupHook, WiseLibs/better-sqlite3
 * #1515). Keeping every one of them reachable until the process ends avoids that teardown
 * collection. Statements are prepared once per SQL text and reused, so the set stays small.
 */
const alive: unknown[] = []

function keepAlive(database: SqliteDatabase.Database): SqliteDatabase.Database {
  alive.push(database)
  const statements = new Map<string, SqliteDatabase.Statement>()
  const prepare = database.prepare.bind(database)
  database.prepare = ((sql: string) => {
    let statement = statements.get(sql)
    if (!statement) {
      statement = prepare(sql)
      statements.set(sql, statement)
      alive.push(statement)
    }
    return statement
  }) as typeof database.prepare
  return database
}

async function openSqlite(path: string, nativeBinding: string | undefined): Promise<Store> {
  if (path === '') throw new Error('database: "sqlite:" needs a file path (or :memory:)')
  const memory = path === ':memory:'
  if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true })
  const database = keepAlive(
    new SqliteDatabase(
      memory ? ':memory:' : resolve(path),
      nativeBinding === undefined ? {} : { nativeBinding },
    ),
  )
  try {
    // Through prepare, not pragma(): its statements must be kept alive too (see keepAlive).
    if (!memory) database.prepare('PRAGMA journal_mode = WAL').get()
    database.prepare(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`).get()
  } catch (err) {
    database.close()
    throw err
  }
  const store = createKyselyStore(
    new Kysely<Database>({ dialect: new SqliteDialect({ database }) }),
    'sqlite',
  )
  return migrated(store)
}

/** Where a PostgreSQL URL points, for error messages (never the password). */
function pgTarget(url: string): string {
  try {
    const u = new URL(url)
    const host = u.hostname || u.searchParams.get('host') || 'localhost'
    const port = u.port || u.searchParams.get('port') || '5432'
    const database = u.pathname.replace(/^\//, '')
    return `${host}:${port}${database === '' ? '' : `/${database}`}`
  } catch {
    return redactDatabaseUrl(url)
  }
}

/** A readable cause: `code: message`, also for the `AggregateError` of a dual-stack connect. */
function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  let message = err.message
  if (message === '' && err instanceof AggregateError) {
    message = err.errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')
  }
  // A system error code (ECONNREFUSED, ETIMEDOUT…) missing from the message is prepended.
  if (typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code) && !message.includes(code)) {
    return message === '' ? code : `${code}: ${message}`
  }
  return message === '' ? err.name : message
}

async function openPostgres(url: string, schema: string | undefined): Promise<Store> {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      `database: invalid schema name ${JSON.stringify(schema)} (letters, digits and _, not starting with a digit)`,
    )
  }
  // Quoted: the name keeps its case, as in CREATE SCHEMA below. The name has no space nor
  // backslash (checked above), so it needs no escaping in the startup `options`.
  let connectionString = url
  let startupOptions: string | undefined
  if (schema !== undefined) {
    startupOptions = `-c search_path="${schema}"`
    // pg lets the URL's own `options` parameter override the pool's: merge them instead.
    const parsed = URL.canParse(url) ? new URL(url) : undefined
    const own = parsed?.searchParams.get('options') ?? null
    if (parsed !== undefined && own !== null) {
      parsed.searchParams.delete('options')
      connectionString = parsed.href
      startupOptions = `${own} ${startupOptions}`
    }
  }
  const pool = new pg.Pool({
    connectionString,
    max: PG_POOL_MAX,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    ...(startupOptions === undefined ? {} : { options: startupOptions }),
    // Epoch seconds are `bigint`: parse int8 to a number on this pool only (pg's global parsers
    // are left alone). Epoch seconds are far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary'
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  })
  // An idle connection that breaks (server restart) is dropped by the pool; without a listener,
  // its 'error' event would crash the process. The next query opens a new connection.
  pool.on('error', () => {})

  let client: pg.PoolClient
  try {
    client = await pool.connect()
  } catch (err) {
    await pool.end().catch(() => {})
    throw new Error(
      `database: cannot connect to PostgreSQL at ${pgTarget(url)}: ${describeCause(err)}`,
      { cause: err },
    )
  }
  try {
    if (schema !== undefined) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`)
    }
  } catch (err) {
    client.release()
    await pool.end().catch(() => {})
    throw err
  }
  client.release()

  const store = createKyselyStore(
    new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    'postgres',
  )
  return migrated(store)
}

/** Runs the migrations; closes the store if they fail, so a failed open leaks nothing. */
async function migrated(store: Store): Promise<Store> {
  try {
    await store.migrate()
  } catch (err) {
    await store.close().catch(() => {})
    throw err
  }
  return store
}
