import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { referenceId } from '../../src/server/tokens/access-token.js'
import { authorizeInBrowser, Browser, hiddenFields } from '../helpers/browser.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const SPA_CALLBACK = 'https://spa.example/callback'
const WEB_CALLBACK = 'https://web.example/cb?tenant=1'
const ALICE = { username: 'alice', password: 'alice-password-1' }

const clients = [
  {
    client_id: 'spa',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [SPA_CALLBACK],
    first_party: true,
  },
  {
    client_id: 'web',
    client_name: 'Web <App>',
    client_secret: SECRET,
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [WEB_CALLBACK, 'https://web.example/other'],
    scope: 'read',
    access_token_format: 'reference',
  },
]
const users = [ALICE, { username: 'bob', password: 'bob-password-1' }]

let t: TestServer
let as: oauth.AuthorizationServer
const spa: oauth.Client = { client_id: 'spa' }
const web: oauth.Client = { client_id: 'web' }
const opts = { [oauth.allowInsecureRequests]: true } as const

before(async () => {
  t = await startServer({ clients, users })
  as = await oauth.processDiscoveryResponse(
    new URL(t.issuer),
    await oauth.discoveryRequest(new URL(t.issuer), { algorithm: 'oauth2', ...opts }),
  )
})
after(() => t.close())

const newKey = async () => (await generateKeyPair('ES256')) as oauth.CryptoKeyPair

/** A PKCE pair (RFC 7636 §4.1, §4.2). */
async function pkce() {
  const verifier = oauth.generateRandomCodeVerifier()
  return { verifier, challenge: await oauth.calculatePKCECodeChallenge(verifier) }
}

/** The query of an authorization request of the public client, with PKCE. */
async function spaRequest(extra: Record<string, string> = {}) {
  const { verifier, challenge } = await pkce()
  const query = {
    response_type: 'code',
    client_id: 'spa',
    redirect_uri: SPA_CALLBACK,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: oauth.generateRandomState(),
    ...extra,
  }
  return { query, verifier }
}

/** Logs alice in for `query`; the code from the callback. */
async function codeFor(query: Record<string, string>): Promise<string> {
  const callback = await authorizeInBrowser(t.issuer, query, ALICE)
  const code = callback.searchParams.get('code')
  assert.ok(code, `no code in ${callback}`)
  return code
}

