import assert from 'node:assert/strict'
import { hash } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { authorizeInBrowser } from '../helpers/browser.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CALLBACK = 'https://app.example/callback'
const ALICE = { username: 'alice', password: 'alice-password-1' }
const GRANTS = ['authorization_code', 'refresh_token']

const clients = [
  {
    client_id: 'spa',
    token_endpoint_auth_method: 'none',
    grant_types: GRANTS,
    redirect_uris: [CALLBACK],
    first_party: true,
  },
  {
    client_id: 'web',
    client_secret: SECRET,
    grant_types: GRANTS,
    redirect_uris: [CALLBACK],
    first_party: true,
  },
  {
    client_id: 'other',
    client_secret: SECRET,
    grant_types: GRANTS,
    redirect_uris: [CALLBACK],
    first_party: true,
  },
]

type KeyPair = oauth.CryptoKeyPair
const newKey = async () => (await generateKeyPair('ES256')) as KeyPair
const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`
const sha256 = (value: string) => hash('sha256', value, 'base64url')
const opts = { [oauth.allowInsecureRequests]: true } as const

interface Tokens {
  access_token: string
  refresh_token: string
  token_type: string
  scope?: string
}

/** A test server and what its tests do with it. */
function harness(config: Record<string, unknown> = {}) {
  const h = {
    t: undefined as unknown as TestServer,
    async token(fields: Record<string, string>, client: string, key?: KeyPair) {
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
      }
      if (client === 'spa') fields = { ...fields, client_id: 'spa' }
      else headers.authorization = basic(client)
      if (key) headers.dpop = await createProof({ key, htm: 'POST', htu: `${h.t.issuer}/token` })
      const res = await fetch(`${h.t.issuer}/token`, {
        method: 'POST',
        headers,
        body: new URLSearchParams(fields).toString(),
      })
      return { status: res.status, body: (await res.json()) as Tokens & { error?: string } }
    },
    /** The code flow for `client`, redeemed with `key` (when given). */
    async login(client: string, key?: KeyPair, scope = 'read write'): Promise<Tokens> {
      const verifier = oauth.generateRandomCodeVerifier()
      const query = {
        response_type: 'code',
        client_id: client,
        redirect_uri: CALLBACK,
        scope,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }
      const callback = await authorizeInBrowser(h.t.issuer, query, ALICE)
      const fields = {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') as string,
        redirect_uri: CALLBACK,
        code_verifier: verifier,
      }
      const r = await h.token(fields, client, key)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body
    },
    refresh(refreshToken: string, client: string, key?: KeyPair, scope?: string) {
      const fields: Record<string, string> = {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
      }
      if (scope !== undefined) fields.scope = scope
      return h.token(fields, client, key)
    },
  }
  before(async () => {
    h.t = await startServer({ clients, users: [ALICE], ...config })
  })
  after(() => h.t.close())
  return h
}

describe('refresh with rotation (the default)', () => {
  const h = harness()

  test('oauth4webapi: a public client refreshes with its DPoP key; the token rotates', async () => {
    const key = await newKey()
    const tokens = await h.login('spa', key)
    const as = await oauth.processDiscoveryResponse(
      new URL(h.t.issuer),
      await oauth.discoveryRequest(new URL(h.t.issuer), { algorithm: 'oauth2', ...opts }),
    )
    const client: oauth.Client = { client_id: 'spa' }
    const DPoP = oauth.DPoP(client, key)
    const jkt = await DPoP.calculateThumbprint()
    // RFC 9449 §5: the public client's refresh token is bound to its key.
    const stored = await h.t.server.context.store.getRefreshToken(sha256(tokens.refresh_token))
    assert.deepEqual(stored?.cnf, { jkt })
    const response = await oauth.refreshTokenGrantRequest(
      as,
      client,
      oauth.None(),
      tokens.refresh_token,
      { DPoP, ...opts },
    )
    const result = await oauth.processRefreshTokenResponse(as, client, response)
    assert.equal(result.token_type, 'dpop')
    assert.equal(result.scope, 'read write')
    assert.deepEqual(decodeJwt(result.access_token).cnf, { jkt })
    assert.equal(decodeJwt(result.access_token).sub, 'alice')
    assert.ok(result.refresh_token)
    assert.notEqual(result.refresh_token, tokens.refresh_token)
    // The binding survives the rotation.
    const next = await h.t.server.context.store.getRefreshToken(
      sha256(result.refresh_token as string),
    )
    assert.deepEqual(next?.cnf, { jkt })
    assert.equal(next?.grant_id, stored?.grant_id)
  })

  test('reusing a rotated refresh token: invalid_grant, and the whole family is revoked', async () => {
    const key = await newKey()
    const first = await h.login('spa', key)
    const second = await h.refresh(first.refresh_token, 'spa', key)
    assert.equal(second.status, 200)
    const reuse = await h.refresh(first.refresh_token, 'spa', key)
    assert.equal(reuse.status, 400)
    assert.equal(reuse.body.error, 'invalid_grant')
    // RFC 9700 §4.14.2: the current token of the family is revoked too.
    const current = await h.refresh(second.body.refresh_token, 'spa', key)
    assert.equal(current.status, 400)
    assert.equal(current.body.error, 'invalid_grant')
  })

  test('a public client’s bound refresh token with another key, or no proof: invalid_dpop_proof', async () => {
    const key = await newKey()
    const tokens = await h.login('spa', key)
    const other = await h.refresh(tokens.refresh_token, 'spa', await newKey())
    assert.equal(other.status, 400)
    assert.equal(other.body.error, 'invalid_dpop_proof')
    const none = await h.refresh(tokens.refresh_token, 'spa')
    assert.equal(none.body.error, 'invalid_dpop_proof')
    // The refused attempts did not spend it; after rotation, the new token is still bound.
    const ok = await h.refresh(tokens.refresh_token, 'spa', key)
    assert.equal(ok.status, 200)
    const rotated = await h.refresh(ok.body.refresh_token, 'spa', await newKey())
    assert.equal(rotated.body.error, 'invalid_dpop_proof')
  })

  test('a confidential client’s refresh token is unbound: a new key binds the new access token', async () => {
    const tokens = await h.login('web', await newKey())
    assert.equal(tokens.token_type, 'DPoP')
    const stored = await h.t.server.context.store.getRefreshToken(sha256(tokens.refresh_token))
    assert.equal(stored?.cnf, null)
    const fresh = await newKey()
    const r = await h.refresh(tokens.refresh_token, 'web', fresh)
    assert.equal(r.status, 200)
    assert.equal(r.body.token_type, 'DPoP')
    const jkt = await oauth.DPoP({ client_id: 'web' } as oauth.Client, fresh).calculateThumbprint()
    assert.deepEqual(decodeJwt(r.body.access_token).cnf, { jkt })
    // Without a proof: a bearer token.
    const bearer = await h.refresh(r.body.refresh_token, 'web')
    assert.equal(bearer.status, 200)
    assert.equal(bearer.body.token_type, 'Bearer')
  })

  test('the scope may narrow, never widen; the refresh token keeps the granted scope', async () => {
    const tokens = await h.login('web', undefined, 'read')
    const wider = await h.refresh(tokens.refresh_token, 'web', undefined, 'read write')
    assert.equal(wider.status, 400)
    assert.equal(wider.body.error, 'invalid_scope')

    const all = await h.login('web')
    const narrow = await h.refresh(all.refresh_token, 'web', undefined, 'write')
    assert.equal(narrow.status, 200)
    assert.equal(narrow.body.scope, 'write')
    assert.equal(decodeJwt(narrow.body.access_token).scope, 'write')
    const again = await h.refresh(narrow.body.refresh_token, 'web')
    assert.equal(again.body.scope, 'read write')
  })

  test('another client’s refresh token, or an unknown one: invalid_grant', async () => {
    const tokens = await h.login('web')
    const stolen = await h.refresh(tokens.refresh_token, 'other')
    assert.equal(stolen.status, 400)
    assert.equal(stolen.body.error, 'invalid_grant')
    assert.equal((await h.refresh('not-a-token', 'web')).body.error, 'invalid_grant')
    assert.equal((await h.refresh(tokens.refresh_token, 'web')).status, 200)
  })

  test('two concurrent refreshes with one token: exactly one 200', async () => {
    const tokens = await h.login('web')
    const results = await Promise.all([
      h.refresh(tokens.refresh_token, 'web'),
      h.refresh(tokens.refresh_token, 'web'),
    ])
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 400])
  })
})

describe('refresh without rotation', () => {
  const h = harness({ refreshToken: { rotation: false } })

  test('the same refresh token is returned, and stays usable', async () => {
    const key = await newKey()
    const tokens = await h.login('spa', key)
    const first = await h.refresh(tokens.refresh_token, 'spa', key)
    assert.equal(first.status, 200)
    assert.equal(first.body.refresh_token, tokens.refresh_token)
    const second = await h.refresh(tokens.refresh_token, 'spa', key)
    assert.equal(second.status, 200)
    // Still bound to the key.
    assert.equal((await h.refresh(tokens.refresh_token, 'spa', await newKey())).status, 400)
  })
})
