/**
 * @module store
 *
 * Persistent storage of the authorization server: the {@link Store} contract and
 * {@link openStore}, which opens a SQLite file or a PostgreSQL database by URL.
 */

export { type OpenStoreOptions, openStore, redactDatabaseUrl } from './open.js'
export type {
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
