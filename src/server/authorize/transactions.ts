/**
 * @module server/authorize/transactions
 *
 * The authorization requests in progress, between the login page and the code: kept in the
 * store (`authorization_transactions`), keyed by a random id that the login form carries, so
 * that every instance of a fleet sharing the database can take the next step and no sticky
 * sessions are needed. Nothing about the request travels through the browser, so it cannot be
 * altered there; a transaction lives `ttl` seconds and ends with its code (it cannot be
 * replayed). Logging in and ending are conditional writes in the store: of two submissions of
 * one form, only one gets through each.
 */
import { randomBytes } from 'node:crypto'
import type { AuthorizationTransactionRecord, ClientRecord, Store } from '../../store/types.js'
import type { ClientLookup } from '../clients.js'
import { epoch } from '../context.js'
import type { AuthorizationRequest } from './request.js'

export interface Transaction {
  readonly id: string
  readonly client: ClientRecord
  readonly request: AuthorizationRequest
  /** The browser id (the cookie) the transaction is bound to, see `csrf.ts`. */
  readonly browser: string
  /** The synchronizer CSRF token the current form must send back; renewed after login. */
  readonly csrf: string
  /** The logged-in user, once the password has been checked. */
  readonly user: { readonly sub: string; readonly authTime: number } | undefined
}

export const randomToken = () => randomBytes(32).toString('base64url')

function requestToRecord(r: AuthorizationRequest): Record<string, string | null> {
  return {
    clientId: r.clientId,
    redirectUri: r.redirectUri,
    state: r.state ?? null,
    scope: r.scope,
    codeChallenge: r.codeChallenge,
    codeChallengeMethod: r.codeChallengeMethod,
    dpopJkt: r.dpopJkt,
  }
}

function requestOfRecord(r: Record<string, string | null>): AuthorizationRequest {
  return {
    clientId: r.clientId as string,
    redirectUri: r.redirectUri as string,
    state: r.state ?? undefined,
    scope: r.scope as string,
    codeChallenge: r.codeChallenge ?? null,
    codeChallengeMethod: r.codeChallengeMethod === 'S256' ? 'S256' : null,
    dpopJkt: r.dpopJkt ?? null,
  }
}

export class Transactions {
  readonly #store: Store
  readonly #clients: ClientLookup
  readonly #ttl: number

  /** @param ttl Seconds a user has to log in and consent. */
  constructor(store: Store, clients: ClientLookup, ttl = 600) {
    this.#store = store
    this.#clients = clients
    this.#ttl = ttl
  }

  async create(
    client: ClientRecord,
    request: AuthorizationRequest,
    browser: string,
  ): Promise<Transaction> {
    const record: AuthorizationTransactionRecord = {
      id: randomToken(),
      client_id: client.client_id,
      request: requestToRecord(request),
      browser,
      csrf: randomToken(),
      sub: null,
      auth_time: null,
      expires_at: epoch() + this.#ttl,
    }
    await this.#store.insertTransaction(record)
    return { id: record.id, client, request, browser, csrf: record.csrf, user: undefined }
  }

  /** A live transaction, or `undefined` (unknown, expired, or its client since deleted). */
  async get(id: string | undefined): Promise<Transaction | undefined> {
    if (id === undefined) return undefined
    const record = await this.#store.getTransaction(id, epoch())
    if (!record) return undefined
    const client = await this.#clients.get(record.client_id)
    if (!client) return undefined
    return {
      id: record.id,
      client,
      request: requestOfRecord(record.request),
      browser: record.browser,
      csrf: record.csrf,
      user: record.sub === null ? undefined : { sub: record.sub, authTime: record.auth_time ?? 0 },
    }
  }

  /**
   * Records the login, with a new CSRF token for the next form (the login form's one is spent):
   * the updated transaction, or `undefined` when another submission of the same form got there
   * first or the transaction expired.
   */
  async logIn(tx: Transaction, sub: string, authTime: number): Promise<Transaction | undefined> {
    const csrf = randomToken()
    const user = { sub, auth_time: authTime, next_csrf: csrf }
    const done = await this.#store.setTransactionUser(tx.id, tx.csrf, user, epoch())
    return done ? { ...tx, csrf, user: { sub, authTime } } : undefined
  }

  /**
   * Ends a logged-in transaction: `true` for the one caller that ended it. Two submissions of
   * one form racing past the password check cannot both get a code.
   */
  end(tx: Transaction): Promise<boolean> {
    return this.#store.endTransaction(tx.id, epoch())
  }
}
