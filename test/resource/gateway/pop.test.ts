/**
 * Signed requests (PoP tokens) through `keybound gateway`: tokens from a real keybound
 * authorization server, bound with `cnf.jwk`; requests signed by `popFetch`, through the gateway
 * to a recording upstream. A signature that covers the body is checked on the whole body,
 * which then goes upstream unchanged.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { popFetch } from '../../../src/client/pop-fetch.js'
import { startServer, type TestServer } from '../../helpers/server.js'
import {
  AUDIENCE,
  type RunningGateway,
  SECRET,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers.js'

const SIGN = { method: true, host: true, path: true, query: true, body: true } as const

let as: TestServer
let upstream: Upstream
let gateway: RunningGateway
let key: KeyObject
let token: string

before(async () => {
  as = await startServer({
    accessToken: { audience: AUDIENCE },
    clients: [
      {
        client_id: 'pop-client',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        token_binding: 'pop',
      },
    ],
  })
  upstream = await startUpstream()
  gateway = await startGateway(as, {
    upstream: upstream.url,
    pop: { required: ['m', 'u', 'p', 'q', 'h', 'b'], headerNames: ['x-tenant'], maxBody: 1024 },
  })
  key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const { d, p, q, dp, dq, qi, ...publicJwk } = key.export({ format: 'jwk' })
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`pop-client:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      token_type: 'pop',
      alg: 'RS256',
      key: Buffer.from(JSON.stringify({ ...publicJwk, alg: 'RS256' })).toString('base64url'),
    }),
  })
  const body = (await res.json()) as { access_token: string }
  assert.equal(res.status, 200, JSON.stringify(body))
  token = body.access_token
})
after(async () => {
  await gateway.close()
  await upstream.close()
  await as.close()
})

const signed = (sign: Parameters<typeof popFetch>[0]['sign'] = SIGN) =>
  popFetch({ key, accessToken: token, sign: { ...sign, headers: ['x-tenant'] } })

const refusals = () =>
  gateway.logger.lines.filter((l) => l.msg === 'protected resource request refused')

describe('the gateway and signed requests', () => {
  test('a request signed over method, host, path, query, header and body goes upstream unchanged', async () => {
    const before = upstream.requests.length
    const body = JSON.stringify({ item: 'book', qty: 2 })
    const res = await signed()(`${gateway.url}/orders?page=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'acme' },
      body,
    })
    assert.equal(res.status, 200, await res.clone().text())
    assert.deepEqual(await res.json(), { ok: true })
    const seen = upstream.requests.at(-1)
    assert.equal(upstream.requests.length, before + 1)
    assert.equal(seen?.body.toString(), body)
    assert.equal(seen?.url, '/orders?page=2')
    assert.equal(seen?.headers['x-keybound-binding'], 'pop')
    assert.equal(seen?.headers['x-keybound-client-id'], 'pop-client')
    assert.equal(seen?.headers.authorization, undefined)
  })

  test('a GET without a body passes: the required body is met by none', async () => {
    const res = await signed()(`${gateway.url}/orders?page=3`, { headers: { 'x-tenant': 'acme' } })
    assert.equal(res.status, 200)
  })

  test('a body other than the one signed is refused and never reaches the upstream', async () => {
    const before = upstream.requests.length
    let authorization = ''
    await popFetch({
      key,
      accessToken: token,
      sign: { ...SIGN, headers: ['x-tenant'] },
      fetch: async (_input, init) => {
        authorization = new Headers(init?.headers).get('authorization') ?? ''
        return new Response(null, { status: 204 })
      },
    })(`${gateway.url}/orders`, {
      method: 'POST',
      headers: { 'x-tenant': 'acme' },
      body: 'amount=1',
    })
    const res = await fetch(`${gateway.url}/orders`, {
      method: 'POST',
      headers: { authorization, 'x-tenant': 'acme', 'content-type': 'text/plain' },
      body: 'amount=1000',
    })
    assert.equal(res.status, 401)
    assert.match(res.headers.get('www-authenticate') ?? '', /^PoP error="invalid_token"/)
    assert.equal(upstream.requests.length, before)
    assert.equal(refusals().at(-1)?.reason, 'b_mismatch')
  })

  test('a required header not covered is refused (part_missing)', async () => {
    const res = await popFetch({ key, accessToken: token, sign: SIGN })(`${gateway.url}/orders`, {
      headers: { 'x-tenant': 'acme' },
    })
    assert.equal(res.status, 401)
    assert.equal(refusals().at(-1)?.reason, 'part_missing')
  })

  test('a body over pop.maxBody is 413, not buffered', async () => {
    const res = await signed()(`${gateway.url}/orders`, {
      method: 'POST',
      headers: { 'x-tenant': 'acme' },
      body: 'x'.repeat(2048),
    })
    assert.equal(res.status, 413)
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_request')
  })

  test('the PoP-bound token used as a bearer token is refused', async () => {
    const res = await fetch(`${gateway.url}/orders`, {
      headers: { authorization: `Bearer ${token}` },
    })
    assert.equal(res.status, 401)
    assert.match(res.headers.get('www-authenticate') ?? '', /^PoP error="invalid_token"/)
    assert.equal(refusals().at(-1)?.reason, 'pop_bound_as_bearer')
  })

  test('a request without credentials is offered the PoP scheme', async () => {
    const res = await fetch(`${gateway.url}/orders`)
    assert.equal(res.status, 401)
    assert.match(res.headers.get('www-authenticate') ?? '', /, PoP$/)
  })
})

describe('forward-auth and signed requests', () => {
  test("nginx's sub-request: the signature is checked against the original method, host, path and query", async () => {
    const auth = await startGateway(as, {
      mode: 'forward-auth',
      trustProxy: ['127.0.0.1'],
      pop: { required: ['m', 'u', 'p', 'q'] },
    })
    try {
      const original = 'https://api.example/orders/7?expand=items'
      let authorization = ''
      await popFetch({
        key,
        accessToken: token,
        sign: { method: true, host: true, path: true, query: true },
        fetch: async (_input, init) => {
          authorization = new Headers(init?.headers).get('authorization') ?? ''
          return new Response(null, { status: 204 })
        },
      })(original, { method: 'DELETE' })
      const subRequest = (uri: string) =>
        fetch(`${auth.url}/_keybound/auth`, {
          headers: {
            'x-original-method': 'DELETE',
            'x-original-uri': uri,
            'x-forwarded-proto': 'https',
            'x-forwarded-host': 'api.example',
            authorization,
          },
        })
      const ok = await subRequest('/orders/7?expand=items')
      assert.equal(ok.status, 200)
      assert.equal(ok.headers.get('x-keybound-binding'), 'pop')
      // The same signature for another original query is refused (a replay would be too).
      const other = await subRequest('/orders/7?expand=all')
      assert.equal(other.status, 401)
      assert.match(other.headers.get('www-authenticate') ?? '', /^PoP error="invalid_token"/)
    } finally {
      await auth.close()
    }
  })
})
