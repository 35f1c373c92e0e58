/**
 * createTokenSource against a real keybound authorization server that demands DPoP nonces
 * (RFC 9449 §8), over real HTTP on a loopback port.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { computeAth } from '../../src/bindings/dpop/ath.js'
import {
  AuthorizationServerError,
  createTokenSource,
  dpopFetch,
  jktOf,
  UnexpectedResponseError,
} from '../../src/client/index.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { jwkThumbprint } from '../../src/jose/jwk.js'
import { type KeyPair, publicJwkOf } from '../../src/jose/keys.js'
import { authorizeInBrowser } from '../helpers/browser.js'
import { startServer, type TestServer } from '../helpers/server.js'
import { recordingFetch } from './recorder.js'
import { startResourceServer } from './resource-server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CALLBACK = 'https://app.example/callback'
const ALICE = { username: 'alice', password: 'alice-password-1' }

const clients = [
  {
    client_id: 'service',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    token_binding: 'dpop',
    scope: 'read write',
  },
  {
    client_id: 'post-service',
    client_secret: SECRET,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    token_binding: 'dpop',
  },
  {
    client_id: 'spa',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [CALLBACK],
    first_party: true,
    token_binding: 'dpop',
  },
]

/** The thumbprint of a key, by the server's own (node:crypto) implementation of RFC 7638. */
const thumbprint = async (key: KeyPair) => jwkThumbprint(await publicJwkOf(key.publicKey))
const errorOf = (body: string) => (JSON.parse(body) as { error?: string }).error

let t: TestServer
let tokenEndpoint: string

before(async () => {
  t = await startServer({ clients, users: [ALICE], dpop: { nonce: 'required' } })
  tokenEndpoint = `${t.issuer}/token`
})
after(() => t.close())

