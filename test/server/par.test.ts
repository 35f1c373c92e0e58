import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { REQUEST_URI_PREFIX } from '../../src/server/authorize/pushed.js'
import { authorizeInBrowser, Browser } from '../helpers/browser.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CALLBACK = 'https://app.example/callback'
const ALICE = { username: 'alice', password: 'alice-password-1' }
const GRANTS = ['authorization_code', 'refresh_token']
const opts = { [oauth.allowInsecureRequests]: true } as const

const clients = [
  { client_id: 'web', client_secret: SECRET, grant_types: GRANTS, redirect_uris: [CALLBACK] },
  {
    client_id: 'post',
    client_secret: SECRET,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: GRANTS,
    redirect_uris: [CALLBACK],
    first_party: true,
  },
  {
    client_id: 'spa',
    token_endpoint_auth_method: 'none',
    grant_types: GRANTS,
    redirect_uris: [CALLBACK, 'https://app.example/other'],
    first_party: true,
  },
  {
    client_id: 'strict',
    client_secret: SECRET,
    grant_types: GRANTS,
    redirect_uris: [CALLBACK],
    require_pushed_authorization_requests: true,
  },
]

const newKey = async () => (await generateKeyPair('ES256')) as oauth.CryptoKeyPair
const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`

async function pkce() {
  const verifier = oauth.generateRandomCodeVerifier()
  return { verifier, challenge: await oauth.calculatePKCECodeChallenge(verifier) }
}

function discover(issuer: string) {
  return oauth
    .discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...opts })
    .then((response) => oauth.processDiscoveryResponse(new URL(issuer), response))
}

async function post(issuer: string, path: string, fields: Record<string, string>, headers = {}) {
  const res = await fetch(`${issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  })
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  }
}