async function token(fields: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const proof = async (key: oauth.CryptoKeyPair) =>
  createProof({ key, htm: 'POST', htu: `${t.issuer}/token` })

const basic = `Basic ${Buffer.from(`web:${SECRET}`).toString('base64')}`

/** The redirect of a refused GET /authorize, as query parameters. */
async function refused(query: Record<string, string>): Promise<URLSearchParams> {
  const page = await new Browser().get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
  assert.equal(page.status, 302, page.html)
  const location = new URL(page.location as string)
  return location.searchParams
}

describe('the code flow, driven by oauth4webapi and the login form', () => {
  test('public client, PKCE and dpop_jkt: a DPoP-bound token for the user (RFC 9449 §10)', async () => {
    const keyPair = await newKey()
    const DPoP = oauth.DPoP(spa, keyPair)
    const jkt = await DPoP.calculateThumbprint()
    const { query, verifier } = await spaRequest({ scope: 'read write', dpop_jkt: jkt })
    const callback = await authorizeInBrowser(t.issuer, query, ALICE)
    assert.equal(`${callback.origin}${callback.pathname}`, SPA_CALLBACK)
    // Checks iss (RFC 9207) and state.
    const params = oauth.validateAuthResponse(as, spa, callback, query.state)
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      spa,
      oauth.None(),
      params,
      SPA_CALLBACK,
      verifier,
      { DPoP, ...opts },
    )
    assert.equal(response.headers.get('cache-control'), 'no-store')
    const result = await oauth.processAuthorizationCodeResponse(as, spa, response)
    assert.equal(result.token_type, 'dpop')
    assert.equal(result.scope, 'read write')
    assert.equal(typeof result.refresh_token, 'string')
    const claims = decodeJwt(result.access_token)
    assert.deepEqual(claims.cnf, { jkt })
    assert.equal(claims.sub, 'alice')
    assert.equal(claims.client_id, 'spa')
    assert.equal(claims.iss, t.issuer)
  })

  test('confidential client: consent page, then a code; the query of the redirect URI is kept', async () => {
    const browser = new Browser()
    const state = 'xyz'
    const query = { response_type: 'code', client_id: 'web', redirect_uri: WEB_CALLBACK, state }
    const login = await browser.get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    assert.equal(login.status, 200)
    assert.match(login.html, /Web &lt;App&gt;/)
    const consent = await browser.submit(login, ALICE)
    assert.equal(consent.status, 200)
    assert.match(consent.html, /<li><code>read<\/code><\/li>/)
    assert.match(consent.html, /name="decision" value="deny"/)
    const done = await browser.submit(consent, { decision: 'allow' })
    assert.equal(done.status, 303)
    const callback = new URL(done.location as string)
    assert.equal(callback.searchParams.get('tenant'), '1')
    const params = oauth.validateAuthResponse(as, web, callback, state)
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      web,
      oauth.ClientSecretBasic(SECRET),
      params,
      WEB_CALLBACK,
      oauth.nopkce,
      opts,
    )
    const result = await oauth.processAuthorizationCodeResponse(as, web, response)
    assert.equal(result.token_type, 'bearer')
    assert.equal(result.scope, 'read')
    const stored = await t.server.context.store.getAccessToken(referenceId(result.access_token))
    assert.equal(stored?.sub, 'alice')
  })

  test('Deny on the consent page: access_denied at the redirect URI, with state and iss', async () => {
    const query = {
      response_type: 'code',
      client_id: 'web',
      redirect_uri: WEB_CALLBACK,
      state: 's1',
    }
    const callback = await authorizeInBrowser(t.issuer, query, { ...ALICE, consent: 'deny' })
    assert.equal(callback.searchParams.get('error'), 'access_denied')
    assert.equal(callback.searchParams.get('state'), 's1')
    assert.equal(callback.searchParams.get('iss'), t.issuer)
    assert.equal(callback.searchParams.get('code'), null)
  })

  test('metadata lists the authorization and PAR endpoints, code, S256 and iss', () => {
    assert.equal(as.authorization_endpoint, `${t.issuer}/authorize`)
    assert.equal(as.pushed_authorization_request_endpoint, `${t.issuer}/par`)
    assert.equal(as.require_pushed_authorization_requests, false)
    assert.deepEqual(as.response_types_supported, ['code'])
    assert.deepEqual(as.response_modes_supported, ['query'])
    assert.deepEqual(as.code_challenge_methods_supported, ['S256'])
    assert.equal(as.authorization_response_iss_parameter_supported, true)
    assert.ok(as.grant_types_supported?.includes('authorization_code'))
    assert.ok(as.grant_types_supported?.includes('refresh_token'))
  })
})

