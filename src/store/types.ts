/**
 * @module store/types
 *
 * The storage contract of the authorization server. One implementation (`kysely.ts`) speaks
 * both SQLite and PostgreSQL; `test/store/contract.ts` is the one suite every backend passes.
 *
 * Units and conventions:
 * - Every time is **epoch seconds** (an integer). Every `expires_at` is a TTL: a record whose
 *   `expires_at` is at or before "now" is treated as absent by every read, and may be deleted
 *   by {@link Store.deleteExpired} at any time.
 * - Secrets and tokens are never stored: only their SHA-256, base64url (`*_hash`, or the `id` of
 *   codes and tokens). A stolen database holds no usable credential.
 * - `cnf` is the confirmation claim (RFC 7800) of a sender-constrained token: `{ jkt }` for
 *   DPoP (RFC 9449 §6), `{ 'x5t#S256' }` for mutual TLS (RFC 8705 §3.1), `{ jwk }` for
 *   signed-request PoP. It is stored as JSON, and `null` for bearer tokens.
 * - "Atomic" below means a single conditional statement (`UPDATE ... WHERE ... RETURNING`), never
 *   a read followed by a write: of two concurrent calls, exactly one wins.
 */

/** How a client's access tokens are bound (the per-client "token binding type"). */
export type TokenBinding = 'none' | 'dpop' | 'mtls' | 'pop'

/** RFC 7591 §2 `token_endpoint_auth_method` values keybound implements. */
export type TokenEndpointAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt'
  | 'none'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth'

/** RFC 7800 confirmation claim. */
export interface Confirmation {
  jkt?: string
  'x5t#S256'?: string
  jwk?: Record<string, unknown>
}

/** A registered client (RFC 7591 §2 metadata, plus keybound's own fields). */
export interface ClientRecord {
  client_id: string
  /** SHA-256 of the client secret, base64url; absent for clients without a secret. */
  client_secret_hash: string | null
  client_name: string | null
  token_endpoint_auth_method: TokenEndpointAuthMethod
  grant_types: string[]
  redirect_uris: string[]
  /** Space-separated scopes the client may ask for; `null`: any scope the server knows. */
  scope: string | null
  /** Public keys for `private_key_jwt` and `self_signed_tls_client_auth`. */
  jwks: { keys: Record<string, unknown>[] } | null
  jwks_uri: string | null
  token_binding: TokenBinding
  /** RFC 9449 §5.2: every token request must carry a DPoP proof. */
  dpop_bound_access_tokens: boolean
  /** Overrides the server's `accessToken.format` for this client. */
  access_token_format: 'jwt' | 'reference' | null
  /** First-party clients skip the consent screen. */
  first_party: boolean
  /** Other RFC 7591 metadata, kept as sent (e.g. `tls_client_auth_subject_dn`). */
  metadata: Record<string, unknown>
  /** Where the client comes from: the config file (replaced at each start) or `/register`. */
  source: 'config' | 'registration'
  /** SHA-256 of the RFC 7592 registration access token, for registered clients. */
  registration_access_token_hash: string | null
  created_at: number
}

/** A resource owner who can log in at `/authorize`. */
export interface UserRecord {
  /** The login name, also the `sub` of tokens. */
  username: string
  /** `scrypt$N$r$p$salt$hash` (base64url parts): a memory-hard KDF. */
  password_hash: string
  /** Claims about the user (e.g. `name`, `email`). */
  claims: Record<string, unknown>
}

/** An authorization code (RFC 6749 §4.1.2); `id` is the SHA-256 of the code. */
export interface AuthorizationCodeRecord {
  id: string
  /** Ties the code to every token issued from it, so a replayed code can revoke them. */
  grant_id: string
  client_id: string
  sub: string
  redirect_uri: string
  scope: string
  /** RFC 7636 PKCE. */
  code_challenge: string | null
  code_challenge_method: 'S256' | null
  /** RFC 9449 §10: the code is bound to this DPoP key. */
  dpop_jkt: string | null
  auth_time: number
  expires_at: number
  /** Set once, atomically, when the code is redeemed. */
  consumed_at: number | null
}

/** A refresh token; `id` is its SHA-256. All tokens of one grant share `grant_id` (the family). */
export interface RefreshTokenRecord {
  id: string
  grant_id: string
  client_id: string
  sub: string | null
  scope: string
  /** RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key. */
  cnf: Confirmation | null
  created_at: number
  expires_at: number
  /** Set when the token has been exchanged for a new one (rotation). */
  rotated_at: number | null
  revoked_at: number | null
}

/** A reference (opaque) access token; `id` is its SHA-256. */
export interface AccessTokenRecord {
  id: string
  grant_id: string | null
  client_id: string
  sub: string | null
  scope: string
  aud: string[]
  cnf: Confirmation | null
  /** `DPoP`, `Bearer` or `pop` (RFC 6749 §7.1 `token_type`). */
  token_type: string
  iat: number
  expires_at: number
  revoked_at: number | null
}

/** A signing key of the server. */
export interface SigningKeyRecord {
  kid: string
  alg: string
  private_jwk: Record<string, unknown>
  public_jwk: Record<string, unknown>
  created_at: number
  /** After this time the key no longer signs, but is still published in `/jwks`. */
  retires_at: number
  /** After this time the key is no longer published. */
  expires_at: number
}

/** A pushed authorization request (RFC 9126); `id` is the part after `urn:ietf:params:oauth:request_uri:`. */
export interface PushedRequestRecord {
  id: string
  client_id: string
  params: Record<string, string>
  /** RFC 9449 §10.1: the DPoP key of the PAR request binds the code. */
  dpop_jkt: string | null
  expires_at: number
}

