import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import * as oauth from 'oauth4webapi'
import { generateKeyPair } from '../../src/jose/generate.js'
import { signCompact } from '../../src/jose/sign.js'
import { epoch } from '../../src/server/context.js'
import { referenceId } from '../../src/server/tokens/access-token.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const insecure = { [oauth.allowInsecureRequests]: true } as const

let t: TestServer
let as: oauth.AuthorizationServer

const service = { client_id: 'service', client_secret: SECRET, grant_types: ['client_credentials'] }
const clients = [
  { ...service, scope: 'read write' },
  { ...service, client_id: 'reference', access_token_format: 'reference' },
  { ...service, client_id: 'other' },
  // A resource server: may introspect every client's access tokens.
  { ...service, client_id: 'rs', introspection: true },
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

/** A token for `clientId` by client_credentials, with DPoP when `dpop`. */
async function tokenFor(clientId: string, dpop = true) {
  const client: oauth.Client = { client_id: clientId }
  const DPoP = dpop
    ? oauth.DPoP(client, (await generateKeyPair('ES256')) as oauth.CryptoKeyPair)
    : undefined
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    oauth.ClientSecretBasic(SECRET),
    new URLSearchParams(),
    { ...insecure, ...(DPoP ? { DPoP } : {}) },
  )
  const { access_token } = await oauth.processClientCredentialsResponse(as, client, response)
  return { access_token, jkt: await DPoP?.calculateThumbprint() }
}

async function introspect(token: string, clientId = 'service') {
  const client = { client_id: clientId }
  const response = await oauth.introspectionRequest(
    as,
    client,
    oauth.ClientSecretBasic(SECRET),
    token,
    insecure,
  )
  assert.equal(response.headers.get('cache-control'), 'no-store')
  return oauth.processIntrospectionResponse(as, client, response)
}

/** A raw request, to see the exact body. */
async function post(body: string, clientId: string | null = 'service') {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (clientId) {
    headers.authorization = `Basic ${Buffer.from(`${clientId}:${SECRET}`).toString('base64')}`
  }
  const res = await fetch(`${t.issuer}/introspect`, { method: 'POST', headers, body })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

async function assertInactive(token: string, clientId = 'service') {
  const r = await post(`token=${encodeURIComponent(token)}`, clientId)
  assert.equal(r.status, 200)
  assert.equal(r.text, '{"active":false}')
  assert.equal(r.headers.get('cache-control'), 'no-store')
}

describe('introspection of active tokens (RFC 7662 §2.2)', () => {
  test('a DPoP-bound JWT: active, token_type DPoP, cnf.jkt (RFC 9449 §6.2)', async () => {
    const { access_token, jkt } = await tokenFor('service')
    const r = await introspect(access_token)
    assert.equal(r.active, true)
    assert.equal(r.token_type, 'DPoP')
    assert.deepEqual(r.cnf, { jkt })
    assert.equal(r.client_id, 'service')
    assert.equal(r.sub, 'service')
    assert.equal(r.iss, t.issuer)
    assert.equal(r.aud, t.issuer)
    assert.equal(r.scope, 'read write')
    assert.equal((r.exp as number) - (r.iat as number), 600)
    assert.equal(typeof r.jti, 'string')
  })

  test('a DPoP-bound reference token: active, token_type DPoP, cnf.jkt', async () => {
    const { access_token, jkt } = await tokenFor('reference')
    assert.equal(access_token.includes('.'), false)
    const r = await introspect(access_token, 'reference')
    assert.equal(r.active, true)
    assert.equal(r.token_type, 'DPoP')
    assert.deepEqual(r.cnf, { jkt })
    assert.equal(r.client_id, 'reference')
    assert.equal(r.aud, t.issuer)
    assert.equal(r.scope, 'read write')
  })

  test('a Bearer token: token_type Bearer and no cnf', async () => {
    for (const clientId of ['service', 'reference']) {
      const { access_token } = await tokenFor(clientId, false)
      const r = await introspect(access_token, clientId)
      assert.equal(r.active, true)
      assert.equal(r.token_type, 'Bearer')
      assert.equal(r.cnf, undefined)
    }
  })

  test('a refresh token, for its own client: active, with cnf and no token_type', async () => {
    const token = randomBytes(32).toString('base64url')
    const now = epoch()
    await t.server.context.store.insertRefreshToken({
      id: referenceId(token),
      grant_id: randomUUID(),
      client_id: 'service',
      sub: 'alice',
      scope: 'read',
      cnf: { jkt: 'x'.repeat(43) },
      created_at: now,
      expires_at: now + 3600,
      rotated_at: null,
      revoked_at: null,
    })
    const r = await introspect(token)
    assert.equal(r.active, true)
    assert.equal(r.sub, 'alice')
    assert.equal(r.scope, 'read')
    assert.equal(r.exp, now + 3600)
    assert.equal(r.token_type, undefined)
    assert.deepEqual(r.cnf, { jkt: 'x'.repeat(43) })
    // A resource server never sees a refresh token: it could pass for an access token.
    await assertInactive(token, 'rs')
  })

  test('a JWT signed by a key another instance just created (the keys are re-read)', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const privateJwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>
    const { d: _, ...publicJwk } = privateJwk
    const now = epoch()
    await t.server.context.store.insertSigningKey({
      kid: 'other-instance',
      alg: 'ES256',
      private_jwk: privateJwk,
      public_jwk: { ...publicJwk, kid: 'other-instance', alg: 'ES256', use: 'sig' },
      created_at: now,
      retires_at: now + 3600,
      expires_at: now + 7200,
    })
    const claims = { iss: t.issuer, sub: 'service', aud: t.issuer, client_id: 'service' }
    const jwt = signCompact(
      'ES256',
      privateKey,
      { typ: 'at+jwt', kid: 'other-instance' },
      { ...claims, iat: now, exp: now + 600, jti: randomUUID() },
    )
    assert.equal((await introspect(jwt)).active, true)
  })

  test('token_type_hint only orders the search; an unknown hint is ignored (§2.1)', async () => {
    const { access_token } = await tokenFor('reference')
    for (const hint of ['refresh_token', 'access_token', 'id_token']) {
      const r = await post(`token=${access_token}&token_type_hint=${hint}`, 'reference')
      assert.equal(JSON.parse(r.text).active, true, hint)
    }
  })
})

