/**
 * @module store/kysely
 *
 * The one implementation of the {@link Store} contract, written once with kysely's query builder
 * and run unchanged on SQLite (better-sqlite3) and PostgreSQL (pg).
 *
 * Every atomic operation is a single conditional statement (`UPDATE ... WHERE ... RETURNING`,
 * `DELETE ... WHERE ... RETURNING`): the row lock of PostgreSQL and the write lock of SQLite let
 * exactly one of several concurrent callers match the condition. A read after a failed
 * conditional write only classifies the failure (`reused` or `not_found`); it never decides who
 * wins.
 */
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely'
import { migrateToLatest } from './migrations.js'
import type {
  AccessTokenRecord,
  AuthorizationCodeRecord,
  AuthorizationTransactionRecord,
  ClientRecord,
  Confirmation,
  ConsumeCodeResult,
  PushedRequestRecord,
  RefreshTokenRecord,
  RotateRefreshTokenResult,
  SigningKeyRecord,
  Store,
  TokenBinding,
  TokenEndpointAuthMethod,
  UserRecord,
} from './types.js'

/** The PostgreSQL advisory lock key of {@link Store.insertSigningKeyUnless} ("kbsk"). */
const SIGNING_KEY_LOCK = 0x6b62736b

/** Epoch seconds. `pg` may hand `int8` back as a string (see {@link toInt}). */
type Int = number

/** A JSON document stored as text. */
type Json = string

export interface ClientsTable {
  client_id: string
  client_secret_hash: string | null
  client_name: string | null
  token_endpoint_auth_method: string
  grant_types: Json
  redirect_uris: Json
  scope: string | null
  jwks: Json | null
  jwks_uri: string | null
  token_binding: string
  /** 0 or 1. */
  dpop_bound_access_tokens: number
  access_token_format: string | null
  /** 0 or 1. */
  first_party: number
  metadata: Json
  source: string
  registration_access_token_hash: string | null
  created_at: Int
}

export interface UsersTable {
  username: string
  password_hash: string
  claims: Json
}

export interface AuthorizationCodesTable {
  id: string
  grant_id: string
  client_id: string
  sub: string
  redirect_uri: string
  scope: string
  code_challenge: string | null
  code_challenge_method: string | null
  dpop_jkt: string | null
  auth_time: Int
  expires_at: Int
  consumed_at: Int | null
}

export interface RefreshTokensTable {
  id: string
  grant_id: string
  client_id: string
  sub: string | null
  scope: string
  cnf: Json | null
  created_at: Int
  expires_at: Int
  rotated_at: Int | null
  revoked_at: Int | null
}

export interface AccessTokensTable {
  id: string
  grant_id: string | null
  client_id: string
  sub: string | null
  scope: string
  aud: Json
  cnf: Json | null
  token_type: string
  iat: Int
  expires_at: Int
  revoked_at: Int | null
}

export interface SigningKeysTable {
  kid: string
  alg: string
  private_jwk: Json
  public_jwk: Json
  created_at: Int
  retires_at: Int
  expires_at: Int
}

export interface PushedRequestsTable {
  id: string
  client_id: string
  params: Json
  dpop_jkt: string | null
  expires_at: Int
}

export interface AuthorizationTransactionsTable {
  id: string
  client_id: string
  request: Json
  browser: string
  csrf: string
  sub: string | null
  auth_time: Int | null
  expires_at: Int
}

export interface LoginFailuresTable {
  key: string
  count: number
  expires_at: Int
}

/** The tables of the store, as created by `migrations.ts`. */
export interface Database {
  clients: ClientsTable
  users: UsersTable
  authorization_codes: AuthorizationCodesTable
  refresh_tokens: RefreshTokensTable
  access_tokens: AccessTokensTable
  signing_keys: SigningKeysTable
  pushed_requests: PushedRequestsTable
  authorization_transactions: AuthorizationTransactionsTable
  login_failures: LoginFailuresTable
}

/** Options of {@link createKyselyStore}. */
export interface KyselyStoreOptions {
  /**
   * Clock in epoch seconds, for the two reads whose contract takes no `now`
   * (`getRefreshToken`, `getAccessToken`). Default: the wall clock, `Math.floor(Date.now() / 1000)`.
   */
  now?: () => number
}

/** SQLSTATEs after which PostgreSQL asks the client to retry the transaction. */
const PG_RETRYABLE = new Set(['40001' /* serialization_failure */, '40P01' /* deadlock_detected */])
const MAX_ATTEMPTS = 5

