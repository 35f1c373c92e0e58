import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import * as oauth from 'oauth4webapi'
import { epoch } from '../../src/server/context.js'
import { referenceId } from '../../src/server/tokens/access-token.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const insecure = { [oauth.allowInsecureRequests]: true } as const

let t: TestServer
let as: oauth.AuthorizationServer

const service = { client_secret: SECRET, grant_types: ['client_credentials'] }
const clients = [
  { ...service, client_id: 'service' },
  { ...service, client_id: 'reference', access_token_format: 'reference' },
  { ...service, client_id: 'other', access_token_format: 'reference' },
  {
    client_id: 'public',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['https://app.example/cb'],
  },
]

before(async () => {
  t = await startServer({ clients })
  as = await oauth.processDiscoveryResponse(
    new URL(t.issuer),
    await oauth.discoveryRequest(new URL(t.issuer), { algorithm: 'oauth2', ...insecure }),
  )
})
after(() => t.close())

const store = () => t.server.context.store

async function tokenFor(clientId: string) {
  const client = { client_id: clientId }
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    oauth.ClientSecretBasic(SECRET),
    new URLSearchParams(),
    insecure,
  )
  return (await oauth.processClientCredentialsResponse(as, client, response)).access_token
}

/** Revokes with oauth4webapi: resolves when the server answered 200. */
async function revoke(token: string, clientId = 'reference', hint?: string) {
  const response = await oauth.revocationRequest(
    as,
    { client_id: clientId },
    oauth.ClientSecretBasic(SECRET),
    token,
    { ...insecure, ...(hint ? { additionalParameters: { token_type_hint: hint } } : {}) },
  )
  assert.equal(response.status, 200)
  assert.equal(await response.clone().text(), '')
  await oauth.processRevocationResponse(response)
}

async function post(body: string, authorization?: string) {
  const res = await fetch(`${t.issuer}/revoke`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(authorization ? { authorization } : {}),
    },
    body,
  })
  const text = await res.text()
  const json = (text ? JSON.parse(text) : {}) as { error?: string }
  return { status: res.status, text, body: json }
}

const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`

/** A grant with a refresh token and a reference access token, inserted directly. */
async function insertGrant(clientId = 'reference') {
  const now = epoch()
  const grant_id = randomUUID()
  const refresh = randomBytes(32).toString('base64url')
  const access = randomBytes(32).toString('base64url')
  await store().insertRefreshToken({
    id: referenceId(refresh),
    grant_id,
    client_id: clientId,
    sub: 'alice',
    scope: 'read',
    cnf: null,
    created_at: now,
    expires_at: now + 3600,
    rotated_at: null,
    revoked_at: null,
  })
  await store().insertAccessToken({
    id: referenceId(access),
    grant_id,
    client_id: clientId,
    sub: 'alice',
    scope: 'read',
    aud: [t.issuer],
    cnf: null,
    token_type: 'Bearer',
    iat: now,
    expires_at: now + 600,
    revoked_at: null,
  })
  return { refresh, access }
}

describe('revocation (RFC 7009)', () => {
  test('a reference access token: then introspection says inactive', async () => {
    const token = await tokenFor('reference')
    assert.ok(await store().getAccessToken(referenceId(token)))
    await revoke(token)
    assert.equal(await store().getAccessToken(referenceId(token)), undefined)
    const introspected = await fetch(`${t.issuer}/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic('reference'),
      },
      body: `token=${token}`,
    })
    assert.deepEqual(await introspected.json(), { active: false })
  })

  test('a refresh token revokes its whole grant (§2.1)', async () => {
    const { refresh, access } = await insertGrant()
    const unrelated = await insertGrant()
    await revoke(refresh, 'reference', 'refresh_token')
    assert.equal(await store().getRefreshToken(referenceId(refresh)), undefined)
    assert.equal(await store().getAccessToken(referenceId(access)), undefined)
    assert.ok(await store().getRefreshToken(referenceId(unrelated.refresh)))
    assert.ok(await store().getAccessToken(referenceId(unrelated.access)))
  })

  test('a wrong hint does not prevent revocation (§2.1: the search extends)', async () => {
    const { refresh, access } = await insertGrant()
    await revoke(access, 'reference', 'refresh_token')
    assert.equal(await store().getAccessToken(referenceId(access)), undefined)
    // Revoking an access token leaves its refresh token alone.
    assert.ok(await store().getRefreshToken(referenceId(refresh)))
    await revoke(refresh, 'reference', 'unknown_hint')
    assert.equal(await store().getRefreshToken(referenceId(refresh)), undefined)
  })

  test('a public client revokes its own tokens with client_id alone', async () => {
    const { refresh, access } = await insertGrant('public')
    const r = await post(`token=${refresh}&client_id=public`)
    assert.equal(r.status, 200)
    assert.equal(await store().getAccessToken(referenceId(access)), undefined)
  })

  test('another client’s token: 200, and nothing is revoked (§2.2)', async () => {
    const token = await tokenFor('other')
    const { refresh } = await insertGrant('other')
    await revoke(token, 'reference')
    await revoke(refresh, 'reference')
    assert.ok(await store().getAccessToken(referenceId(token)))
    assert.ok(await store().getRefreshToken(referenceId(refresh)))
  })

  test('unknown, garbage and already revoked tokens: 200 (§2.2)', async () => {
    await revoke(randomBytes(32).toString('base64url'))
    await revoke('not.a.jwt')
    const token = await tokenFor('reference')
    await revoke(token)
    await revoke(token)
  })

  test('the caller’s own JWT access token: 400 unsupported_token_type (§2.2.1)', async () => {
    const jwt = await tokenFor('service')
    for (const hint of ['', '&token_type_hint=access_token']) {
      const r = await post(`token=${jwt}${hint}`, basic('service'))
      assert.equal(r.status, 400)
      assert.equal(r.body.error, 'unsupported_token_type')
    }
    // Someone else's JWT tells nothing: 200.
    assert.equal((await post(`token=${jwt}`, basic('other'))).status, 200)
  })

  test('no client authentication: 401; no token: 400 invalid_request', async () => {
    const token = await tokenFor('reference')
    const r = await post(`token=${token}`)
    assert.equal(r.status, 401)
    assert.equal(r.body.error, 'invalid_client')
    assert.ok(await store().getAccessToken(referenceId(token)))
    const missing = await post('token_type_hint=access_token', basic('reference'))
    assert.equal(missing.status, 400)
    assert.equal(missing.body.error, 'invalid_request')
  })

  test('metadata lists the revocation endpoint', () => {
    assert.equal(as.revocation_endpoint, `${t.issuer}/revoke`)
    assert.ok(as.revocation_endpoint_auth_methods_supported?.includes('none'))
  })
})