describe('the authorization endpoint refuses', () => {
  test('an unregistered redirect_uri: an HTML page, never a redirect; input is escaped', async () => {
    const { query } = await spaRequest({
      redirect_uri: 'https://evil.example/<script>alert(1)</script>',
      state: '<script>alert(2)</script>',
    })
    const page = await new Browser().get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    assert.equal(page.status, 400)
    assert.equal(page.location, undefined)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.doesNotMatch(page.html, /<script/i)
    assert.match(page.html, /https:\/\/evil\.example\/&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    // A prefix of a registered URI is not it: the match is exact.
    const prefix = await new Browser().get(
      `${t.issuer}/authorize?${new URLSearchParams({ ...query, redirect_uri: `${SPA_CALLBACK}/x` })}`,
    )
    assert.equal(prefix.status, 400)
    assert.equal(prefix.location, undefined)
  })

  test('redirect_uri may be left out only when the client has exactly one', async () => {
    const { query } = await spaRequest()
    const { redirect_uri: _, ...withoutRedirect } = query
    const page = await new Browser().get(
      `${t.issuer}/authorize?${new URLSearchParams(withoutRedirect)}`,
    )
    assert.equal(page.status, 200)
    const web = await new Browser().get(
      `${t.issuer}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'web' })}`,
    )
    assert.equal(web.status, 400)
    assert.equal(web.location, undefined)
  })

  test('an unknown client: an HTML page', async () => {
    const { query } = await spaRequest({ client_id: 'nobody' })
    const page = await new Browser().get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    assert.equal(page.status, 400)
    assert.equal(page.location, undefined)
    assert.match(page.html, /not registered/)
  })

  test('plain PKCE, or a challenge without method (plain): invalid_request (RFC 7636 §4.4.1)', async () => {
    const { query } = await spaRequest({ code_challenge_method: 'plain' })
    const answer = await refused(query)
    assert.equal(answer.get('error'), 'invalid_request')
    assert.equal(answer.get('state'), query.state)
    assert.equal(answer.get('iss'), t.issuer)
    const { code_challenge_method: _, ...noMethod } = (await spaRequest()).query
    assert.equal((await refused(noMethod)).get('error'), 'invalid_request')
  })

  test('a public client without PKCE: invalid_request', async () => {
    const { query } = await spaRequest()
    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = query
    const answer = await refused(noPkce)
    assert.equal(answer.get('error'), 'invalid_request')
    assert.match(answer.get('error_description') ?? '', /code_challenge/)
  })

  test('other bad parameters go back to the redirect URI', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ scope: 'admin' }, 'invalid_scope'],
      [{ dpop_jkt: 'not-a-thumbprint' }, 'invalid_request'],
      [{ response_mode: 'fragment' }, 'invalid_request'],
      [{ code_challenge: 'short' }, 'invalid_request'],
    ]
    for (const [extra, error] of cases) {
      const { query } = await spaRequest(extra)
      assert.equal((await refused(query)).get('error'), error, JSON.stringify(extra))
    }
    const { query } = await spaRequest()
    const repeated = `${new URLSearchParams(query)}&scope=read&scope=write`
    const page = await new Browser().get(`${t.issuer}/authorize?${repeated}`)
    assert.equal(new URL(page.location as string).searchParams.get('error'), 'invalid_request')
  })
})