function wallClock(): number {
  return Math.floor(Date.now() / 1000)
}

/** `pg` returns `int8` as a string unless the pool parses it; SQLite may return a bigint. */
function toInt(value: unknown): number {
  return typeof value === 'number' ? value : Number(value)
}

function toIntOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toInt(value)
}

function json(value: unknown): Json {
  return JSON.stringify(value)
}

function jsonOrNull(value: unknown): Json | null {
  return value === null || value === undefined ? null : JSON.stringify(value)
}

function parse<T>(text: Json): T {
  return JSON.parse(text) as T
}

function parseOrNull<T>(text: Json | null): T | null {
  return text === null ? null : (JSON.parse(text) as T)
}

function clientToRow(c: ClientRecord): ClientsTable {
  return {
    client_id: c.client_id,
    client_secret_hash: c.client_secret_hash,
    client_name: c.client_name,
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    grant_types: json(c.grant_types),
    redirect_uris: json(c.redirect_uris),
    scope: c.scope,
    jwks: jsonOrNull(c.jwks),
    jwks_uri: c.jwks_uri,
    token_binding: c.token_binding,
    dpop_bound_access_tokens: c.dpop_bound_access_tokens ? 1 : 0,
    access_token_format: c.access_token_format,
    first_party: c.first_party ? 1 : 0,
    metadata: json(c.metadata),
    source: c.source,
    registration_access_token_hash: c.registration_access_token_hash,
    created_at: c.created_at,
  }
}

function rowToClient(r: Selectable<ClientsTable>): ClientRecord {
  return {
    client_id: r.client_id,
    client_secret_hash: r.client_secret_hash,
    client_name: r.client_name,
    token_endpoint_auth_method: r.token_endpoint_auth_method as TokenEndpointAuthMethod,
    grant_types: parse<string[]>(r.grant_types),
    redirect_uris: parse<string[]>(r.redirect_uris),
    scope: r.scope,
    jwks: parseOrNull<ClientRecord['jwks']>(r.jwks),
    jwks_uri: r.jwks_uri,
    token_binding: r.token_binding as TokenBinding,
    dpop_bound_access_tokens: toInt(r.dpop_bound_access_tokens) === 1,
    access_token_format: r.access_token_format as ClientRecord['access_token_format'],
    first_party: toInt(r.first_party) === 1,
    metadata: parse<Record<string, unknown>>(r.metadata),
    source: r.source as ClientRecord['source'],
    registration_access_token_hash: r.registration_access_token_hash,
    created_at: toInt(r.created_at),
  }
}

function rowToUser(r: Selectable<UsersTable>): UserRecord {
  return {
    username: r.username,
    password_hash: r.password_hash,
    claims: parse<Record<string, unknown>>(r.claims),
  }
}

function codeToRow(c: AuthorizationCodeRecord): AuthorizationCodesTable {
  return {
    id: c.id,
    grant_id: c.grant_id,
    client_id: c.client_id,
    sub: c.sub,
    redirect_uri: c.redirect_uri,
    scope: c.scope,
    code_challenge: c.code_challenge,
    code_challenge_method: c.code_challenge_method,
    dpop_jkt: c.dpop_jkt,
    auth_time: c.auth_time,
    expires_at: c.expires_at,
    consumed_at: c.consumed_at,
  }
}

function rowToCode(r: Selectable<AuthorizationCodesTable>): AuthorizationCodeRecord {
  return {
    id: r.id,
    grant_id: r.grant_id,
    client_id: r.client_id,
    sub: r.sub,
    redirect_uri: r.redirect_uri,
    scope: r.scope,
    code_challenge: r.code_challenge,
    code_challenge_method:
      r.code_challenge_method as AuthorizationCodeRecord['code_challenge_method'],
    dpop_jkt: r.dpop_jkt,
    auth_time: toInt(r.auth_time),
    expires_at: toInt(r.expires_at),
    consumed_at: toIntOrNull(r.consumed_at),
  }
}

function refreshToRow(t: RefreshTokenRecord): RefreshTokensTable {
  return {
    id: t.id,
    grant_id: t.grant_id,
    client_id: t.client_id,
    sub: t.sub,
    scope: t.scope,
    cnf: jsonOrNull(t.cnf),
    created_at: t.created_at,
    expires_at: t.expires_at,
    rotated_at: t.rotated_at,
    revoked_at: t.revoked_at,
  }
}