/**
 * An authorization request in progress (RFC 6749 §4.1.1), between the login page and the code:
 * kept in the store, so that any instance of a fleet can take the next step.
 */
export interface AuthorizationTransactionRecord {
  /** Random; carried by the login and consent forms. */
  id: string
  client_id: string
  /** The validated authorization request, as the authorization endpoint keeps it. */
  request: Record<string, string | null>
  /** The browser id (cookie) the transaction is bound to. */
  browser: string
  /** The synchronizer CSRF token the next form must send back. */
  csrf: string
  /** The logged-in user, once the password has been checked; else `null`. */
  sub: string | null
  /** When `sub` logged in, epoch seconds; `null` with `sub`. */
  auth_time: number | null
  expires_at: number
}

/** The outcome of {@link Store.consumeCode}. */
export type ConsumeCodeResult =
  | { status: 'consumed'; code: AuthorizationCodeRecord }
  /** The code was redeemed before: RFC 6749 §4.1.2 says revoke what it issued. */
  | { status: 'reused'; code: AuthorizationCodeRecord }
  | { status: 'not_found' }

/** The outcome of {@link Store.rotateRefreshToken}. */
export type RotateRefreshTokenResult =
  | { status: 'rotated'; previous: RefreshTokenRecord }
  /** The token was already rotated or revoked: its whole family has now been revoked. */
  | { status: 'reused'; previous: RefreshTokenRecord }
  | { status: 'not_found' }

export interface Store {
  /** Creates or upgrades the schema. Idempotent; run at start and by `keybound migrate`. */
  migrate(): Promise<void>
  close(): Promise<void>

  getClient(clientId: string): Promise<ClientRecord | undefined>
  /** Inserts or replaces by `client_id`. */
  upsertClient(client: ClientRecord): Promise<void>
  deleteClient(clientId: string): Promise<void>
  listClients(): Promise<ClientRecord[]>

  getUser(username: string): Promise<UserRecord | undefined>
  upsertUser(user: UserRecord): Promise<void>

  insertCode(code: AuthorizationCodeRecord): Promise<void>
  /**
   * Atomically marks the code consumed at `now`. Answers `consumed` to exactly one caller;
   * `reused` when it was consumed before (even if expired since), `not_found` when unknown or
   * expired and never consumed.
   */
  consumeCode(id: string, now: number): Promise<ConsumeCodeResult>

  insertRefreshToken(token: RefreshTokenRecord): Promise<void>
  /** A live (not expired, not rotated, not revoked) refresh token. */
  getRefreshToken(id: string): Promise<RefreshTokenRecord | undefined>
  /**
   * Atomically marks `id` rotated and inserts `next` in one transaction. If `id` was already
   * rotated or revoked (a reuse), revokes every refresh and access token of its `grant_id`
   * and answers `reused`; nothing is inserted.
   */
  rotateRefreshToken(
    id: string,
    next: RefreshTokenRecord,
    now: number,
  ): Promise<RotateRefreshTokenResult>
  revokeRefreshToken(id: string, now: number): Promise<void>

  insertAccessToken(token: AccessTokenRecord): Promise<void>
  /** A live (not expired, not revoked) reference access token. */
  getAccessToken(id: string): Promise<AccessTokenRecord | undefined>
  revokeAccessToken(id: string, now: number): Promise<void>

  /** Revokes every refresh and reference access token of a grant. */
  revokeGrant(grantId: string, now: number): Promise<void>

  /** Keys not yet expired, newest first. */
  listSigningKeys(now: number): Promise<SigningKeyRecord[]>
  insertSigningKey(key: SigningKeyRecord): Promise<void>
  /**
   * Inserts `key` unless a key of its `alg` retires after `retiringAfter`: `true` when it was
   * inserted. Atomic across the processes sharing the store, so that of several instances making
   * the same key at once (the first key, or the successor of the current one) exactly one wins.
   */
  insertSigningKeyUnless(key: SigningKeyRecord, retiringAfter: number): Promise<boolean>

  insertPushedRequest(request: PushedRequestRecord): Promise<void>
  /** Atomically removes and returns a live pushed request (a `request_uri` is used once). */
  consumePushedRequest(id: string, now: number): Promise<PushedRequestRecord | undefined>

  insertTransaction(transaction: AuthorizationTransactionRecord): Promise<void>
  /** A live transaction, or `undefined`. */
  getTransaction(id: string, now: number): Promise<AuthorizationTransactionRecord | undefined>
  /**
   * Records the login on a live transaction still waiting for one whose CSRF token is `csrf`,
   * and sets the next form's token: `true` for the one caller that did (two racing logins with
   * one form cannot both succeed).
   */
  setTransactionUser(
    id: string,
    csrf: string,
    user: { sub: string; auth_time: number; next_csrf: string },
    now: number,
  ): Promise<boolean>
  /** Atomically deletes a live, logged-in transaction: `true` for the one caller that did. */
  endTransaction(id: string, now: number): Promise<boolean>

  /**
   * Counts one login attempt for `key` in a fixed window of `window` seconds, before its
   * password is checked, so that concurrent attempts cannot all pass a check made before any is
   * counted. The window starts at the first attempt; one after it ends starts a new one.
   * Returns the count, this attempt included, and when the window ends.
   */
  countLoginAttempt(
    key: string,
    window: number,
    now: number,
  ): Promise<{ count: number; expires_at: number }>
  /** Takes back one counted attempt of `key` (it succeeded), in a window still running. */
  forgiveLoginAttempt(key: string, now: number): Promise<void>
  /** Forgets every attempt of `key`. */
  clearLoginAttempts(key: string): Promise<void>

  /** Deletes every record whose `expires_at` is at or before `now`. */
  deleteExpired(now: number): Promise<void>
}