describe('client_credentials from an authorization server that demands nonces', () => {
  test('one use_dpop_nonce retry, then the remembered nonce; a DPoP-bound token', async () => {
    const key = await generateKeyPair('ES256')
    const { fetch, log } = recordingFetch()
    const source = createTokenSource({
      tokenEndpoint,
      clientId: 'service',
      clientSecret: SECRET,
      key,
      grant: 'client_credentials',
      scope: 'read',
      fetch,
    })
    const token = await source.getAccessToken()

    // RFC 9449 §8: refused with use_dpop_nonce and a nonce, then accepted with that nonce.
    assert.deepEqual(
      log.map((e) => [e.method, e.url, e.status]),
      [
        ['POST', tokenEndpoint, 400],
        ['POST', tokenEndpoint, 200],
      ],
    )
    const [refused, accepted] = log as [(typeof log)[0], (typeof log)[0]]
    assert.equal(errorOf(refused.responseBody), 'use_dpop_nonce')
    const nonce = refused.responseHeaders.get('dpop-nonce')
    assert.ok(nonce)
    assert.equal(refused.proof?.nonce, undefined)
    assert.equal(accepted.proof?.nonce, nonce)
    for (const e of log) {
      assert.equal(e.proof?.htm, 'POST')
      assert.equal(e.proof?.htu, tokenEndpoint)
      assert.equal(e.proof?.ath, undefined)
      assert.equal(e.headers.get('authorization'), `Basic ${btoa(`service:${SECRET}`)}`)
      assert.equal(e.body, 'grant_type=client_credentials&scope=read')
    }
    assert.notEqual(refused.proof?.jti, accepted.proof?.jti)
    const body = JSON.parse(accepted.responseBody) as Record<string, unknown>
    assert.equal(body.token_type, 'DPoP')
    assert.equal(body.access_token, token)

    // RFC 9449 §6.1: bound to the key by its thumbprint.
    const claims = decodeJwt(token)
    assert.deepEqual(claims.cnf, { jkt: await thumbprint(key) })
    assert.equal(await jktOf(key), await thumbprint(key))
    assert.equal(claims.client_id, 'service')
    assert.equal(claims.scope, 'read')

    // Kept: no request.
    assert.equal(await source.getAccessToken(), token)
    assert.equal(log.length, 2)

    // A new token: one request, with the nonce the 200 carried, no retry.
    source.invalidate()
    const next = await source.getAccessToken()
    assert.notEqual(next, token)
    assert.equal(log.length, 3)
    assert.equal(log[2]?.status, 200)
    assert.equal(log[2]?.proof?.nonce, accepted.responseHeaders.get('dpop-nonce'))
  })

  test('concurrent callers share one request; invalidate(old token) keeps a newer one', async () => {
    const { fetch, log } = recordingFetch()
    const source = createTokenSource({
      tokenEndpoint,
      clientId: 'service',
      clientSecret: SECRET,
      key: await generateKeyPair('ES256'),
      grant: 'client_credentials',
      fetch,
    })
    const first = await source.getAccessToken()
    const requests = log.length
    source.invalidate(first)
    const tokens = await Promise.all(Array.from({ length: 5 }, () => source.getAccessToken()))
    assert.equal(log.length, requests + 1)
    assert.equal(new Set(tokens).size, 1)
    assert.notEqual(tokens[0], first)
    // A caller still holding the old token does not discard the new one.
    source.invalidate(first)
    assert.equal(await source.getAccessToken(), tokens[0])
    assert.equal(log.length, requests + 1)
  })

  test('issuer: the token endpoint from RFC 8414 metadata; client_secret_post', async () => {
    const { fetch, log } = recordingFetch()
    const source = createTokenSource({
      issuer: t.issuer,
      clientId: 'post-service',
      clientSecret: SECRET,
      clientAuthentication: 'client_secret_post',
      key: await generateKeyPair('EdDSA'),
      grant: 'client_credentials',
      fetch,
    })
    const token = await source.getAccessToken()
    assert.equal(log[0]?.method, 'GET')
    assert.equal(log[0]?.url, `${t.issuer}/.well-known/oauth-authorization-server`)
    const posts = log.slice(1)
    assert.deepEqual(
      posts.map((e) => [e.url, e.status]),
      [
        [tokenEndpoint, 400],
        [tokenEndpoint, 200],
      ],
    )
    for (const e of posts) {
      assert.equal(e.headers.get('authorization'), null)
      assert.deepEqual(Object.fromEntries(new URLSearchParams(e.body)), {
        grant_type: 'client_credentials',
        client_id: 'post-service',
        client_secret: SECRET,
      })
    }
    assert.equal(decodeJwt(token).client_id, 'post-service')
  })

  test('an OAuth error answer becomes an AuthorizationServerError; the next call tries again', async () => {
    const source = createTokenSource({
      tokenEndpoint,
      clientId: 'service',
      clientSecret: 'not-the-secret-0123456789',
      key: await generateKeyPair('ES256'),
      grant: 'client_credentials',
    })
    for (let i = 0; i < 2; i++) {
      await assert.rejects(source.getAccessToken(), (err: unknown) => {
        assert.ok(err instanceof AuthorizationServerError)
        assert.equal(err.error, 'invalid_client')
        assert.equal(err.status, 401)
        assert.equal(typeof err.error_description, 'string')
        return true
      })
    }
  })

  test('a token is renewed shortly before expires_in runs out', async () => {
    const short = await startServer({
      clients,
      dpop: { nonce: 'required' },
      accessToken: { ttl: 2 },
    })
    try {
      const { fetch, log } = recordingFetch()
      const source = createTokenSource({
        tokenEndpoint: `${short.issuer}/token`,
        clientId: 'service',
        clientSecret: SECRET,
        key: await generateKeyPair('ES256'),
        grant: 'client_credentials',
        fetch,
      })
      const token = await source.getAccessToken()
      assert.equal(JSON.parse(log.at(-1)?.responseBody ?? '{}').expires_in, 2)
      assert.equal(await source.getAccessToken(), token)
      const requests = log.length
      // With a 2 s lifetime, the margin is capped at half of it: renewed after 1 s.
      await sleep(1100)
      const renewed = await source.getAccessToken()
      assert.notEqual(renewed, token)
      assert.equal(log.length, requests + 1)
    } finally {
      await short.close()
    }
  })
})