function rowToRefresh(r: Selectable<RefreshTokensTable>): RefreshTokenRecord {
  return {
    id: r.id,
    grant_id: r.grant_id,
    client_id: r.client_id,
    sub: r.sub,
    scope: r.scope,
    cnf: parseOrNull<Confirmation>(r.cnf),
    created_at: toInt(r.created_at),
    expires_at: toInt(r.expires_at),
    rotated_at: toIntOrNull(r.rotated_at),
    revoked_at: toIntOrNull(r.revoked_at),
  }
}

function accessToRow(t: AccessTokenRecord): AccessTokensTable {
  return {
    id: t.id,
    grant_id: t.grant_id,
    client_id: t.client_id,
    sub: t.sub,
    scope: t.scope,
    aud: json(t.aud),
    cnf: jsonOrNull(t.cnf),
    token_type: t.token_type,
    iat: t.iat,
    expires_at: t.expires_at,
    revoked_at: t.revoked_at,
  }
}

function rowToAccess(r: Selectable<AccessTokensTable>): AccessTokenRecord {
  return {
    id: r.id,
    grant_id: r.grant_id,
    client_id: r.client_id,
    sub: r.sub,
    scope: r.scope,
    aud: parse<string[]>(r.aud),
    cnf: parseOrNull<Confirmation>(r.cnf),
    token_type: r.token_type,
    iat: toInt(r.iat),
    expires_at: toInt(r.expires_at),
    revoked_at: toIntOrNull(r.revoked_at),
  }
}

function rowToSigningKey(r: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    kid: r.kid,
    alg: r.alg,
    private_jwk: parse<Record<string, unknown>>(r.private_jwk),
    public_jwk: parse<Record<string, unknown>>(r.public_jwk),
    created_at: toInt(r.created_at),
    retires_at: toInt(r.retires_at),
    expires_at: toInt(r.expires_at),
  }
}

function rowToTransaction(
  r: Selectable<AuthorizationTransactionsTable>,
): AuthorizationTransactionRecord {
  return {
    id: r.id,
    client_id: r.client_id,
    request: parse<Record<string, string | null>>(r.request),
    browser: r.browser,
    csrf: r.csrf,
    sub: r.sub,
    auth_time: r.auth_time === null ? null : toInt(r.auth_time),
    expires_at: toInt(r.expires_at),
  }
}

function rowToPushedRequest(r: Selectable<PushedRequestsTable>): PushedRequestRecord {
  return {
    id: r.id,
    client_id: r.client_id,
    params: parse<Record<string, string>>(r.params),
    dpop_jkt: r.dpop_jkt,
    expires_at: toInt(r.expires_at),
  }
}

/**
 * Creates the {@link Store} over a kysely instance whose tables are those of `migrations.ts`
 * (`migrate()` creates them). The store owns `db`: `close()` destroys it (ending the pg pool or
 * closing the SQLite file).
 *
 * `dialect` selects the few things that differ: on PostgreSQL the rotation transaction runs at
 * READ COMMITTED whatever the server's default (its atomicity relies on a blocked `UPDATE`
 * re-checking its condition once the winner commits), and an atomic operation that fails with a
 * serialization failure or a deadlock (SQLSTATE 40001, 40P01), which a stricter default isolation
 * could cause, is retried (at most 5 attempts; the failed attempt had no effect).
 *
 * Choices where the contract leaves room:
 * - `getRefreshToken` and `getAccessToken` take no `now`: they use `options.now`, by default the
 *   wall clock in epoch seconds.
 * - A consumed code is kept, and answers `reused`, until `deleteExpired` removes it (at
 *   `expires_at`, as for every record): reuse detection of a code lasts as long as the purge
 *   interval lets it. Likewise a rotated or revoked refresh token answers `reused` (and revokes
 *   its family again, harmlessly) until it is purged, even after its own `expires_at`; an
 *   expired token that was never rotated nor revoked is `not_found`.
 * - `rotateRefreshToken` requires `next.grant_id` to equal the rotated token's `grant_id` (the
 *   family is what reuse detection revokes); a mismatch throws a `TypeError` and changes nothing.
 *   In the `reused` answer, `previous` is the token as it was found, before the family was
 *   revoked.
 * - Revocations (`revokeRefreshToken`, `revokeAccessToken`, `revokeGrant`, family revocation)
 *   keep the first `revoked_at` of a token already revoked.
 * - `revokeRefreshToken` revokes that one token; `consumeCode` answering `reused` revokes
 *   nothing: revoking the grant (RFC 6749 §4.1.2, RFC 7009 §2.1) is the caller's policy, through
 *   `revokeGrant`.
 * - `upsertClient` replaces every column, `created_at` included.
 * - `listClients` orders by `client_id`; `listSigningKeys` by `created_at` descending, then `kid`.
 */
