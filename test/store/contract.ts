/**
 * The one contract suite of `src/store/types.ts`: every backend runs it (`sqlite.test.ts`,
 * `postgres.test.ts`). Each test uses fresh random ids, so tests do not depend on one another nor
 * on what an earlier run left in the database.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type {
  AccessTokenRecord,
  AuthorizationCodeRecord,
  AuthorizationTransactionRecord,
  ClientRecord,
  PushedRequestRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
  Store,
  UserRecord,
} from '../../src/store/index.js'

const CONCURRENCY = 20

/** A random id like a SHA-256, base64url. */
export function rid(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`
}

export function epochNow(): number {
  return Math.floor(Date.now() / 1000)
}

export function sampleClient(overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    client_id: rid('client-'),
    client_secret_hash: rid(),
    client_name: 'Example Client ☃',
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: ['https://client.example/cb', 'http://127.0.0.1:8080/cb'],
    scope: 'read write',
    jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', kid: 'k1' }] },
    jwks_uri: 'https://client.example/jwks',
    token_binding: 'dpop',
    dpop_bound_access_tokens: true,
    access_token_format: 'reference',
    first_party: false,
    metadata: { tls_client_auth_subject_dn: 'CN=client', nested: { a: [1, 2, null], b: true } },
    source: 'registration',
    registration_access_token_hash: rid(),
    created_at: 1_700_000_000,
    ...overrides,
  }
}

export function sampleRefreshToken(
  now: number,
  overrides: Partial<RefreshTokenRecord> = {},
): RefreshTokenRecord {
  return {
    id: rid(),
    grant_id: rid('grant-'),
    client_id: 'client-a',
    sub: 'alice',
    scope: 'openid read',
    cnf: { jkt: rid() },
    created_at: now,
    expires_at: now + 3600,
    rotated_at: null,
    revoked_at: null,
    ...overrides,
  }
}

export function sampleAccessToken(
  now: number,
  overrides: Partial<AccessTokenRecord> = {},
): AccessTokenRecord {
  return {
    id: rid(),
    grant_id: rid('grant-'),
    client_id: 'client-a',
    sub: 'alice',
    scope: 'read',
    aud: ['https://api.example', 'https://other.example'],
    cnf: { 'x5t#S256': rid() },
    token_type: 'DPoP',
    iat: now,
    expires_at: now + 300,
    revoked_at: null,
    ...overrides,
  }
}

export function sampleSigningKey(
  now: number,
  overrides: Partial<SigningKeyRecord> = {},
): SigningKeyRecord {
  return {
    kid: rid('kid-'),
    alg: 'ES256',
    private_jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' },
    public_jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    created_at: now,
    retires_at: now + 86_400,
    expires_at: now + 2 * 86_400,
    ...overrides,
  }
}

function sampleCode(
  now: number,
  overrides: Partial<AuthorizationCodeRecord> = {},
): AuthorizationCodeRecord {
  return {
    id: rid(),
    grant_id: rid('grant-'),
    client_id: 'client-a',
    sub: 'alice',
    redirect_uri: 'https://client.example/cb?x=1&y=%20',
    scope: 'openid read',
    code_challenge: rid(),
    code_challenge_method: 'S256',
    dpop_jkt: rid(),
    auth_time: now - 5,
    expires_at: now + 60,
    consumed_at: null,
    ...overrides,
  }
}

function sampleTransaction(
  now: number,
  overrides: Partial<AuthorizationTransactionRecord> = {},
): AuthorizationTransactionRecord {
  return {
    id: rid(),
    client_id: 'client-a',
    request: { redirectUri: 'https://c/cb', state: 'é&=?', scope: 'read', dpopJkt: null },
    browser: rid(),
    csrf: rid(),
    sub: null,
    auth_time: null,
    expires_at: now + 600,
    ...overrides,
  }
}

function samplePushedRequest(
  now: number,
  overrides: Partial<PushedRequestRecord> = {},
): PushedRequestRecord {
  return {
    id: rid(),
    client_id: 'client-a',
    params: {
      response_type: 'code',
      scope: 'openid read',
      state: 'é&=?',
      redirect_uri: 'https://c/cb',
    },
    dpop_jkt: rid(),
    expires_at: now + 60,
    ...overrides,
  }
}

function count<T>(values: T[], predicate: (value: T) => boolean): number {
  return values.filter(predicate).length
}

/**
 * Registers the contract suite for one backend. `open` returns a migrated store; it is called once,
 * before the suite, and the store is closed after it.
 */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store

    before(async () => {
      store = await open()
    })

    after(async () => {
      await store?.close()
    })

    test('migrate is idempotent', async () => {
      await store.migrate()
      await store.migrate()
    })

    describe('clients', () => {
      test('round trip of every field (JSON, arrays, booleans)', async () => {
        const client = sampleClient()
        await store.upsertClient(client)
        assert.deepEqual(await store.getClient(client.client_id), client)
      })

      test('round trip with nulls and false/true flipped', async () => {
        const client = sampleClient({
          client_secret_hash: null,
          client_name: null,
          token_endpoint_auth_method: 'none',
          grant_types: [],
          redirect_uris: [],
          scope: null,
          jwks: null,
          jwks_uri: null,
          token_binding: 'none',
          dpop_bound_access_tokens: false,
          access_token_format: null,
          first_party: true,
          metadata: {},
          source: 'config',
          registration_access_token_hash: null,
        })
        await store.upsertClient(client)
        assert.deepEqual(await store.getClient(client.client_id), client)
      })

      test('unknown client is undefined', async () => {
        assert.equal(await store.getClient(rid('client-')), undefined)
      })

      test('upsert replaces every field', async () => {
        const first = sampleClient()
        await store.upsertClient(first)
        const second = sampleClient({
          client_id: first.client_id,
          client_secret_hash: null,
          client_name: 'Renamed',
          token_endpoint_auth_method: 'tls_client_auth',
          grant_types: ['client_credentials'],
          redirect_uris: [],
          scope: 'admin',
          jwks: null,
          token_binding: 'mtls',
          dpop_bound_access_tokens: false,
          access_token_format: 'jwt',
          first_party: true,
          metadata: { tls_client_auth_subject_dn: 'CN=other' },
          source: 'config',
          registration_access_token_hash: null,
          created_at: 1_800_000_000,
        })
        await store.upsertClient(second)
        assert.deepEqual(await store.getClient(first.client_id), second)
        const listed = (await store.listClients()).filter((c) => c.client_id === first.client_id)
        assert.deepEqual(listed, [second])
      })

      test('listClients lists every client; deleteClient removes one', async () => {
        const a = sampleClient()
        const b = sampleClient({ jwks: null })
        await store.upsertClient(a)
        await store.upsertClient(b)
        let all = await store.listClients()
        assert.deepEqual(
          all.find((c) => c.client_id === a.client_id),
          a,
        )
        assert.deepEqual(
          all.find((c) => c.client_id === b.client_id),
          b,
        )
        await store.deleteClient(a.client_id)
        assert.equal(await store.getClient(a.client_id), undefined)
        all = await store.listClients()
        assert.equal(
          all.find((c) => c.client_id === a.client_id),
          undefined,
        )
        assert.deepEqual(await store.getClient(b.client_id), b)
        await store.deleteClient(rid('client-')) // unknown: no error
      })
    })

    describe('users', () => {
      test('round trip, upsert replaces, unknown is undefined', async () => {
        const user: UserRecord = {
          username: rid('user-'),
          password_hash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
          claims: {
            name: 'Alice',
            email: 'alice@example.com',
            email_verified: true,
            groups: ['a'],
          },
        }
        await store.upsertUser(user)
        assert.deepEqual(await store.getUser(user.username), user)
        const replaced: UserRecord = { ...user, password_hash: 'scrypt$other', claims: {} }
        await store.upsertUser(replaced)
        assert.deepEqual(await store.getUser(user.username), replaced)
        assert.equal(await store.getUser(rid('user-')), undefined)
      })
    })

    describe('authorization codes', () => {
      test('consumed once with every field, then reused', async () => {
        const now = epochNow()
        const code = sampleCode(now)
        await store.insertCode(code)
        const first = await store.consumeCode(code.id, now)
        assert.deepEqual(first, { status: 'consumed', code: { ...code, consumed_at: now } })
        const second = await store.consumeCode(code.id, now + 1)
        assert.deepEqual(second, { status: 'reused', code: { ...code, consumed_at: now } })
      })

      test('round trip with nulls', async () => {
        const now = epochNow()
        const code = sampleCode(now, {
          code_challenge: null,
          code_challenge_method: null,
          dpop_jkt: null,
        })
        await store.insertCode(code)
        assert.deepEqual(await store.consumeCode(code.id, now), {
          status: 'consumed',
          code: { ...code, consumed_at: now },
        })
      })

      test('unknown code is not_found', async () => {
        assert.deepEqual(await store.consumeCode(rid(), epochNow()), { status: 'not_found' })
      })

      test('expired and never consumed is not_found (expires_at at now is expired)', async () => {
        const now = epochNow()
        const past = sampleCode(now, { expires_at: now - 1 })
        const boundary = sampleCode(now, { expires_at: now })
        await store.insertCode(past)
        await store.insertCode(boundary)
        assert.deepEqual(await store.consumeCode(past.id, now), { status: 'not_found' })
        assert.deepEqual(await store.consumeCode(boundary.id, now), { status: 'not_found' })
        // Still not_found afterwards: a failed consumption does not mark the code.
        assert.deepEqual(await store.consumeCode(boundary.id, now), { status: 'not_found' })
      })

      test('consumed then expired is still reused (until deleteExpired)', async () => {
        const now = epochNow()
        const code = sampleCode(now, { expires_at: now + 10 })
        await store.insertCode(code)
        assert.equal((await store.consumeCode(code.id, now)).status, 'consumed')
        const later = await store.consumeCode(code.id, now + 100)
        assert.deepEqual(later, { status: 'reused', code: { ...code, consumed_at: now } })
      })

      test(`${CONCURRENCY} concurrent consumptions: exactly one consumed`, async () => {
        const now = epochNow()
        const code = sampleCode(now)
        await store.insertCode(code)
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, () => store.consumeCode(code.id, now)),
        )
        assert.equal(
          count(results, (r) => r.status === 'consumed'),
          1,
        )
        assert.equal(
          count(results, (r) => r.status === 'reused'),
          CONCURRENCY - 1,
        )
      })
    })

    describe('refresh tokens', () => {
      test('round trip of every field; unknown is undefined', async () => {
        const now = epochNow()
        const withCnf = sampleRefreshToken(now, {
          cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc' } },
        })
        const bearer = sampleRefreshToken(now, { sub: null, cnf: null })
        await store.insertRefreshToken(withCnf)
        await store.insertRefreshToken(bearer)
        assert.deepEqual(await store.getRefreshToken(withCnf.id), withCnf)
        assert.deepEqual(await store.getRefreshToken(bearer.id), bearer)
        assert.equal(await store.getRefreshToken(rid()), undefined)
      })

      test('expired, rotated or revoked tokens are not live', async () => {
        const now = epochNow()
        const expired = sampleRefreshToken(now, { expires_at: now })
        const rotated = sampleRefreshToken(now, { rotated_at: now - 1 })
        const revoked = sampleRefreshToken(now, { revoked_at: now - 1 })
        for (const t of [expired, rotated, revoked]) {
          await store.insertRefreshToken(t)
          assert.equal(await store.getRefreshToken(t.id), undefined)
        }
      })

      test('rotated once: next is live, the old one is not', async () => {
        const now = epochNow()
        const old = sampleRefreshToken(now)
        const next = sampleRefreshToken(now, { grant_id: old.grant_id, expires_at: now + 7200 })
        await store.insertRefreshToken(old)
        const result = await store.rotateRefreshToken(old.id, next, now)
        assert.deepEqual(result, { status: 'rotated', previous: { ...old, rotated_at: now } })
        assert.equal(await store.getRefreshToken(old.id), undefined)
        assert.deepEqual(await store.getRefreshToken(next.id), next)
      })

      test('rotating the old token again is reuse: the whole family is revoked', async () => {
        const now = epochNow()
        const old = sampleRefreshToken(now)
        const next = sampleRefreshToken(now, { grant_id: old.grant_id })
        const sibling = sampleRefreshToken(now, { grant_id: old.grant_id })
        const access = sampleAccessToken(now, { grant_id: old.grant_id })
        const otherGrant = sampleRefreshToken(now)
        const otherAccess = sampleAccessToken(now)
        for (const t of [old, sibling, otherGrant]) await store.insertRefreshToken(t)
        await store.insertAccessToken(access)
        await store.insertAccessToken(otherAccess)

        assert.equal((await store.rotateRefreshToken(old.id, next, now)).status, 'rotated')
        const attempt = sampleRefreshToken(now, { grant_id: old.grant_id })
        const reuse = await store.rotateRefreshToken(old.id, attempt, now + 5)
        assert.deepEqual(reuse, { status: 'reused', previous: { ...old, rotated_at: now } })

        assert.equal(await store.getRefreshToken(next.id), undefined)
        assert.equal(await store.getRefreshToken(sibling.id), undefined)
        assert.equal(await store.getRefreshToken(attempt.id), undefined)
        assert.equal(await store.getAccessToken(access.id), undefined)
        // Other grants are untouched.
        assert.deepEqual(await store.getRefreshToken(otherGrant.id), otherGrant)
        assert.deepEqual(await store.getAccessToken(otherAccess.id), otherAccess)
        // The next token of the family is now itself a reuse.
        const again = await store.rotateRefreshToken(
          next.id,
          sampleRefreshToken(now, { grant_id: old.grant_id }),
          now + 6,
        )
        assert.deepEqual(again, { status: 'reused', previous: { ...next, revoked_at: now + 5 } })
      })

      test('rotating a revoked token is reuse and revokes the family', async () => {
        const now = epochNow()
        const token = sampleRefreshToken(now)
        const sibling = sampleRefreshToken(now, { grant_id: token.grant_id })
        await store.insertRefreshToken(token)
        await store.insertRefreshToken(sibling)
        await store.revokeRefreshToken(token.id, now)
        const next = sampleRefreshToken(now, { grant_id: token.grant_id })
        const result = await store.rotateRefreshToken(token.id, next, now + 1)
        assert.deepEqual(result, { status: 'reused', previous: { ...token, revoked_at: now } })
        assert.equal(await store.getRefreshToken(next.id), undefined)
        assert.equal(await store.getRefreshToken(sibling.id), undefined)
      })

      test('rotating an unknown or expired token is not_found, and inserts nothing', async () => {
        const now = epochNow()
        const expired = sampleRefreshToken(now, { expires_at: now })
        await store.insertRefreshToken(expired)
        const next1 = sampleRefreshToken(now, { grant_id: expired.grant_id })
        const next2 = sampleRefreshToken(now)
        assert.deepEqual(await store.rotateRefreshToken(expired.id, next1, now), {
          status: 'not_found',
        })
        assert.deepEqual(await store.rotateRefreshToken(rid(), next2, now), { status: 'not_found' })
        assert.equal(await store.getRefreshToken(next1.id), undefined)
        assert.equal(await store.getRefreshToken(next2.id), undefined)
      })

      test(`${CONCURRENCY} concurrent rotations: exactly one rotated`, async () => {
        const now = epochNow()
        const old = sampleRefreshToken(now)
        await store.insertRefreshToken(old)
        const nexts = Array.from({ length: CONCURRENCY }, () =>
          sampleRefreshToken(now, { grant_id: old.grant_id }),
        )
        const results = await Promise.all(
          nexts.map((next) => store.rotateRefreshToken(old.id, next, now)),
        )
        assert.equal(
          count(results, (r) => r.status === 'rotated'),
          1,
        )
        assert.equal(
          count(results, (r) => r.status === 'reused'),
          CONCURRENCY - 1,
        )
        // The losers' attempts are reuse: the family, including the winner's next, is revoked.
        for (const next of nexts) assert.equal(await store.getRefreshToken(next.id), undefined)
      })

      test('revokeRefreshToken revokes that token only', async () => {
        const now = epochNow()
        const token = sampleRefreshToken(now)
        const sibling = sampleRefreshToken(now, { grant_id: token.grant_id })
        await store.insertRefreshToken(token)
        await store.insertRefreshToken(sibling)
        await store.revokeRefreshToken(token.id, now)
        assert.equal(await store.getRefreshToken(token.id), undefined)
        assert.deepEqual(await store.getRefreshToken(sibling.id), sibling)
        await store.revokeRefreshToken(rid(), now) // unknown: no error
      })
    })

    describe('access tokens', () => {
      test('round trip of every field; unknown is undefined', async () => {
        const now = epochNow()
        const dpop = sampleAccessToken(now, { cnf: { jkt: rid() } })
        const bearer = sampleAccessToken(now, {
          grant_id: null,
          sub: null,
          cnf: null,
          aud: [],
          token_type: 'Bearer',
        })
        const pop = sampleAccessToken(now, {
          cnf: { jwk: { kty: 'EC', crv: 'P-256', x: 'a', y: 'b' } },
          token_type: 'pop',
        })
        for (const t of [dpop, bearer, pop]) {
          await store.insertAccessToken(t)
          assert.deepEqual(await store.getAccessToken(t.id), t)
        }
        assert.equal(await store.getAccessToken(rid()), undefined)
      })

      test('expired or revoked tokens are not live', async () => {
        const now = epochNow()
        const expired = sampleAccessToken(now, { expires_at: now })
        const revoked = sampleAccessToken(now, { revoked_at: now - 1 })
        for (const t of [expired, revoked]) {
          await store.insertAccessToken(t)
          assert.equal(await store.getAccessToken(t.id), undefined)
        }
      })

      test('revokeAccessToken revokes that token only', async () => {
        const now = epochNow()
        const token = sampleAccessToken(now)
        const sibling = sampleAccessToken(now, { grant_id: token.grant_id })
        await store.insertAccessToken(token)
        await store.insertAccessToken(sibling)
        await store.revokeAccessToken(token.id, now)
        assert.equal(await store.getAccessToken(token.id), undefined)
        assert.deepEqual(await store.getAccessToken(sibling.id), sibling)
        await store.revokeAccessToken(rid(), now) // unknown: no error
      })
    })

    describe('revokeGrant', () => {
      test('revokes every refresh and access token of the grant, and only those', async () => {
        const now = epochNow()
        const grant = rid('grant-')
        const refresh = [
          sampleRefreshToken(now, { grant_id: grant }),
          sampleRefreshToken(now, { grant_id: grant }),
        ]
        const access = [
          sampleAccessToken(now, { grant_id: grant }),
          sampleAccessToken(now, { grant_id: grant }),
        ]
        const otherRefresh = sampleRefreshToken(now)
        const otherAccess = sampleAccessToken(now)
        const noGrant = sampleAccessToken(now, { grant_id: null })
        for (const t of [...refresh, otherRefresh]) await store.insertRefreshToken(t)
        for (const t of [...access, otherAccess, noGrant]) await store.insertAccessToken(t)

        await store.revokeGrant(grant, now)
        for (const t of refresh) assert.equal(await store.getRefreshToken(t.id), undefined)
        for (const t of access) assert.equal(await store.getAccessToken(t.id), undefined)
        assert.deepEqual(await store.getRefreshToken(otherRefresh.id), otherRefresh)
        assert.deepEqual(await store.getAccessToken(otherAccess.id), otherAccess)
        assert.deepEqual(await store.getAccessToken(noGrant.id), noGrant)
        // A revoked token cannot be rotated: it is a reuse.
        const [first] = refresh
        assert.ok(first !== undefined)
        const result = await store.rotateRefreshToken(
          first.id,
          sampleRefreshToken(now, { grant_id: grant }),
          now,
        )
        assert.equal(result.status, 'reused')
        await store.revokeGrant(rid('grant-'), now) // unknown: no error
      })
    })

    describe('signing keys', () => {
      test('insertSigningKeyUnless: inserted unless a key of its alg retires later', async () => {
        const now = epochNow()
        // An alg of its own, so that the keys of other tests do not count.
        const alg = rid('alg-')
        const first = sampleSigningKey(now, { alg, retires_at: now + 100 })
        assert.equal(await store.insertSigningKeyUnless(first, now), true)
        const rival = sampleSigningKey(now, { alg, retires_at: now + 100 })
        assert.equal(await store.insertSigningKeyUnless(rival, now), false)
        const successor = sampleSigningKey(now, {
          alg,
          created_at: now + 100,
          retires_at: now + 200,
        })
        assert.equal(await store.insertSigningKeyUnless(successor, now + 100), true)
        const rivalSuccessor = sampleSigningKey(now, { alg, created_at: now + 100 })
        assert.equal(await store.insertSigningKeyUnless(rivalSuccessor, now + 100), false)
        const kids = (await store.listSigningKeys(now)).filter((k) => k.alg === alg)
        assert.deepEqual(kids, [successor, first])
      })

      test(`insertSigningKeyUnless: of ${CONCURRENCY} at once, exactly one is inserted`, async () => {
        const now = epochNow()
        const alg = rid('alg-')
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, () =>
            store.insertSigningKeyUnless(sampleSigningKey(now, { alg }), now),
          ),
        )
        assert.equal(
          count(results, (inserted) => inserted),
          1,
        )
        assert.equal((await store.listSigningKeys(now)).filter((k) => k.alg === alg).length, 1)
      })

      test('round trip, newest first, expired keys absent (expires_at at now is expired)', async () => {
        // Far in the future, so keys of other tests or runs sort after these ones.
        const base = epochNow() + 10 * 365 * 86_400
        const older = sampleSigningKey(base, { created_at: base - 100, alg: 'EdDSA' })
        const newer = sampleSigningKey(base, { created_at: base - 10, retires_at: base - 5 })
        const newest = sampleSigningKey(base, { created_at: base - 1, alg: 'RS256' })
        const expired = sampleSigningKey(base, { created_at: base, expires_at: base })
        for (const k of [newer, expired, older, newest]) await store.insertSigningKey(k)
        const listed = await store.listSigningKeys(base)
        assert.deepEqual(listed.slice(0, 3), [newest, newer, older])
        assert.equal(
          listed.find((k) => k.kid === expired.kid),
          undefined,
        )
        // Every listed key is live, and the list is newest first.
        for (const k of listed) assert.ok(k.expires_at > base)
        const created = listed.map((k) => k.created_at)
        assert.deepEqual(
          created,
          [...created].sort((a, b) => b - a),
        )
        // Earlier, the "expired" key is listed first.
        assert.deepEqual((await store.listSigningKeys(base - 1))[0], expired)
      })
    })

    describe('pushed requests', () => {
      test('consumed once with every field, then gone', async () => {
        const now = epochNow()
        const request = samplePushedRequest(now)
        const bearer = samplePushedRequest(now, { dpop_jkt: null, params: {} })
        await store.insertPushedRequest(request)
        await store.insertPushedRequest(bearer)
        assert.deepEqual(await store.consumePushedRequest(request.id, now), request)
        assert.equal(await store.consumePushedRequest(request.id, now), undefined)
        assert.deepEqual(await store.consumePushedRequest(bearer.id, now), bearer)
        assert.equal(await store.consumePushedRequest(rid(), now), undefined)
      })

      test('an expired request is absent (expires_at at now is expired)', async () => {
        const now = epochNow()
        const request = samplePushedRequest(now, { expires_at: now })
        await store.insertPushedRequest(request)
        assert.equal(await store.consumePushedRequest(request.id, now), undefined)
      })

      test(`${CONCURRENCY} concurrent consumptions: exactly one gets it`, async () => {
        const now = epochNow()
        const request = samplePushedRequest(now)
        await store.insertPushedRequest(request)
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, () => store.consumePushedRequest(request.id, now)),
        )
        assert.equal(
          count(results, (r) => r !== undefined),
          1,
        )
        assert.deepEqual(
          results.find((r) => r !== undefined),
          request,
        )
      })
    })

    describe('authorization transactions', () => {
      test('round trip; a login once with the current CSRF token; ended once, only after it', async () => {
        const now = epochNow()
        const tx = sampleTransaction(now)
        await store.insertTransaction(tx)
        assert.deepEqual(await store.getTransaction(tx.id, now), tx)
        assert.equal(await store.getTransaction(rid(), now), undefined)
        assert.equal(await store.endTransaction(tx.id, now), false, 'not logged in yet')

        const user = { sub: 'alice', auth_time: now, next_csrf: rid() }
        assert.equal(await store.setTransactionUser(tx.id, rid(), user, now), false, 'wrong csrf')
        assert.equal(await store.setTransactionUser(tx.id, tx.csrf, user, now), true)
        assert.equal(await store.setTransactionUser(tx.id, tx.csrf, user, now), false, 'spent')
        assert.deepEqual(await store.getTransaction(tx.id, now), {
          ...tx,
          sub: 'alice',
          auth_time: now,
          csrf: user.next_csrf,
        })

        assert.equal(await store.endTransaction(tx.id, now), true)
        assert.equal(await store.endTransaction(tx.id, now), false)
        assert.equal(await store.getTransaction(tx.id, now), undefined)
      })

      test('an expired transaction is absent and cannot be logged into or ended', async () => {
        const now = epochNow()
        const tx = sampleTransaction(now, { expires_at: now })
        const loggedIn = sampleTransaction(now, { expires_at: now, sub: 'bob', auth_time: now })
        await store.insertTransaction(tx)
        await store.insertTransaction(loggedIn)
        assert.equal(await store.getTransaction(tx.id, now), undefined)
        const user = { sub: 'alice', auth_time: now, next_csrf: rid() }
        assert.equal(await store.setTransactionUser(tx.id, tx.csrf, user, now), false)
        assert.equal(await store.endTransaction(loggedIn.id, now), false)
      })

      test(`${CONCURRENCY} concurrent logins and ends: exactly one of each`, async () => {
        const now = epochNow()
        const tx = sampleTransaction(now)
        await store.insertTransaction(tx)
        const logins = await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) =>
            store.setTransactionUser(
              tx.id,
              tx.csrf,
              { sub: `user-${i}`, auth_time: now, next_csrf: rid() },
              now,
            ),
          ),
        )
        assert.equal(
          count(logins, (ok) => ok),
          1,
        )
        const ends = await Promise.all(
          Array.from({ length: CONCURRENCY }, () => store.endTransaction(tx.id, now)),
        )
        assert.equal(
          count(ends, (ok) => ok),
          1,
        )
      })
    })

    describe('login attempts', () => {
      test('counted in a fixed window, started again after it; forgiven, cleared', async () => {
        const now = epochNow()
        const key = rid('user:')
        assert.deepEqual(await store.countLoginAttempt(key, 900, now), {
          count: 1,
          expires_at: now + 900,
        })
        assert.deepEqual(await store.countLoginAttempt(key, 900, now + 10), {
          count: 2,
          expires_at: now + 900,
        })
        await store.forgiveLoginAttempt(key, now + 20)
        assert.deepEqual(await store.countLoginAttempt(key, 900, now + 899), {
          count: 2,
          expires_at: now + 900,
        })
        // The window is over at its end: the next attempt starts a new one.
        assert.deepEqual(await store.countLoginAttempt(key, 900, now + 900), {
          count: 1,
          expires_at: now + 1800,
        })
        await store.clearLoginAttempts(key)
        assert.equal((await store.countLoginAttempt(key, 900, now + 901)).count, 1)
      })

      test('forgiving never goes below zero, nor touches an ended window', async () => {
        const now = epochNow()
        const key = rid('address:')
        await store.countLoginAttempt(key, 900, now)
        await store.forgiveLoginAttempt(key, now)
        await store.forgiveLoginAttempt(key, now)
        assert.equal((await store.countLoginAttempt(key, 900, now)).count, 1)
        await store.forgiveLoginAttempt(key, now + 900)
        assert.equal((await store.countLoginAttempt(key, 900, now + 899)).count, 2)
        await store.forgiveLoginAttempt(rid('unknown:'), now)
      })

      test(`${CONCURRENCY} concurrent attempts: each one counted`, async () => {
        const now = epochNow()
        const key = rid('address:')
        const counts = await Promise.all(
          Array.from({ length: CONCURRENCY }, () => store.countLoginAttempt(key, 900, now)),
        )
        assert.deepEqual(
          counts.map((c) => c.count).sort((x, y) => x - y),
          Array.from({ length: CONCURRENCY }, (_, i) => i + 1),
        )
      })
    })

    describe('deleteExpired', () => {
      test('removes every record expired at `now`, keeps the others', async () => {
        const now = epochNow()
        // Records live by the wall clock, all expiring at `cutoff`; survivors expire one second later.
        const cutoff = now + 1000
        const code = sampleCode(now, { expires_at: cutoff })
        const consumedCode = sampleCode(now, { expires_at: cutoff })
        const keptCode = sampleCode(now, { expires_at: cutoff + 1 })
        const refresh = sampleRefreshToken(now, { expires_at: cutoff })
        const rotated = sampleRefreshToken(now, { expires_at: cutoff, rotated_at: now })
        const keptRefresh = sampleRefreshToken(now, { expires_at: cutoff + 1 })
        const access = sampleAccessToken(now, { expires_at: cutoff })
        const keptAccess = sampleAccessToken(now, { expires_at: cutoff + 1 })
        const key = sampleSigningKey(now, { expires_at: cutoff })
        const keptKey = sampleSigningKey(now, { expires_at: cutoff + 1 })
        const request = samplePushedRequest(now, { expires_at: cutoff })
        const keptRequest = samplePushedRequest(now, { expires_at: cutoff + 1 })
        const transaction = sampleTransaction(now, { expires_at: cutoff })
        const keptTransaction = sampleTransaction(now, { expires_at: cutoff + 1 })
        const client = sampleClient()
        const user: UserRecord = { username: rid('user-'), password_hash: 'scrypt$x', claims: {} }

        for (const c of [code, consumedCode, keptCode]) await store.insertCode(c)
        assert.equal((await store.consumeCode(consumedCode.id, now)).status, 'consumed')
        for (const t of [refresh, rotated, keptRefresh]) await store.insertRefreshToken(t)
        for (const t of [access, keptAccess]) await store.insertAccessToken(t)
        for (const k of [key, keptKey]) await store.insertSigningKey(k)
        for (const r of [request, keptRequest]) await store.insertPushedRequest(r)
        for (const t of [transaction, keptTransaction]) await store.insertTransaction(t)
        const failures = rid('user:')
        const keptFailures = rid('user:')
        await store.countLoginAttempt(failures, cutoff - now, now)
        await store.countLoginAttempt(keptFailures, cutoff + 1 - now, now)
        await store.upsertClient(client)
        await store.upsertUser(user)

        await store.deleteExpired(cutoff)

        // Gone, although still live by the wall clock: they were deleted, not merely filtered.
        assert.equal(await store.getRefreshToken(refresh.id), undefined)
        assert.equal(await store.getAccessToken(access.id), undefined)
        assert.equal(
          (await store.listSigningKeys(now)).find((k) => k.kid === key.kid),
          undefined,
        )
        assert.equal(await store.consumePushedRequest(request.id, now), undefined)
        assert.equal(await store.getTransaction(transaction.id, now), undefined)
        // A purged window starts again at one; a kept one counts on.
        assert.equal((await store.countLoginAttempt(failures, cutoff - now, now)).count, 1)
        assert.deepEqual(await store.consumeCode(code.id, now), { status: 'not_found' })
        // A purged consumed code, or rotated token, no longer answers `reused`.
        assert.deepEqual(await store.consumeCode(consumedCode.id, now), { status: 'not_found' })
        assert.deepEqual(await store.rotateRefreshToken(rotated.id, sampleRefreshToken(now), now), {
          status: 'not_found',
        })

        // Kept.
        assert.deepEqual(await store.getRefreshToken(keptRefresh.id), keptRefresh)
        assert.deepEqual(await store.getAccessToken(keptAccess.id), keptAccess)
        assert.deepEqual(
          (await store.listSigningKeys(now)).find((k) => k.kid === keptKey.kid),
          keptKey,
        )
        assert.deepEqual(await store.consumePushedRequest(keptRequest.id, now), keptRequest)
        assert.deepEqual(await store.getTransaction(keptTransaction.id, now), keptTransaction)
        assert.equal((await store.countLoginAttempt(keptFailures, 900, now)).count, 2)
        assert.equal((await store.consumeCode(keptCode.id, now)).status, 'consumed')
        assert.deepEqual(await store.getClient(client.client_id), client)
        assert.deepEqual(await store.getUser(user.username), user)
      })
    })
  })
}