describe('refresh_token', () => {
  /** The code flow for the public client `spa`, with its code redeemed through dpopFetch. */
  async function login(key: KeyPair) {
    const verifier = oauth.generateRandomCodeVerifier()
    const callback = await authorizeInBrowser(
      t.issuer,
      {
        response_type: 'code',
        client_id: 'spa',
        redirect_uri: CALLBACK,
        scope: 'read write',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      },
      ALICE,
    )
    const response = await dpopFetch({ key })(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: 'spa',
        code: callback.searchParams.get('code') as string,
        redirect_uri: CALLBACK,
        code_verifier: verifier,
      }),
    })
    assert.equal(response.status, 200)
    return (await response.json()) as { access_token: string; refresh_token: string }
  }

  test('each refresh uses and keeps the rotated refresh token', async () => {
    const key = await generateKeyPair('ES256')
    const tokens = await login(key)
    const { fetch, log } = recordingFetch()
    const source = createTokenSource({
      tokenEndpoint,
      clientId: 'spa',
      key,
      grant: 'refresh_token',
      refreshToken: tokens.refresh_token,
      fetch,
    })
    const first = await source.getAccessToken()
    assert.deepEqual(decodeJwt(first).cnf, { jkt: await thumbprint(key) })
    assert.equal(decodeJwt(first).sub, 'alice')
    const rotated = source.refreshToken
    assert.ok(rotated)
    assert.notEqual(rotated, tokens.refresh_token)
    assert.equal(new URLSearchParams(log.at(-1)?.body).get('refresh_token'), tokens.refresh_token)
    // A public client authenticates with nothing but its client_id.
    assert.equal(new URLSearchParams(log.at(-1)?.body).get('client_id'), 'spa')
    assert.equal(log.at(-1)?.headers.get('authorization'), null)

    source.invalidate()
    const second = await source.getAccessToken()
    assert.notEqual(second, first)
    assert.equal(new URLSearchParams(log.at(-1)?.body).get('refresh_token'), rotated)
    assert.notEqual(source.refreshToken, rotated)

    // Had the source presented a retired token, the server would have revoked the grant
    // (RFC 9700 §4.14.2), as it does now for this reuse of the first one:
    const reuse = await dpopFetch({ key })(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: 'spa',
        refresh_token: tokens.refresh_token,
      }),
    })
    assert.equal(errorOf(await reuse.text()), 'invalid_grant')
    source.invalidate()
    await assert.rejects(source.getAccessToken(), {
      name: 'AuthorizationServerError',
      error: 'invalid_grant',
    })
  })

  test('a public client’s refresh token is bound to its key: another key is refused', async () => {
    const tokens = await login(await generateKeyPair('ES256'))
    const source = createTokenSource({
      tokenEndpoint,
      clientId: 'spa',
      key: await generateKeyPair('ES256'),
      grant: 'refresh_token',
      refreshToken: tokens.refresh_token,
    })
    await assert.rejects(source.getAccessToken(), {
      name: 'AuthorizationServerError',
      error: 'invalid_dpop_proof',
      status: 400,
    })
  })
})