export function createKyselyStore(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  options: KyselyStoreOptions = {},
): Store {
  const clock = options.now ?? wallClock

  async function retrying<T>(operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation()
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code
        const retryable =
          dialect === 'postgres' && typeof code === 'string' && PG_RETRYABLE.has(code)
        if (!retryable || attempt >= MAX_ATTEMPTS) throw err
      }
    }
  }

  /**
   * Whether a key taken from a request can be in a column: PostgreSQL text cannot hold U+0000
   * (a query with one fails), so no row has it and the lookup is answered without one.
   */
  const storable = (key: string) => dialect !== 'postgres' || !key.includes('\u0000')

  function transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const builder = db.transaction()
    return (dialect === 'postgres' ? builder.setIsolationLevel('read committed') : builder).execute(
      work,
    )
  }

  async function revokeFamily(trx: Kysely<Database>, grantId: string, now: number): Promise<void> {
    await trx
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('grant_id', '=', grantId)
      .where('revoked_at', 'is', null)
      .execute()
    await trx
      .updateTable('access_tokens')
      .set({ revoked_at: now })
      .where('grant_id', '=', grantId)
      .where('revoked_at', 'is', null)
      .execute()
  }

  return {
    async migrate() {
      await migrateToLatest(db, dialect)
    },

    async close() {
      await db.destroy()
    },

    async getClient(clientId) {
      if (!storable(clientId)) return undefined
      const row = await db
        .selectFrom('clients')
        .selectAll()
        .where('client_id', '=', clientId)
        .executeTakeFirst()
      return row === undefined ? undefined : rowToClient(row)
    },

    async upsertClient(client) {
      const row = clientToRow(client)
      const { client_id: _, ...rest } = row
      await db
        .insertInto('clients')
        .values(row)
        .onConflict((oc) => oc.column('client_id').doUpdateSet(rest))
        .execute()
    },

    async deleteClient(clientId) {
      await db.deleteFrom('clients').where('client_id', '=', clientId).execute()
    },

    async listClients() {
      const rows = await db.selectFrom('clients').selectAll().orderBy('client_id').execute()
      return rows.map(rowToClient)
    },

    async getUser(username) {
      if (!storable(username)) return undefined
      const row = await db
        .selectFrom('users')
        .selectAll()
        .where('username', '=', username)
        .executeTakeFirst()
      return row === undefined ? undefined : rowToUser(row)
    },

    async upsertUser(user) {
      const row = {
        username: user.username,
        password_hash: user.password_hash,
        claims: json(user.claims),
      }
      await db
        .insertInto('users')
        .values(row)
        .onConflict((oc) =>
          oc
            .column('username')
            .doUpdateSet({ password_hash: row.password_hash, claims: row.claims }),
        )
        .execute()
    },

    async insertCode(code) {
      await db.insertInto('authorization_codes').values(codeToRow(code)).execute()
    },

    consumeCode(id, now): Promise<ConsumeCodeResult> {
      return retrying(async () => {
        const consumed = await db
          .updateTable('authorization_codes')
          .set({ consumed_at: now })
          .where('id', '=', id)
          .where('consumed_at', 'is', null)
          .where('expires_at', '>', now)
          .returningAll()
          .executeTakeFirst()
        if (consumed !== undefined) return { status: 'consumed', code: rowToCode(consumed) }
        // Lost or not applicable: classify only. A consumed code is `reused` even if expired since.
        const row = await db
          .selectFrom('authorization_codes')
          .selectAll()
          .where('id', '=', id)
          .where('consumed_at', 'is not', null)
          .executeTakeFirst()
        return row === undefined
          ? { status: 'not_found' }
          : { status: 'reused', code: rowToCode(row) }
      })
    },

    async insertRefreshToken(token) {
      await db.insertInto('refresh_tokens').values(refreshToRow(token)).execute()
    },

    async getRefreshToken(id) {
      const row = await db
        .selectFrom('refresh_tokens')
        .selectAll()
        .where('id', '=', id)
        .where('expires_at', '>', clock())
        .where('rotated_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return row === undefined ? undefined : rowToRefresh(row)
    },

    rotateRefreshToken(id, next, now): Promise<RotateRefreshTokenResult> {
      return retrying(() =>
        transaction(async (trx): Promise<RotateRefreshTokenResult> => {
          const rotated = await trx
            .updateTable('refresh_tokens')
            .set({ rotated_at: now })
            .where('id', '=', id)
            .where('rotated_at', 'is', null)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .returningAll()
            .executeTakeFirst()
          if (rotated !== undefined) {
            if (next.grant_id !== rotated.grant_id) {
              // Throwing rolls the rotation back.
              throw new TypeError(
                `rotateRefreshToken: next.grant_id ${JSON.stringify(next.grant_id)} differs from the rotated token's grant_id`,
              )
            }
            await trx.insertInto('refresh_tokens').values(refreshToRow(next)).execute()
            return { status: 'rotated', previous: rowToRefresh(rotated) }
          }
          const found = await trx
            .selectFrom('refresh_tokens')
            .selectAll()
            .where('id', '=', id)
            .where((eb) =>
              eb.or([eb('rotated_at', 'is not', null), eb('revoked_at', 'is not', null)]),
            )
            .executeTakeFirst()
          if (found === undefined) return { status: 'not_found' }
          await revokeFamily(trx, found.grant_id, now)
          return { status: 'reused', previous: rowToRefresh(found) }
        }),
      )
    },

    async revokeRefreshToken(id, now) {
      await db
        .updateTable('refresh_tokens')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute()
    },

    async insertAccessToken(token) {
      await db.insertInto('access_tokens').values(accessToRow(token)).execute()
    },

    async getAccessToken(id) {
      const row = await db
        .selectFrom('access_tokens')
        .selectAll()
        .where('id', '=', id)
        .where('expires_at', '>', clock())
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return row === undefined ? undefined : rowToAccess(row)
    },

    async revokeAccessToken(id, now) {
      await db
        .updateTable('access_tokens')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute()
    },

    revokeGrant(grantId, now) {
      return retrying(() => transaction((trx) => revokeFamily(trx, grantId, now)))
    },

    async listSigningKeys(now) {
      const rows = await db
        .selectFrom('signing_keys')
        .selectAll()
        .where('expires_at', '>', now)
        .orderBy('created_at', 'desc')
        .orderBy('kid')
        .execute()
      return rows.map(rowToSigningKey)
    },

    async insertSigningKey(key) {
      await db
        .insertInto('signing_keys')
        .values({
          kid: key.kid,
          alg: key.alg,
          private_jwk: json(key.private_jwk),
          public_jwk: json(key.public_jwk),
          created_at: key.created_at,
          retires_at: key.retires_at,
          expires_at: key.expires_at,
        })
        .execute()
    },

    insertSigningKeyUnless(key, retiringAfter) {
      // One INSERT ... SELECT ... WHERE NOT EXISTS: SQLite runs a writing statement under its
      // single write lock, so the check and the insert are one step. PostgreSQL checks without
      // predicate locks, so the statement runs under a transaction-scoped advisory lock that
      // every instance takes for this.
      const int = (value: number) => sql<number>`cast(${value} as bigint)`
      const text = (value: string) => sql<string>`cast(${value} as text)`
      const insert = async (trx: Kysely<Database>) => {
        const result = await trx
          .insertInto('signing_keys')
          .columns([
            'kid',
            'alg',
            'private_jwk',
            'public_jwk',
            'created_at',
            'retires_at',
            'expires_at',
          ])
          .expression(
            trx
              .selectNoFrom([
                text(key.kid).as('kid'),
                text(key.alg).as('alg'),
                text(json(key.private_jwk)).as('private_jwk'),
                text(json(key.public_jwk)).as('public_jwk'),
                int(key.created_at).as('created_at'),
                int(key.retires_at).as('retires_at'),
                int(key.expires_at).as('expires_at'),
              ])
              .where(({ not, exists, selectFrom }) =>
                not(
                  exists(
                    selectFrom('signing_keys')
                      .select('kid')
                      .where('alg', '=', key.alg)
                      .where('retires_at', '>', retiringAfter),
                  ),
                ),
              ),
          )
          .executeTakeFirst()
        return result.numInsertedOrUpdatedRows === 1n
      }
      if (dialect === 'sqlite') return insert(db)
      return retrying(() =>
        transaction(async (trx) => {
          await sql`select pg_advisory_xact_lock(${SIGNING_KEY_LOCK})`.execute(trx)
          return insert(trx)
        }),
      )
    },

    async insertPushedRequest(request) {
      await db
        .insertInto('pushed_requests')
        .values({
          id: request.id,
          client_id: request.client_id,
          params: json(request.params),
          dpop_jkt: request.dpop_jkt,
          expires_at: request.expires_at,
        })
        .execute()
    },

    consumePushedRequest(id, now) {
      if (!storable(id)) return Promise.resolve(undefined)
      return retrying(async () => {
        const row = await db
          .deleteFrom('pushed_requests')
          .where('id', '=', id)
          .where('expires_at', '>', now)
          .returningAll()
          .executeTakeFirst()
        return row === undefined ? undefined : rowToPushedRequest(row)
      })
    },

    async insertTransaction(t) {
      await db
        .insertInto('authorization_transactions')
        .values({
          id: t.id,
          client_id: t.client_id,
          request: json(t.request),
          browser: t.browser,
          csrf: t.csrf,
          sub: t.sub,
          auth_time: t.auth_time,
          expires_at: t.expires_at,
        })
        .execute()
    },

    async getTransaction(id, now) {
      if (!storable(id)) return undefined
      const row = await db
        .selectFrom('authorization_transactions')
        .selectAll()
        .where('id', '=', id)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return row === undefined ? undefined : rowToTransaction(row)
    },

    setTransactionUser(id, csrf, user, now) {
      if (!storable(id) || !storable(csrf)) return Promise.resolve(false)
      return retrying(async () => {
        const result = await db
          .updateTable('authorization_transactions')
          .set({ sub: user.sub, auth_time: user.auth_time, csrf: user.next_csrf })
          .where('id', '=', id)
          .where('csrf', '=', csrf)
          .where('sub', 'is', null)
          .where('expires_at', '>', now)
          .executeTakeFirst()
        return result.numUpdatedRows === 1n
      })
    },

    endTransaction(id, now) {
      if (!storable(id)) return Promise.resolve(false)
      return retrying(async () => {
        const result = await db
          .deleteFrom('authorization_transactions')
          .where('id', '=', id)
          .where('sub', 'is not', null)
          .where('expires_at', '>', now)
          .executeTakeFirst()
        return result.numDeletedRows === 1n
      })
    },

    countLoginAttempt(key, window, now) {
      // One statement: concurrent attempts on several instances each count.
      return retrying(async () => {
        const reset = sql<boolean>`login_failures.expires_at <= ${now}`
        const row = await db
          .insertInto('login_failures')
          .values({ key, count: 1, expires_at: now + window })
          .onConflict((oc) =>
            oc.column('key').doUpdateSet({
              count: sql<number>`case when ${reset} then 1 else login_failures.count + 1 end`,
              expires_at: sql<number>`case when ${reset} then ${now + window} else login_failures.expires_at end`,
            }),
          )
          .returning(['count', 'expires_at'])
          .executeTakeFirstOrThrow()
        return { count: toInt(row.count), expires_at: toInt(row.expires_at) }
      })
    },

    async forgiveLoginAttempt(key, now) {
      await retrying(() =>
        db
          .updateTable('login_failures')
          .set({ count: sql<number>`count - 1` })
          .where('key', '=', key)
          .where('count', '>', 0)
          .where('expires_at', '>', now)
          .execute(),
      )
    },

    async clearLoginAttempts(key) {
      await db.deleteFrom('login_failures').where('key', '=', key).execute()
    },

    async deleteExpired(now) {
      // One transaction: one commit (one fsync on SQLite) for the whole purge.
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('authorization_codes').where('expires_at', '<=', now).execute()
        await trx.deleteFrom('refresh_tokens').where('expires_at', '<=', now).execute()
        await trx.deleteFrom('access_tokens').where('expires_at', '<=', now).execute()
        await trx.deleteFrom('signing_keys').where('expires_at', '<=', now).execute()
        await trx.deleteFrom('pushed_requests').where('expires_at', '<=', now).execute()
        await trx.deleteFrom('authorization_transactions').where('expires_at', '<=', now).execute()
        await trx.deleteFrom('login_failures').where('expires_at', '<=', now).execute()
      })
    },
  }
}