describe('the login form', () => {
  test('security headers and the cookie (CSP, frame-ancestors, no-store, no-referrer)', async () => {
    const { query } = await spaRequest()
    const page = await new Browser().get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    assert.equal(page.status, 200)
    const csp = page.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /style-src 'unsafe-inline'/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.match(csp, /base-uri 'none'/)
    // The form's redirect to the client is allowed too: browsers apply form-action to it.
    assert.match(csp, /form-action 'self' https:\/\/spa\.example;/)
    assert.equal(page.headers.get('x-frame-options'), 'DENY')
    assert.equal(page.headers.get('cache-control'), 'no-store')
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer')
    const cookie = page.headers.getSetCookie()[0] ?? ''
    assert.match(cookie, /HttpOnly/)
    assert.match(cookie, /SameSite=Lax/)
    assert.match(cookie, /Path=\/authorize/)
    assert.match(page.html, /<input type="password" id="password" name="password"/)
  })

  test('a wrong password shows the form again with an error, and no code', async () => {
    const browser = new Browser()
    const { query } = await spaRequest()
    const login = await browser.get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    const again = await browser.submit(login, { username: 'alice', password: 'wrong-password' })
    assert.equal(again.status, 200)
    assert.equal(again.location, undefined)
    assert.match(again.html, /Wrong username or password/)
    assert.match(again.html, /value="alice"/)
    // An unknown user gets the same answer.
    const unknown = await browser.submit(again, { username: 'mallory', password: 'whatever-1' })
    assert.match(unknown.html, /Wrong username or password/)
    // The same transaction still works with the right password.
    const done = await browser.submit(unknown, ALICE)
    assert.equal(done.status, 303)
    assert.ok(new URL(done.location as string).searchParams.get('code'))
  })

  test('5 failures for a username: 429 with Retry-After, even with the right password', async () => {
    const browser = new Browser()
    const { query } = await spaRequest()
    let page = await browser.get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    for (let i = 0; i < 5; i++) {
      page = await browser.submit(page, { username: 'bob', password: `wrong-${i}` })
      assert.equal(page.status, 200)
    }
    const blocked = await browser.submit(page, { username: 'bob', password: 'bob-password-1' })
    assert.equal(blocked.status, 429)
    assert.ok(Number(blocked.headers.get('retry-after')) > 0)
    assert.equal(blocked.location, undefined)
    assert.match(blocked.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/)
    // Another user is not blocked.
    assert.equal((await browser.submit(page, ALICE)).status, 303)
  })

  test('a missing or wrong CSRF token, or another browser: 403', async () => {
    const browser = new Browser()
    const { query } = await spaRequest()
    const login = await browser.get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    const { tx, csrf_token } = hiddenFields(login.html)
    const url = `${t.issuer}/authorize`
    const missing = await browser.post(url, { tx: tx as string, ...ALICE })
    assert.equal(missing.status, 403)
    assert.equal(missing.location, undefined)
    const wrong = await browser.post(url, {
      tx: tx as string,
      csrf_token: 'x'.repeat(43),
      ...ALICE,
    })
    assert.equal(wrong.status, 403)
    // The right token from a browser without the cookie (login CSRF).
    const other = await new Browser().post(url, {
      tx: tx as string,
      csrf_token: csrf_token as string,
      ...ALICE,
    })
    assert.equal(other.status, 403)
    // An unknown transaction.
    const unknown = await browser.post(url, { tx: 'nope', csrf_token: csrf_token as string })
    assert.equal(unknown.status, 400)
    // The transaction is intact.
    assert.equal((await browser.submit(login, ALICE)).status, 303)
  })

  test('a transaction ends with its code: posting the form again is refused', async () => {
    const browser = new Browser()
    const { query } = await spaRequest()
    const login = await browser.get(`${t.issuer}/authorize?${new URLSearchParams(query)}`)
    assert.equal((await browser.submit(login, ALICE)).status, 303)
    assert.equal((await browser.submit(login, ALICE)).status, 400)
  })
})

