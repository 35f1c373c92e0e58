import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import * as oauth from 'oauth4webapi'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { jwkThumbprint, type PublicJwk } from '../../src/jose/jwk.js'
import { publicJwkOf } from '../../src/jose/keys.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'

let t: TestServer
let as: oauth.AuthorizationServer

const clients = [
  {
    client_id: 'service',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    scope: 'read write',
  },
  {
    client_id: 'dpop-only',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    token_binding: 'dpop',
  },
  {
    client_id: 'post',
    client_secret: SECRET,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
  },
  {
    client_id: 'reference',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    access_token_format: 'reference',
  },
]

before(async () => {
  t = await startServer({ clients })
  as = await oauth.processDiscoveryResponse(
    new URL(t.issuer),
    await oauth.discoveryRequest(new URL(t.issuer), {
      algorithm: 'oauth2',
      [oauth.allowInsecureRequests]: true,
    }),
  )
})
after(() => t.close())

const basic = (id: string, secret = SECRET) =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

async function post(body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  })
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  }
}

describe('client_credentials, driven by oauth4webapi', () => {
  test('with DPoP: a DPoP token whose cnf.jkt is the key thumbprint (RFC 9449 §5, §6.1)', async () => {
    const keyPair = (await generateKeyPair('ES256')) as Parameters<typeof oauth.DPoP>[1]
    const client: oauth.Client = { client_id: 'service' }
    const DPoP = oauth.DPoP(client, keyPair)
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(SECRET),
      new URLSearchParams({ scope: 'read' }),
      { DPoP, [oauth.allowInsecureRequests]: true },
    )
    assert.equal(response.headers.get('cache-control'), 'no-store')
    const result = await oauth.processClientCredentialsResponse(as, client, response)
    assert.equal(result.token_type, 'dpop')
    assert.equal(result.scope, 'read')
    const claims = decodeJwt(result.access_token)
    assert.equal(decodeProtectedHeader(result.access_token).typ, 'at+jwt')
    assert.deepEqual(claims.cnf, { jkt: await DPoP.calculateThumbprint() })
    assert.equal(claims.iss, t.issuer)
    assert.equal(claims.sub, 'service')
    assert.equal(claims.client_id, 'service')
    assert.equal(claims.aud, t.issuer)
    assert.equal(claims.scope, 'read')
    assert.equal(typeof claims.jti, 'string')
    assert.equal((claims.exp as number) - (claims.iat as number), 600)
    assert.equal(result.expires_in, 600)
  })

  test('without DPoP: a Bearer token without cnf', async () => {
    const client = { client_id: 'service' }
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(SECRET),
      new URLSearchParams(),
      { [oauth.allowInsecureRequests]: true },
    )
    const result = await oauth.processClientCredentialsResponse(as, client, response)
    assert.equal(result.token_type, 'bearer')
    assert.equal(decodeJwt(result.access_token).cnf, undefined)
    assert.equal(result.scope, 'read write')
  })

  test('the token verifies with the server’s published keys', async () => {
    const { jwtVerify, createRemoteJWKSet } = await import('jose')
    const client = { client_id: 'service' }
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(SECRET),
      new URLSearchParams(),
      {
        [oauth.allowInsecureRequests]: true,
      },
    )
    const { access_token } = await oauth.processClientCredentialsResponse(as, client, response)
    const { payload } = await jwtVerify(
      access_token,
      createRemoteJWKSet(new URL(`${t.issuer}/jwks`)),
      {
        issuer: t.issuer,
        typ: 'at+jwt',
      },
    )
    assert.equal(payload.client_id, 'service')
  })
})