describe('pushed authorization requests (RFC 9126)', () => {
  let t: TestServer
  let as: oauth.AuthorizationServer
  before(async () => {
    t = await startServer({ clients, users: [ALICE] })
    as = await discover(t.issuer)
  })
  after(() => t.close())

  const pushCode = async (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    post(t.issuer, '/par', fields, { authorization: basic('web'), ...headers })

  test('oauth4webapi: PAR with a DPoP proof binds the code to its key (RFC 9449 §10.1)', async () => {
    const client: oauth.Client = { client_id: 'web' }
    const DPoP = oauth.DPoP(client, await newKey())
    const { verifier, challenge } = await pkce()
    const state = oauth.generateRandomState()
    const pushed = await oauth.pushedAuthorizationRequest(
      as,
      client,
      oauth.ClientSecretBasic(SECRET),
      {
        response_type: 'code',
        redirect_uri: CALLBACK,
        scope: 'read',
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      },
      { DPoP, ...opts },
    )
    assert.equal(pushed.status, 201)
    assert.equal(pushed.headers.get('cache-control'), 'no-store')
    const { request_uri, expires_in } = await oauth.processPushedAuthorizationResponse(
      as,
      client,
      pushed,
    )
    assert.ok(request_uri.startsWith(REQUEST_URI_PREFIX))
    assert.equal(expires_in, 60)

    // Only client_id and request_uri are sent; the redirect goes to the pushed redirect_uri.
    const callback = await authorizeInBrowser(t.issuer, { client_id: 'web', request_uri }, ALICE)
    const params = oauth.validateAuthResponse(as, client, callback, state)
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(SECRET),
      params,
      CALLBACK,
      verifier,
      { DPoP, ...opts },
    )
    const result = await oauth.processAuthorizationCodeResponse(as, client, response)
    assert.equal(result.token_type, 'dpop')
    assert.deepEqual(decodeJwt(result.access_token).cnf, { jkt: await DPoP.calculateThumbprint() })
    assert.equal(result.scope, 'read')
  })

  test('a code bound at PAR, redeemed without a proof or with another key: invalid_dpop_proof', async () => {
    const key = await newKey()
    for (const redeemKey of [undefined, await newKey()]) {
      const { verifier, challenge } = await pkce()
      const dpop = await createProof({ key, htm: 'POST', htu: `${t.issuer}/par` })
      const pushed = await pushCode(
        {
          response_type: 'code',
          redirect_uri: CALLBACK,
          code_challenge: challenge,
          code_challenge_method: 'S256',
        },
        { dpop },
      )
      assert.equal(pushed.status, 201, JSON.stringify(pushed.body))
      const request_uri = pushed.body.request_uri as string
      const callback = await authorizeInBrowser(t.issuer, { client_id: 'web', request_uri }, ALICE)
      const headers: Record<string, string> = { authorization: basic('web') }
      if (redeemKey) {
        headers.dpop = await createProof({
          key: redeemKey,
          htm: 'POST',
          htu: `${t.issuer}/token`,
        })
      }
      const r = await post(
        t.issuer,
        '/token',
        {
          grant_type: 'authorization_code',
          code: callback.searchParams.get('code') as string,
          redirect_uri: CALLBACK,
          code_verifier: verifier,
        },
        headers,
      )
      assert.equal(r.body.error, 'invalid_dpop_proof')
    }
  })

  test('a request_uri is used once, and only by its client', async () => {
    const pushed = await pushCode({ response_type: 'code', redirect_uri: CALLBACK })
    const request_uri = pushed.body.request_uri as string
    const stranger = await new Browser().get(
      `${t.issuer}/authorize?${new URLSearchParams({ client_id: 'post', request_uri })}`,
    )
    assert.equal(stranger.status, 400)
    assert.equal(stranger.location, undefined)

    const again = await pushCode({ response_type: 'code', redirect_uri: CALLBACK })
    const uri = again.body.request_uri as string
    const query = new URLSearchParams({ client_id: 'web', request_uri: uri })
    assert.equal((await new Browser().get(`${t.issuer}/authorize?${query}`)).status, 200)
    const replay = await new Browser().get(`${t.issuer}/authorize?${query}`)
    assert.equal(replay.status, 400)
    assert.equal(replay.location, undefined)
    assert.match(replay.html, /request_uri is invalid, expired or already used/)
  })

  test('only the pushed parameters count: query parameters besides client_id are ignored', async () => {
    const pushed = await pushCode({
      response_type: 'code',
      redirect_uri: CALLBACK,
      state: 'pushed',
    })
    const query = {
      client_id: 'web',
      request_uri: pushed.body.request_uri as string,
      state: 'query',
      scope: 'admin',
    }
    const callback = await authorizeInBrowser(t.issuer, query, ALICE)
    assert.equal(callback.searchParams.get('state'), 'pushed')
    assert.ok(callback.searchParams.get('code'))
  })

  test('a public client pushes with its client_id, and PKCE is required of it', async () => {
    const { challenge } = await pkce()
    const fields = { client_id: 'spa', response_type: 'code', redirect_uri: CALLBACK }
    const ok = await post(t.issuer, '/par', {
      ...fields,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })
    assert.equal(ok.status, 201)
    const noPkce = await post(t.issuer, '/par', fields)
    assert.equal(noPkce.status, 400)
    assert.equal(noPkce.body.error, 'invalid_request')
  })

  test('only authorization parameters are stored: never a client secret', async () => {
    const pushed = await post(t.issuer, '/par', {
      client_id: 'post',
      client_secret: SECRET,
      response_type: 'code',
      redirect_uri: CALLBACK,
      extra: 'x',
    })
    assert.equal(pushed.status, 201)
    const id = (pushed.body.request_uri as string).slice(REQUEST_URI_PREFIX.length)
    const record = await t.server.context.store.consumePushedRequest(id, 0)
    assert.deepEqual(record?.params, {
      client_id: 'post',
      response_type: 'code',
      redirect_uri: CALLBACK,
    })
  })

  test('refusals are JSON errors (RFC 9126 §2.3)', async () => {
    const base = { response_type: 'code', redirect_uri: CALLBACK }
    const cases: [Record<string, string>, Record<string, string>, number, string][] = [
      [{ ...base, request_uri: `${REQUEST_URI_PREFIX}x` }, {}, 400, 'invalid_request'],
      [{ ...base, redirect_uri: 'https://evil.example/' }, {}, 400, 'invalid_request'],
      [{ response_type: 'code' }, { authorization: basic('spa') }, 401, 'invalid_client'],
      [
        { ...base, code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' },
        {},
        400,
        'invalid_request',
      ],
      [{ ...base, response_type: 'token' }, {}, 400, 'unsupported_response_type'],
      [{ ...base, scope: 'admin' }, {}, 400, 'invalid_scope'],
    ]
    for (const [fields, headers, status, error] of cases) {
      const r = await pushCode(fields, headers)
      assert.equal(r.status, status, JSON.stringify(fields))
      assert.equal(r.body.error, error, JSON.stringify(fields))
      assert.equal(r.headers.get('cache-control'), 'no-store')
    }
    const wrongSecret = await post(t.issuer, '/par', base, {
      authorization: `Basic ${Buffer.from('web:wrong-secret-0123456789').toString('base64')}`,
    })
    assert.equal(wrongSecret.status, 401)
  })

  test('a DPoP proof of another key than dpop_jkt, or for another URL: invalid_dpop_proof', async () => {
    const key = await newKey()
    const jkt = await oauth.DPoP({} as oauth.Client, await newKey()).calculateThumbprint()
    const base = { response_type: 'code', redirect_uri: CALLBACK }
    const mismatch = await pushCode(
      { ...base, dpop_jkt: jkt },
      { dpop: await createProof({ key, htm: 'POST', htu: `${t.issuer}/par` }) },
    )
    assert.equal(mismatch.status, 400)
    assert.equal(mismatch.body.error, 'invalid_dpop_proof')
    const wrongUrl = await pushCode(base, {
      dpop: await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` }),
    })
    assert.equal(wrongUrl.body.error, 'invalid_dpop_proof')
    // The same key in both agrees.
    const agreeing = await pushCode(
      { ...base, dpop_jkt: await oauth.DPoP({} as oauth.Client, key).calculateThumbprint() },
      { dpop: await createProof({ key, htm: 'POST', htu: `${t.issuer}/par` }) },
    )
    assert.equal(agreeing.status, 201)
  })

  test('a client registered with require_pushed_authorization_requests must push (RFC 9126 §6)', async () => {
    const query = { response_type: 'code', client_id: 'strict', redirect_uri: CALLBACK, state: 's' }
    const page = await new Browser().get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    assert.equal(page.status, 302)
    const answer = new URL(page.location as string).searchParams
    assert.equal(answer.get('error'), 'invalid_request')
    assert.equal(answer.get('state'), 's')
  })
})

describe('par.required', () => {
  let t: TestServer
  before(async () => {
    t = await startServer({ clients, users: [ALICE], par: { required: true } })
  })
  after(() => t.close())

  test('metadata says so, and a request that was not pushed is refused at the redirect URI', async () => {
    assert.equal((await discover(t.issuer)).require_pushed_authorization_requests, true)
    const query = { response_type: 'code', client_id: 'web', redirect_uri: CALLBACK }
    const page = await new Browser().get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    assert.equal(page.status, 302)
    const answer = new URL(page.location as string).searchParams
    assert.equal(answer.get('error'), 'invalid_request')
    assert.equal(answer.get('iss'), t.issuer)
  })

  test('a pushed request goes through', async () => {
    const pushed = await post(
      t.issuer,
      '/par',
      { response_type: 'code', redirect_uri: CALLBACK },
      { authorization: basic('web') },
    )
    const query = { client_id: 'web', request_uri: pushed.body.request_uri as string }
    const callback = await authorizeInBrowser(t.issuer, query, ALICE)
    assert.ok(callback.searchParams.get('code'))
  })
})