describe('inactive tokens: exactly {"active":false}', () => {
  test('garbage, an unknown reference, a forged JWT', async () => {
    await assertInactive('garbage')
    await assertInactive(randomBytes(32).toString('base64url'))
    const { access_token } = await tokenFor('service')
    const [header, payload] = access_token.split('.')
    await assertInactive(`${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`)
  })

  test('an expired JWT signed by the server’s own key', async () => {
    const key = t.server.context.keys.current()
    const iat = epoch() - 1000
    const jwt = signCompact(
      key.alg,
      key.key,
      { typ: 'at+jwt', kid: key.kid },
      {
        iss: t.issuer,
        sub: 'service',
        aud: t.issuer,
        client_id: 'service',
        iat,
        exp: iat + 600,
        jti: randomUUID(),
      },
    )
    await assertInactive(jwt)
  })

  test('a JWT without typ at+jwt, or from another issuer', async () => {
    const key = t.server.context.keys.current()
    const claims = {
      iss: t.issuer,
      sub: 'service',
      aud: t.issuer,
      client_id: 'service',
      iat: epoch(),
      exp: epoch() + 600,
    }
    await assertInactive(signCompact(key.alg, key.key, { typ: 'JWT', kid: key.kid }, claims))
    await assertInactive(
      signCompact(
        key.alg,
        key.key,
        { typ: 'at+jwt', kid: key.kid },
        { ...claims, iss: 'https://other.example' },
      ),
    )
  })

  test('expired and revoked reference tokens', async () => {
    const { access_token } = await tokenFor('reference')
    await t.server.context.store.revokeAccessToken(referenceId(access_token), epoch())
    await assertInactive(access_token, 'reference')
    const expired = randomBytes(32).toString('base64url')
    await t.server.context.store.insertAccessToken({
      id: referenceId(expired),
      grant_id: null,
      client_id: 'reference',
      sub: 'reference',
      scope: '',
      aud: [t.issuer],
      cnf: null,
      token_type: 'Bearer',
      iat: epoch() - 1000,
      expires_at: epoch() - 400,
      revoked_at: null,
    })
    await assertInactive(expired, 'reference')
  })
})

describe('who may introspect', () => {
  test('another client’s tokens are inactive, unless the caller has introspection rights', async () => {
    const jwt = await tokenFor('service')
    const reference = await tokenFor('reference')
    await assertInactive(jwt.access_token, 'other')
    await assertInactive(reference.access_token, 'other')
    const r = await introspect(jwt.access_token, 'rs')
    assert.equal(r.active, true)
    assert.equal(r.client_id, 'service')
    assert.deepEqual(r.cnf, { jkt: jwt.jkt })
    assert.equal((await introspect(reference.access_token, 'rs')).client_id, 'reference')
  })

  test('no client authentication: 401 invalid_client', async () => {
    const { access_token } = await tokenFor('service')
    const r = await post(`token=${access_token}`, null)
    assert.equal(r.status, 401)
    assert.equal(JSON.parse(r.text).error, 'invalid_client')
    const wrong = await fetch(`${t.issuer}/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('service:wrong-secret-0123456789').toString('base64')}`,
      },
      body: `token=${access_token}`,
    })
    assert.equal(wrong.status, 401)
  })

  test('a public client (none) is refused: 401 invalid_client', async () => {
    const { access_token } = await tokenFor('service')
    const r = await fetch(`${t.issuer}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${access_token}&client_id=public`,
    })
    assert.equal(r.status, 401)
    assert.equal(((await r.json()) as { error: string }).error, 'invalid_client')
  })

  test('a missing token: 400 invalid_request', async () => {
    const r = await post('token_type_hint=access_token')
    assert.equal(r.status, 400)
    assert.equal(JSON.parse(r.text).error, 'invalid_request')
  })

  test('metadata lists the endpoint and its methods (RFC 8414 §2)', () => {
    assert.equal(as.introspection_endpoint, `${t.issuer}/introspect`)
    assert.ok(as.introspection_endpoint_auth_methods_supported?.includes('client_secret_basic'))
    assert.equal(as.introspection_endpoint_auth_methods_supported?.includes('none'), false)
    assert.equal(as.registration_endpoint, undefined)
  })
})