describe('client_credentials refusals', () => {
  test('a client with token_binding dpop is refused a token without a proof', async () => {
    const r = await post('grant_type=client_credentials', { authorization: basic('dpop-only') })
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'invalid_dpop_proof')
  })

  test('a proof for another URL is refused', async () => {
    const key = await generateKeyPair('ES256')
    const dpop = await createProof({ key, htm: 'POST', htu: 'https://elsewhere.example/token' })
    const r = await post('grant_type=client_credentials', { authorization: basic('service'), dpop })
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'invalid_dpop_proof')
    assert.equal(r.headers.get('cache-control'), 'no-store')
  })

  test('a replayed proof is refused', async () => {
    const key = await generateKeyPair('ES256')
    const dpop = await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` })
    const first = await post('grant_type=client_credentials', {
      authorization: basic('service'),
      dpop,
    })
    assert.equal(first.status, 200)
    assert.equal(first.body.token_type, 'DPoP')
    const second = await post('grant_type=client_credentials', {
      authorization: basic('service'),
      dpop,
    })
    assert.equal(second.status, 400)
    assert.equal(second.body.error, 'invalid_dpop_proof')
  })

  test('a wrong secret: 401 invalid_client with WWW-Authenticate: Basic', async () => {
    const r = await post('grant_type=client_credentials', {
      authorization: basic('service', 'wrong-secret-0123456789'),
    })
    assert.equal(r.status, 401)
    assert.equal(r.body.error, 'invalid_client')
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic /)
  })

  test('an unknown client, and a client using another method than registered', async () => {
    assert.equal(
      (await post('grant_type=client_credentials', { authorization: basic('nobody') })).body.error,
      'invalid_client',
    )
    const r = await post(`grant_type=client_credentials&client_id=post&client_secret=${SECRET}`)
    assert.equal(r.status, 200)
    const wrong = await post(
      `grant_type=client_credentials&client_id=service&client_secret=${SECRET}`,
    )
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.error, 'invalid_client')
  })

  test('two authentication methods at once: invalid_request', async () => {
    const r = await post(`grant_type=client_credentials&client_id=post&client_secret=${SECRET}`, {
      authorization: basic('post'),
    })
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'invalid_request')
  })

  test('a repeated parameter: invalid_request (RFC 6749 §3.2)', async () => {
    const r = await post('grant_type=client_credentials&scope=read&scope=write', {
      authorization: basic('service'),
    })
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'invalid_request')
  })

  test('missing and unknown grant types', async () => {
    assert.equal(
      (await post('', { authorization: basic('service') })).body.error,
      'invalid_request',
    )
    const r = await post('grant_type=password&username=a&password=b', {
      authorization: basic('service'),
    })
    assert.equal(r.body.error, 'unsupported_grant_type')
  })

  test('a scope the client may not have: invalid_scope', async () => {
    const r = await post('grant_type=client_credentials&scope=admin', {
      authorization: basic('service'),
    })
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'invalid_scope')
  })

  test('JSON instead of a form: 400 invalid_request; an oversized body: 413', async () => {
    const json = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic('service') },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    })
    assert.equal(json.status, 400)
    assert.equal(((await json.json()) as { error: string }).error, 'invalid_request')
    const big = await post(`grant_type=client_credentials&x=${'a'.repeat(70_000)}`, {
      authorization: basic('service'),
    })
    assert.equal(big.status, 413)
    assert.equal(big.body.error, 'invalid_request')
  })

  test('a reference token for a client configured for them', async () => {
    const key = await generateKeyPair('ES256')
    const dpop = await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` })
    const r = await post('grant_type=client_credentials', {
      authorization: basic('reference'),
      dpop,
    })
    assert.equal(r.status, 200)
    assert.equal((r.body.access_token as string).split('.').length, 1)
    const stored = await t.server.context.store.getAccessToken(
      (await import('../../src/server/tokens/access-token.js')).referenceId(
        r.body.access_token as string,
      ),
    )
    assert.deepEqual(stored?.cnf, {
      jkt: jwkThumbprint((await publicJwkOf(key.publicKey)) as PublicJwk),
    })
    assert.equal(stored?.token_type, 'DPoP')
  })
})

describe('metadata and keys', () => {
  test('RFC 8414 metadata lists the token endpoint and DPoP algs', async () => {
    assert.equal(as.issuer, t.issuer)
    assert.equal(as.token_endpoint, `${t.issuer}/token`)
    assert.ok(as.dpop_signing_alg_values_supported?.includes('ES256'))
    assert.ok(as.grant_types_supported?.includes('client_credentials'))
  })
  test('/jwks publishes the signing key with kid and alg, and no private member', async () => {
    const jwks = (await (await fetch(`${t.issuer}/jwks`)).json()) as {
      keys: Record<string, unknown>[]
    }
    assert.equal(jwks.keys.length, 1)
    assert.equal(jwks.keys[0]?.alg, 'ES256')
    assert.equal(typeof jwks.keys[0]?.kid, 'string')
    assert.equal(jwks.keys[0]?.d, undefined)
  })
})