describe('redeeming a code', () => {
  test('a wrong code_verifier: invalid_grant', async () => {
    const { query } = await spaRequest()
    const code = await codeFor(query)
    const r = await token({
      grant_type: 'authorization_code',
      client_id: 'spa',
      code,
      redirect_uri: SPA_CALLBACK,
      code_verifier: oauth.generateRandomCodeVerifier(),
    })
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'invalid_grant')
  })

  test('a missing code_verifier, another redirect_uri, another client: invalid_grant', async () => {
    for (const change of [
      { code_verifier: undefined },
      { redirect_uri: `${SPA_CALLBACK}x` },
      { client_id: 'web' },
    ]) {
      const { query, verifier } = await spaRequest()
      const code = await codeFor(query)
      const fields: Record<string, string> = {
        grant_type: 'authorization_code',
        client_id: 'spa',
        code,
        redirect_uri: SPA_CALLBACK,
        code_verifier: verifier,
      }
      for (const [name, value] of Object.entries(change)) {
        if (value === undefined) delete fields[name]
        else fields[name] = value
      }
      const headers: Record<string, string> = {}
      if (fields.client_id === 'web') {
        delete fields.client_id
        headers.authorization = basic
      }
      const r = await token(fields, headers)
      assert.equal(r.body.error, 'invalid_grant', JSON.stringify(change))
    }
  })

  test('a code_verifier for a code issued without PKCE: invalid_grant (downgrade)', async () => {
    const code = await codeFor({
      response_type: 'code',
      client_id: 'web',
      redirect_uri: WEB_CALLBACK,
    })
    const r = await token(
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: WEB_CALLBACK,
        code_verifier: oauth.generateRandomCodeVerifier(),
      },
      { authorization: basic },
    )
    assert.equal(r.body.error, 'invalid_grant')
  })

  test('a code used twice: invalid_grant, and the tokens of the first use are revoked', async () => {
    const code = await codeFor({
      response_type: 'code',
      client_id: 'web',
      redirect_uri: WEB_CALLBACK,
    })
    const fields = { grant_type: 'authorization_code', code, redirect_uri: WEB_CALLBACK }
    const first = await token(fields, { authorization: basic })
    assert.equal(first.status, 200)
    const accessId = referenceId(first.body.access_token as string)
    assert.ok(await t.server.context.store.getAccessToken(accessId))
    const second = await token(fields, { authorization: basic })
    assert.equal(second.status, 400)
    assert.equal(second.body.error, 'invalid_grant')
    // RFC 6749 §4.1.2: what the code issued is revoked.
    assert.equal(await t.server.context.store.getAccessToken(accessId), undefined)
    const refresh = await token(
      { grant_type: 'refresh_token', refresh_token: first.body.refresh_token as string },
      { authorization: basic },
    )
    assert.equal(refresh.status, 400)
    assert.equal(refresh.body.error, 'invalid_grant')
  })

  test('two concurrent redemptions of one code: exactly one 200', async () => {
    const { query, verifier } = await spaRequest()
    const code = await codeFor(query)
    const fields = {
      grant_type: 'authorization_code',
      client_id: 'spa',
      code,
      redirect_uri: SPA_CALLBACK,
      code_verifier: verifier,
    }
    const results = await Promise.all([token(fields), token(fields)])
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 400])
    assert.equal(results.find((r) => r.status === 400)?.body.error, 'invalid_grant')
  })

  test('a dpop_jkt code without a proof, or with another key: invalid_dpop_proof', async () => {
    const bound = await newKey()
    const jkt = await oauth.DPoP(spa, bound).calculateThumbprint()
    for (const dpop of [undefined, await proof(await newKey())]) {
      const { query, verifier } = await spaRequest({ dpop_jkt: jkt })
      const code = await codeFor(query)
      const r = await token(
        {
          grant_type: 'authorization_code',
          client_id: 'spa',
          code,
          redirect_uri: SPA_CALLBACK,
          code_verifier: verifier,
        },
        dpop ? { dpop } : {},
      )
      assert.equal(r.status, 400)
      assert.equal(r.body.error, 'invalid_dpop_proof', dpop ? 'another key' : 'no proof')
    }
  })
})

describe('with DPoP nonces required (RFC 9449 §8)', () => {
  let n: TestServer
  let nas: oauth.AuthorizationServer
  before(async () => {
    n = await startServer({ clients, users, dpop: { nonce: 'required' } })
    nas = await oauth.processDiscoveryResponse(
      new URL(n.issuer),
      await oauth.discoveryRequest(new URL(n.issuer), { algorithm: 'oauth2', ...opts }),
    )
  })
  after(() => n.close())

  test('a use_dpop_nonce answer does not spend the code: the retry succeeds', async () => {
    const DPoP = oauth.DPoP(spa, await newKey())
    const { query, verifier } = await spaRequest({ dpop_jkt: await DPoP.calculateThumbprint() })
    const callback = await authorizeInBrowser(n.issuer, query, ALICE)
    const params = oauth.validateAuthResponse(nas, spa, callback, query.state)
    const redeem = async () =>
      oauth.processAuthorizationCodeResponse(
        nas,
        spa,
        await oauth.authorizationCodeGrantRequest(
          nas,
          spa,
          oauth.None(),
          params,
          SPA_CALLBACK,
          verifier,
          { DPoP, ...opts },
        ),
      )
    await assert.rejects(redeem(), (err) => oauth.isDPoPNonceError(err))
    const result = await redeem()
    assert.equal(result.token_type, 'dpop')
  })
})
