/**
 * @module store/migrations
 *
 * The schema of the store, as kysely migrations that run unchanged on SQLite and PostgreSQL.
 *
 * Column types are the common ground of both dialects:
 * - `text` for strings, and for JSON values (`grant_types`, `redirect_uris`, `jwks`, `metadata`,
 *   `claims`, `cnf`, `aud`, `private_jwk`, `public_jwk`, `params`): the JSON text is stored as
 *   is, identically in both, and parsed by the store. No query looks inside it.
 * - `bigint` for epoch seconds (PostgreSQL `int8`, safe past 2038; SQLite gives it INTEGER
 *   affinity). The `pg` driver returns `int8` as a string by default: the pool `openStore`
 *   creates parses it to a number, and the store coerces again in case it is handed another pool.
 * - `integer` 0/1 for booleans.
 *
 * Migrations are frozen once released: a schema change is a new migration (`0002_...`), never an
 * edit of an existing one. They receive a `Kysely<any>` on purpose: they must not depend on the
 * current row types.
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely'

/** The table recording applied migrations (distinct from kysely's default, to coexist with an application's own migrations). */
export const MIGRATION_TABLE = 'keybound_migration'
export const MIGRATION_LOCK_TABLE = 'keybound_migration_lock'

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the current row types
type AnyDb = Kysely<any>

const initial: Migration = {
  async up(db: AnyDb) {
    // `ifNotExists` everywhere: SQLite has no migration lock, so two processes starting at once on
    // a fresh file may both run this migration.
    await db.schema
      .createTable('clients')
      .ifNotExists()
      .addColumn('client_id', 'text', (c) => c.primaryKey())
      .addColumn('client_secret_hash', 'text')
      .addColumn('client_name', 'text')
      .addColumn('token_endpoint_auth_method', 'text', (c) => c.notNull())
      .addColumn('grant_types', 'text', (c) => c.notNull())
      .addColumn('redirect_uris', 'text', (c) => c.notNull())
      .addColumn('scope', 'text')
      .addColumn('jwks', 'text')
      .addColumn('jwks_uri', 'text')
      .addColumn('token_binding', 'text', (c) => c.notNull())
      .addColumn('dpop_bound_access_tokens', 'integer', (c) => c.notNull())
      .addColumn('access_token_format', 'text')
      .addColumn('first_party', 'integer', (c) => c.notNull())
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('registration_access_token_hash', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()

    await db.schema
      .createTable('users')
      .ifNotExists()
      .addColumn('username', 'text', (c) => c.primaryKey())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('claims', 'text', (c) => c.notNull())
      .execute()

    await db.schema
      .createTable('authorization_codes')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('grant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('sub', 'text', (c) => c.notNull())
      .addColumn('redirect_uri', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('code_challenge', 'text')
      .addColumn('code_challenge_method', 'text')
      .addColumn('dpop_jkt', 'text')
      .addColumn('auth_time', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('consumed_at', 'bigint')
      .execute()

    await db.schema
      .createTable('refresh_tokens')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('grant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('sub', 'text')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('cnf', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('rotated_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute()

    await db.schema
      .createTable('access_tokens')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('grant_id', 'text')
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('sub', 'text')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('aud', 'text', (c) => c.notNull())
      .addColumn('cnf', 'text')
      .addColumn('token_type', 'text', (c) => c.notNull())
      .addColumn('iat', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute()

    await db.schema
      .createTable('signing_keys')
      .ifNotExists()
      .addColumn('kid', 'text', (c) => c.primaryKey())
      .addColumn('alg', 'text', (c) => c.notNull())
      .addColumn('private_jwk', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('retires_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute()

    await db.schema
      .createTable('pushed_requests')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('params', 'text', (c) => c.notNull())
      .addColumn('dpop_jkt', 'text')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute()

    // Family revocation (reuse detection, revokeGrant) looks tokens up by grant.
    for (const table of ['refresh_tokens', 'access_tokens']) {
      await db.schema
        .createIndex(`${table}_grant_id_idx`)
        .ifNotExists()
        .on(table)
        .column('grant_id')
        .execute()
    }
    // deleteExpired runs periodically: a range scan rather than a full scan of the big tables.
    for (const table of [
      'authorization_codes',
      'refresh_tokens',
      'access_tokens',
      'pushed_requests',
    ]) {
      await db.schema
        .createIndex(`${table}_expires_at_idx`)
        .ifNotExists()
        .on(table)
        .column('expires_at')
        .execute()
    }
  },

  async down(db: AnyDb) {
    for (const table of [
      'pushed_requests',
      'signing_keys',
      'access_tokens',
      'refresh_tokens',
      'authorization_codes',
      'users',
      'clients',
    ]) {
      await db.schema.dropTable(table).ifExists().execute()
    }
  },
}

/**
 * Authorization requests in progress, in the store rather than in one process's memory, so that
 * a fleet needs no sticky sessions for `/authorize`.
 */
const authorizationTransactions: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('authorization_transactions')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('request', 'text', (c) => c.notNull())
      .addColumn('browser', 'text', (c) => c.notNull())
      .addColumn('csrf', 'text', (c) => c.notNull())
      .addColumn('sub', 'text')
      .addColumn('auth_time', 'bigint')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema
      .createIndex('authorization_transactions_expires_at_idx')
      .ifNotExists()
      .on('authorization_transactions')
      .column('expires_at')
      .execute()
  },

  async down(db: AnyDb) {
    await db.schema.dropTable('authorization_transactions').ifExists().execute()
  },
}

/**
 * Failed logins per username and per client address, shared by every instance, so that a fleet
 * throttles password guessing (RFC 6749 §10.10) as one server.
 */
const loginFailures: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('login_failures')
      .ifNotExists()
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema
      .createIndex('login_failures_expires_at_idx')
      .ifNotExists()
      .on('login_failures')
      .column('expires_at')
      .execute()
  },

  async down(db: AnyDb) {
    await db.schema.dropTable('login_failures').ifExists().execute()
  },
}

/** Every migration, by name; names sort in the order they apply. */
export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  '0001_initial': initial,
  '0002_authorization_transactions': authorizationTransactions,
  '0003_login_failures': loginFailures,
})

/** A {@link MigrationProvider} serving {@link migrations} from code (no migration folder to ship). */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...migrations }),
}

/**
 * Creates a {@link Migrator} over the store's migrations and migration tables, kept in `schema`
 * when given (PostgreSQL).
 */
export function createMigrator(db: AnyDb, schema?: string): Migrator {
  return new Migrator({
    db,
    provider: migrationProvider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  })
}

/**
 * PostgreSQL: the schema tables are created in (the first of `search_path`). Without it, kysely's
 * migrator takes migration tables found in any schema of the database for its own, so a second
 * keybound store in another schema of the same database would fail to migrate.
 */
async function currentSchema(db: AnyDb): Promise<string | undefined> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(
    db,
  )
  return rows[0]?.schema ?? undefined
}

/**
 * Applies every pending migration. Idempotent. Throws the migration's error (with the name of the
 * migration that failed) when one fails; on PostgreSQL the failed migration is rolled back.
 */
export async function migrateToLatest(
  db: AnyDb,
  dialect: 'sqlite' | 'postgres' = 'sqlite',
): Promise<void> {
  const schema = dialect === 'postgres' ? await currentSchema(db) : undefined
  const { error, results } = await createMigrator(db, schema).migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(
      `database: migration ${failed === undefined ? 'failed' : `${failed} failed`}: ${reason}`,
      { cause: error },
    )
  }
}