describe('dpopFetch with the token source, at a resource server that demands nonces', () => {
  test('the token is sent with ath; invalid_token once brings a fresh token, once', async () => {
    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`))
    const refused = new Set<string>()
    let refuseAll = false
    // The resource server checks the JWT with the issuer's keys and binds it by cnf.jkt.
    const rs = await startResourceServer({
      nonce: 'required',
      tokenJkt: async (token) => {
        if (refuseAll || refused.has(token)) return undefined
        const { payload } = await jwtVerify(token, jwks, { issuer: t.issuer, typ: 'at+jwt' })
        return (payload.cnf as { jkt?: string } | undefined)?.jkt
      },
    })
    try {
      const key = await generateKeyPair('ES256')
      const { fetch, log } = recordingFetch()
      const tokenSource = createTokenSource({
        tokenEndpoint,
        clientId: 'service',
        clientSecret: SECRET,
        key,
        grant: 'client_credentials',
        fetch,
      })
      const api = dpopFetch({ key, tokenSource })
      const tokenOf = (i: number) => rs.seen[i]?.headers.authorization?.replace(/^DPoP /, '')
      const statuses = () =>
        rs.seen.map((s) => [s.status, /error="(\w+)"/.exec(s.wwwAuthenticate ?? '')?.[1]])

      assert.equal((await api(`${rs.origin}/orders`)).status, 200)
      assert.deepEqual(statuses(), [
        [401, 'use_dpop_nonce'],
        [200, undefined],
      ])
      const first = tokenOf(1) as string
      assert.equal(first, await tokenSource.getAccessToken())
      assert.deepEqual(decodeJwt(first).cnf, { jkt: await thumbprint(key) })
      assert.equal(rs.seen[1]?.claims?.ath, computeAth(first))
      const tokenRequests = log.length

      // The resource server no longer accepts the token: one fresh token, one retry.
      refused.add(first)
      assert.equal((await api(`${rs.origin}/orders`)).status, 200)
      assert.deepEqual(statuses().slice(2), [
        [401, 'invalid_token'],
        [200, undefined],
      ])
      assert.equal(tokenOf(2), first)
      const second = tokenOf(3) as string
      assert.notEqual(second, first)
      assert.equal(rs.seen[3]?.claims?.ath, computeAth(second))
      assert.equal(log.length, tokenRequests + 1)

      // Refused again after the fresh token: returned to the caller, no loop.
      refuseAll = true
      const response = await api(`${rs.origin}/orders`)
      assert.equal(response.status, 401)
      assert.deepEqual(statuses().slice(4), [
        [401, 'invalid_token'],
        [401, 'invalid_token'],
      ])
      assert.equal(log.length, tokenRequests + 2)
    } finally {
      await rs.close()
    }
  })
})

describe('answers the token source refuses', () => {
  /** A server that answers every request with `body`, recording the DPoP headers it got. */
  async function fakeServer(body: Record<string, unknown>) {
    const proofs: Array<string | undefined> = []
    const server = createServer((req, res) => {
      proofs.push(req.headers.dpop as string | undefined)
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`
    return { url, proofs, close: () => new Promise((resolve) => server.close(resolve)) }
  }

  test('a bearer token for a DPoP request: refused, the binding would be lost (RFC 9449 §5)', async () => {
    const fake = await fakeServer({ access_token: 'unbound', token_type: 'Bearer', expires_in: 60 })
    try {
      const source = createTokenSource({
        tokenEndpoint: fake.url,
        clientId: 'service',
        clientSecret: SECRET,
        key: await generateKeyPair('ES256'),
        grant: 'client_credentials',
      })
      await assert.rejects(source.getAccessToken(), (err: unknown) => {
        assert.ok(err instanceof UnexpectedResponseError)
        assert.equal(err.reason, 'token_type_not_dpop')
        assert.equal(err.status, 200)
        return true
      })
      assert.equal(fake.proofs.length, 1)
      assert.equal(decodeJwt(fake.proofs[0] as string).htu, fake.url)
    } finally {
      await fake.close()
    }
  })

  test('token_type is compared case-insensitively (RFC 6749 §5.1)', async () => {
    const fake = await fakeServer({ access_token: 'bound', token_type: 'dpop' })
    try {
      const source = createTokenSource({
        tokenEndpoint: fake.url,
        clientId: 'service',
        clientSecret: SECRET,
        key: await generateKeyPair('ES256'),
        grant: 'client_credentials',
      })
      assert.equal(await source.getAccessToken(), 'bound')
    } finally {
      await fake.close()
    }
  })

  test('metadata of another issuer is refused (RFC 8414 §3.3)', async () => {
    const fake = await fakeServer({ issuer: 'https://elsewhere.example', token_endpoint: 'x' })
    try {
      const source = createTokenSource({
        issuer: new URL(fake.url).origin,
        clientId: 'service',
        clientSecret: SECRET,
        key: await generateKeyPair('ES256'),
        grant: 'client_credentials',
      })
      await assert.rejects(source.getAccessToken(), {
        name: 'UnexpectedResponseError',
        reason: 'issuer_mismatch',
      })
    } finally {
      await fake.close()
    }
  })
})

test('invalid options are refused at once', async () => {
  const key = await generateKeyPair('ES256')
  const base = { clientId: 'c', key, grant: 'client_credentials' } as const
  const invalid = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }
  assert.throws(() => createTokenSource({ ...base }), invalid)
  assert.throws(() => createTokenSource({ ...base, tokenEndpoint, issuer: t.issuer }), invalid)
  assert.throws(
    () => createTokenSource({ ...base, tokenEndpoint, grant: 'refresh_token' }),
    invalid,
  )
  assert.throws(
    () =>
      createTokenSource({ ...base, tokenEndpoint, clientAuthentication: 'client_secret_basic' }),
    invalid,
  )
})
