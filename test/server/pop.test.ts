import assert from 'node:assert/strict'
import { generateKeyPairSync, hash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { createPopSignature } from '../../src/bindings/pop/sign.js'
import { verifyPopSignature } from '../../src/bindings/pop/verify.js'
import { popFetch } from '../../src/client/pop-fetch.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'
import { protect } from '../../src/resource/adapters/node-http.js'
import { createVerifier } from '../../src/resource/verifier.js'
import {
  DOTNET_SHAPED_JWK,
  EXAMPLE_KEY_PARAM,
  EXAMPLE_PRIVATE_JWK,
} from '../bindings/pop/fixtures.js'
import { authorizeInBrowser } from '../helpers/browser.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CALLBACK = 'https://app.example/callback'
const ALICE = { username: 'alice', password: 'alice-password-1' }
const ALL_GRANTS = ['authorization_code', 'refresh_token', 'client_credentials']
const clients = [
  {
    client_id: 'web',
    client_secret: SECRET,
    grant_types: ALL_GRANTS,
    redirect_uris: [CALLBACK],
    first_party: true,
  },
  {
    client_id: 'spa',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [CALLBACK],
    first_party: true,
  },
  {
    client_id: 'reference',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    access_token_format: 'reference',
  },
  {
    client_id: 'popc',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    token_binding: 'pop',
  },
  {
    client_id: 'dpopc',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    token_binding: 'dpop',
  },
  {
    client_id: 'rs',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    introspection: true,
  },
]

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`
const { d, p, q, dp, dq, qi, ...PUBLIC } = EXAMPLE_PRIVATE_JWK
const EXAMPLE_CLEAN = { ...PUBLIC, alg: 'RS256', kid: 'popkey1' }

interface Body {
  access_token: string
  token_type: string
  refresh_token?: string
  alg?: string
  error?: string
  error_description?: string
}

let t: TestServer
before(async () => {
  t = await startServer({ clients, users: [ALICE] })
})
after(() => t.close())

async function token(fields: Record<string, string>, client = 'web', dpop?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (client === 'spa') fields = { ...fields, client_id: 'spa' }
  else headers.authorization = basic(client)
  if (dpop) headers.dpop = dpop
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(fields).toString(),
  })
  return { status: res.status, body: (await res.json()) as Body }
}

const cc = (extra: Record<string, string>, client = 'web') =>
  token({ grant_type: 'client_credentials', ...extra }, client)

async function refused(response: Promise<{ status: number; body: Body }>, description: RegExp) {
  const r = await response
  assert.equal(r.status, 400, JSON.stringify(r.body))
  assert.equal(r.body.error, 'invalid_request')
  assert.match(r.body.error_description ?? '', description)
}

async function login(client: string, extra: Record<string, string>) {
  const verifier = oauth.generateRandomCodeVerifier()
  const query = {
    response_type: 'code',
    client_id: client,
    redirect_uri: CALLBACK,
    scope: 'read',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }
  const callback = await authorizeInBrowser(t.issuer, query, ALICE)
  return token(
    {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') as string,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
      ...extra,
    },
    client,
  )
}

describe('token requests with token_type=pop (wire format §1)', () => {
  test('client_credentials: the worked example key, alg echoed, cnf.jwk in the JWT', async () => {
    const r = await cc({ token_type: 'pop', alg: 'RS256', key: EXAMPLE_KEY_PARAM })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.token_type, 'pop')
    assert.equal(r.body.alg, 'RS256')
    assert.deepEqual(decodeJwt(r.body.access_token).cnf, { jwk: EXAMPLE_CLEAN })
    // Without alg, none is echoed (§1.2).
    const noAlg = await cc({ token_type: 'pop', key: EXAMPLE_KEY_PARAM })
    assert.equal(noAlg.status, 200)
    assert.equal(noAlg.body.token_type, 'pop')
    assert.equal('alg' in noAlg.body, false)
  })

  test('without token_type=pop, a bearer token whatever else is sent', async () => {
    const r = await cc({ key: EXAMPLE_KEY_PARAM, alg: 'RS256' })
    assert.equal(r.status, 200)
    assert.equal(r.body.token_type, 'Bearer')
    assert.equal(decodeJwt(r.body.access_token).cnf, undefined)
    assert.equal('alg' in r.body, false)
  })

  test('a .NET-shaped JWK and a padded key are accepted and stored clean', async () => {
    const dotnet = DOTNET_SHAPED_JWK
    const r = await cc({ token_type: 'pop', alg: 'RS256', key: b64(dotnet) })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(decodeJwt(r.body.access_token).cnf, {
      jwk: { kty: 'RSA', n: PUBLIC.n, e: PUBLIC.e, alg: 'RS256', kid: dotnet.kid },
    })
    const padded = `${EXAMPLE_KEY_PARAM}==`
    assert.equal((padded.length - 2) % 4, 2)
    const r2 = await cc({ token_type: 'pop', key: padded })
    assert.equal(r2.status, 200, JSON.stringify(r2.body))
    assert.deepEqual(decodeJwt(r2.body.access_token).cnf, { jwk: EXAMPLE_CLEAN })
  })

  test('each mistake is a 400 invalid_request naming it', async () => {
    const pop = { token_type: 'pop' }
    await refused(cc(pop), /key is required/)
    const ecPrivate = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    await refused(cc({ ...pop, key: b64(ecPrivate.export({ format: 'jwk' })) }), /private key/)
    await refused(cc({ ...pop, key: b64({ kty: 'oct', k: 'c2VjcmV0' }) }), /symmetric/)
    await refused(cc({ ...pop, key: b64(EXAMPLE_PRIVATE_JWK) }), /longer than 2048/)
    await refused(cc({ ...pop, key: 'A'.repeat(2049) }), /longer than 2048/)
    await refused(cc({ ...pop, alg: 'HS256', key: EXAMPLE_KEY_PARAM }), /invalid alg/)
    await refused(cc({ ...pop, alg: 'ES256', key: EXAMPLE_KEY_PARAM }), /does not fit alg/)
    await refused(cc({ ...pop, alg: 'PS256', key: EXAMPLE_KEY_PARAM }), /alg member differs/)
    await refused(cc({ ...pop, key: JSON.stringify(EXAMPLE_CLEAN) }), /not base64url/)
    await refused(cc({ ...pop, key: b64('{"kty":') }), /not a JSON object/)
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
    await refused(cc({ ...pop, key: b64(small.export({ format: 'jwk' })) }), /2048/)
  })

  test('a token_binding pop client is refused a token without a key', async () => {
    await refused(cc({}, 'popc'), /token_type=pop and key are required/)
    const r = await cc({ token_type: 'pop', key: EXAMPLE_KEY_PARAM }, 'popc')
    assert.equal(r.status, 200)
    assert.equal(r.body.token_type, 'pop')
  })

  test('DPoP and PoP on one request are refused; a DPoP client cannot ask for PoP', async () => {
    const key = await generateKeyPair('ES256')
    const proof = await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` })
    await refused(
      token(
        { grant_type: 'client_credentials', token_type: 'pop', key: EXAMPLE_KEY_PARAM },
        'web',
        proof,
      ),
      /cannot be combined/,
    )
    await refused(cc({ token_type: 'pop', key: EXAMPLE_KEY_PARAM }, 'dpopc'), /gets dpop tokens/)
  })

  test('reference tokens keep cnf.jwk; introspection returns it', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      format: 'jwk',
    })
    const r = await cc({ token_type: 'pop', key: b64(ec), alg: 'ES256' }, 'reference')
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.token_type, 'pop')
    assert.equal(r.body.alg, 'ES256')
    const res = await fetch(`${t.issuer}/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic('rs'),
      },
      body: `token=${encodeURIComponent(r.body.access_token)}`,
    })
    const answer = (await res.json()) as Record<string, unknown>
    assert.equal(answer.active, true)
    assert.equal(answer.token_type, 'pop')
    assert.deepEqual(answer.cnf, {
      jwk: { kty: 'EC', crv: 'P-256', x: ec.x, y: ec.y, alg: 'ES256' },
    })
  })
})

describe('code flow and refresh with PoP keys', () => {
  test('a confidential client: code → pop token; refresh binds to the new key (as IdentityServer3)', async () => {
    const r = await login('web', { token_type: 'pop', alg: 'RS256', key: EXAMPLE_KEY_PARAM })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.token_type, 'pop')
    assert.equal(r.body.alg, 'RS256')
    assert.deepEqual(decodeJwt(r.body.access_token).cnf, { jwk: EXAMPLE_CLEAN })
    const stored = await t.server.context.store.getRefreshToken(
      hash('sha256', r.body.refresh_token as string, 'base64url'),
    )
    assert.equal(stored?.cnf, null)
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    const otherJwk = other.export({ format: 'jwk' })
    const refreshed = await token({
      grant_type: 'refresh_token',
      refresh_token: r.body.refresh_token as string,
      token_type: 'pop',
      key: b64(otherJwk),
    })
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body))
    assert.equal(refreshed.body.token_type, 'pop')
    assert.deepEqual(decodeJwt(refreshed.body.access_token).cnf, {
      jwk: { kty: 'EC', crv: 'P-256', x: otherJwk.x, y: otherJwk.y, alg: 'ES256' },
    })
  })

  test('a public client: the refresh token is bound to the key', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = { ...pair.publicKey.export({ format: 'jwk' }), alg: 'ES256' }
    const r = await login('spa', { token_type: 'pop', key: b64(jwk) })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    const stored = await t.server.context.store.getRefreshToken(
      hash('sha256', r.body.refresh_token as string, 'base64url'),
    )
    assert.deepEqual(stored?.cnf, { jwk })
    const refresh = (extra: Record<string, string>, refreshToken = r.body.refresh_token) =>
      token({ grant_type: 'refresh_token', refresh_token: refreshToken as string, ...extra }, 'spa')
    const without = await refresh({})
    assert.equal(without.status, 400)
    assert.equal(without.body.error, 'invalid_grant')
    assert.match(without.body.error_description ?? '', /bound to a PoP key/)
    const another = await refresh({ token_type: 'pop', key: EXAMPLE_KEY_PARAM })
    assert.equal(another.status, 400)
    assert.equal(another.body.error, 'invalid_grant')
    assert.match(another.body.error_description ?? '', /another PoP key/)
    const same = await refresh({ token_type: 'pop', key: b64(jwk) })
    assert.equal(same.status, 200, JSON.stringify(same.body))
    assert.equal(same.body.token_type, 'pop')
    const claims = decodeJwt(same.body.access_token)
    assert.deepEqual(claims.cnf, { jwk })
    // The issued cnf.jwk verifies a request signed with the private key.
    const jws = await createPopSignature({
      key: pair.privateKey,
      accessToken: same.body.access_token,
      sign: { method: 'GET', host: 'api.example', path: '/x' },
    })
    const verified = await verifyPopSignature(jws, {
      cnfJwk: (claims.cnf as { jwk: unknown }).jwk,
      accessToken: same.body.access_token,
      request: { method: 'GET', host: 'api.example', path: '/x', query: '', headers: {} },
      policy: { required: ['m', 'u', 'p'] },
    })
    assert.deepEqual(verified.covered, ['m', 'u', 'p'])
  })
})

describe('an oauth4webapi-driven code flow with the PoP parameters (wire format §1)', () => {
  test('code, then refresh, each with token_type=pop; the token works at a protected API', async () => {
    const issuer = new URL(t.issuer)
    const insecure = { [oauth.allowInsecureRequests]: true }
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }),
    )
    const client: oauth.Client = { client_id: 'web' }
    const clientAuth = oauth.ClientSecretBasic(SECRET)
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pop = {
      token_type: 'pop',
      alg: 'ES256',
      key: b64({ ...pair.publicKey.export({ format: 'jwk' }), alg: 'ES256' }),
    }
    // oauth4webapi knows `bearer` and `dpop`; `pop` is a token type this flow recognizes.
    const recognizedTokenTypes = { pop: () => {} }

    const codeVerifier = oauth.generateRandomCodeVerifier()
    const callback = await authorizeInBrowser(
      t.issuer,
      {
        response_type: 'code',
        client_id: 'web',
        redirect_uri: CALLBACK,
        scope: 'read',
        code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      },
      ALICE,
    )
    const params = oauth.validateAuthResponse(as, client, callback)
    const first = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(
        as,
        client,
        clientAuth,
        params,
        CALLBACK,
        codeVerifier,
        { ...insecure, additionalParameters: pop },
      ),
      { recognizedTokenTypes },
    )
    assert.equal(first.token_type, 'pop')
    assert.equal(first.alg, 'ES256')
    assert.ok(first.refresh_token)
    const second = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, first.refresh_token, {
        ...insecure,
        additionalParameters: pop,
      }),
      { recognizedTokenTypes },
    )
    assert.equal(second.token_type, 'pop')
    const claims = decodeJwt(second.access_token)
    assert.equal(claims.sub, 'alice')
    assert.deepEqual(
      (claims.cnf as { jwk: { x: string } }).jwk.x,
      pair.publicKey.export({ format: 'jwk' }).x,
    )

    // A protected API that requires method, host and path to be signed.
    const verifier = createVerifier({
      issuer: t.issuer,
      audience: claims.aud as string | string[],
      replayCache: createMemoryReplayCache(),
      pop: { required: ['m', 'u', 'p'] },
    })
    const api = createServer(
      protect(verifier, (req, res) => {
        res.end(JSON.stringify({ sub: req.keybound.subject, binding: req.keybound.binding }))
      }),
    )
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}/me`
      const signed = popFetch({
        key: pair.privateKey,
        accessToken: second.access_token,
        sign: { method: true, host: true, path: true },
      })
      const res = await signed(url)
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { sub: 'alice', binding: 'pop' })
      // The first access token is bound to the same key, and works too.
      const firstRes = await popFetch({
        key: pair.privateKey,
        accessToken: first.access_token,
        sign: { method: true, host: true, path: true },
      })(url)
      assert.equal(firstRes.status, 200)
    } finally {
      await new Promise<void>((resolve) => api.close(() => resolve()))
    }
  })
})
