// Forward-auth: the sub-requests of nginx auth_request (X-Original-Method/-URI) and of Traefik
// ForwardAuth and Caddy forward_auth (X-Forwarded-Method/-Uri), as those proxies send them: a
// GET to the gateway carrying the original request's fields. The gateway must verify the
// original request, never the sub-request.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { startServer, type TestServer } from '../../helpers/server.js'
import {
  AS_CONFIG,
  call,
  type DPoPClient,
  dpopClient,
  type RunningGateway,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers.js'

const ALGS = 'algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"'
const ORIGIN = 'https://api.example'

let as: TestServer
let gw: RunningGateway
let client: DPoPClient
let auth: string

before(async () => {
  as = await startServer(AS_CONFIG)
  gw = await startGateway(as, { mode: 'forward-auth', trustProxy: ['127.0.0.1'] })
  client = await dpopClient(as)
  auth = `${gw.url}/_keybound/auth`
})
after(async () => {
  await gw.close()
  await as.close()
})

const json = (body: string) => JSON.parse(body) as Record<string, unknown>

/** What nginx's auth_request sends, with the snippet of docs/resource/gateway.md. */
async function nginx(method: string, uri: string, htu = `${ORIGIN}${uri.split('?')[0]}`) {
  return [
    ['X-Original-Method', method],
    ['X-Original-URI', uri],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', 'api.example'],
    ['Authorization', `DPoP ${client.token}`],
    ['DPoP', await client.proof(method, htu)],
  ] as [string, string][]
}

/** What Traefik's ForwardAuth (and Caddy's forward_auth) send. */
async function traefik(method: string, uri: string) {
  return [
    ['X-Forwarded-Method', method],
    ['X-Forwarded-Uri', uri],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', 'api.example'],
    ['X-Forwarded-For', '203.0.113.9'],
    ['Authorization', `DPoP ${client.token}`],
    ['DPoP', await client.proof(method, `${ORIGIN}${uri.split('?')[0]}`)],
  ] as [string, string][]
}

describe('forward-auth: the original request is verified', () => {
  test('nginx: 200 with the identity headers, for a POST the sub-request only describes', async () => {
    const res = await call(auth, { headers: await nginx('POST', '/orders?id=1') })
    assert.equal(res.status, 200, res.body)
    assert.equal(res.body, '')
    assert.equal(res.headers['content-length'], '0')
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers['x-keybound-subject'], 'svc')
    assert.equal(res.headers['x-keybound-client-id'], 'svc')
    assert.equal(res.headers['x-keybound-scope'], 'read write')
    assert.equal(res.headers['x-keybound-binding'], 'dpop')
    assert.equal(
      res.headers['x-keybound-jkt'],
      (decodeJwt(client.token).cnf as { jkt: string }).jkt,
    )
  })

  test('Traefik / Caddy: 200 with the identity headers', async () => {
    const res = await call(auth, { headers: await traefik('DELETE', '/orders/9') })
    assert.equal(res.status, 200, res.body)
    assert.equal(res.headers['x-keybound-subject'], 'svc')
    assert.equal(res.headers['x-keybound-binding'], 'dpop')
  })

  test('a proof of the sub-request itself (what a naive verifier would check) is refused', async () => {
    const res = await call(auth, {
      headers: [
        ['X-Original-Method', 'POST'],
        ['X-Original-URI', '/orders'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'api.example'],
        ['Authorization', `DPoP ${client.token}`],
        ['DPoP', await client.proof('GET', auth)],
      ],
    })
    assert.equal(res.status, 401)
    assert.deepEqual(json(res.body), {
      error: 'invalid_dpop_proof',
      error_description: 'DPoP proof "htm" does not match the request',
    })
  })

  test('a proof for another URL than the original is refused', async () => {
    const res = await call(auth, {
      headers: await nginx('GET', '/admin', `${ORIGIN}/public`),
    })
    assert.equal(res.status, 401)
    assert.equal(json(res.body).error, 'invalid_dpop_proof')
  })

  test('a replayed proof is refused', async () => {
    const headers = await traefik('GET', '/once')
    assert.equal((await call(auth, { headers })).status, 200)
    const replay = await call(auth, { headers })
    assert.equal(replay.status, 401)
    assert.deepEqual(json(replay.body), {
      error: 'invalid_dpop_proof',
      error_description: 'DPoP proof has been used before',
    })
  })
})

describe('forward-auth: refusals as the proxies can pass them on', () => {
  test('no token: 401 with the bare challenge, no body', async () => {
    const res = await call(auth, {
      headers: [
        ['X-Original-Method', 'GET'],
        ['X-Original-URI', '/orders'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'api.example'],
      ],
    })
    assert.equal(res.status, 401)
    assert.equal(res.headers['www-authenticate'], `DPoP ${ALGS}`)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.body, '')
  })

  test('400 invalid_request becomes 401 (nginx passes only 401 and 403), the code stays', async () => {
    const headers = (await nginx('GET', '/orders')).map(([name, value]): [string, string] =>
      name === 'Authorization' ? [name, `Bearer ${client.token}`] : [name, value],
    )
    const res = await call(auth, { headers })
    assert.equal(res.status, 401)
    assert.equal(
      res.headers['www-authenticate'],
      `DPoP ${ALGS}, error="invalid_request", error_description="a DPoP proof requires the DPoP scheme"`,
    )
    assert.deepEqual(json(res.body), {
      error: 'invalid_request',
      error_description: 'a DPoP proof requires the DPoP scheme',
    })
  })

  test('a peer not in trustProxy gets 403, whatever it claims', async () => {
    const res = await call(auth, {
      headers: await nginx('GET', '/orders'),
      localAddress: '127.0.0.2',
    })
    assert.equal(res.status, 403)
    assert.equal(res.headers['www-authenticate'], undefined)
    assert.equal(res.headers['x-keybound-subject'], undefined)
    assert.equal(
      res.body,
      '{"error":"forbidden","error_description":"forward-auth requests are answered only to trusted proxies"}',
    )
  })

  test('a proxy that sends no usable original request: 400 with a fixed body, and a log line', async () => {
    const fixed =
      '{"error":"invalid_request","error_description":"the proxy did not send a usable original method, URI and host"}'
    const token: [string, string][] = [['Authorization', `DPoP ${client.token}`]]
    const cases: { headers: [string, string][]; problem: string }[] = [
      {
        headers: [['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'api.example'], ...token],
        problem: 'no original method and URI (X-Forwarded-Method/-Uri or X-Original-Method/-URI)',
      },
      {
        // A client added X-Forwarded-Uri to what nginx passes on: the two disagree.
        headers: [...(await nginx('GET', '/orders')), ['X-Forwarded-Uri', '/public']],
        problem: 'X-Forwarded-Method/-Uri and X-Original-Method/-URI disagree',
      },
      {
        headers: [...(await nginx('GET', '/orders')), ['X-Original-URI', '/public']],
        problem: 'the original method or URI field is repeated',
      },
      {
        headers: [['X-Original-Method', 'GET'], ['X-Original-URI', '/orders'], ...token],
        problem: 'no X-Forwarded-Proto and X-Forwarded-Host, and publicUrl is not set',
      },
      {
        headers: [
          ['X-Original-Method', 'GET'],
          ['X-Original-URI', '/orders'],
          ['X-Forwarded-Proto', 'https'],
          ['X-Forwarded-Host', 'api.example/evil'],
          ...token,
        ],
        problem: 'X-Forwarded-Proto or X-Forwarded-Host is malformed',
      },
    ]
    for (const c of cases) {
      const res = await call(auth, { headers: c.headers })
      assert.equal(res.status, 400, c.problem)
      assert.equal(res.body, fixed)
      assert.equal(gw.logger.lines.filter((line) => line.problem).at(-1)?.problem, c.problem)
    }
  })

  test('DPoP-Nonce is handed out with use_dpop_nonce (for nginx to pass with auth_request_set)', async () => {
    const strict = await startGateway(as, {
      mode: 'forward-auth',
      trustProxy: ['127.0.0.1'],
      publicUrl: `${ORIGIN}/ignored-path`,
      audience: 'https://api.example',
      dpop: { nonce: 'required', nonceSecret: Buffer.alloc(32, 3).toString('base64url') },
    })
    try {
      const url = `${strict.url}/_keybound/auth`
      // publicUrl gives the origin; no X-Forwarded-Proto/-Host needed, and its path is not
      // put before the original URI, which is complete.
      const original: [string, string][] = [
        ['X-Original-Method', 'GET'],
        ['X-Original-URI', '/orders'],
        ['Authorization', `DPoP ${client.token}`],
      ]
      const first = await call(url, {
        headers: [...original, ['DPoP', await client.proof('GET', `${ORIGIN}/orders`)]],
      })
      assert.equal(first.status, 401)
      assert.equal(json(first.body).error, 'use_dpop_nonce')
      const nonce = first.headers['dpop-nonce'] as string
      assert.equal(typeof nonce, 'string')
      const retry = await call(url, {
        headers: [...original, ['DPoP', await client.proof('GET', `${ORIGIN}/orders`, nonce)]],
      })
      assert.equal(retry.status, 200, retry.body)
      assert.equal(retry.headers['x-keybound-subject'], 'svc')
    } finally {
      await strict.close()
    }
  })
})

describe('forward-auth: modes and metrics', () => {
  test('in forward-auth mode nothing is proxied: other paths are 404', async () => {
    const res = await call(`${gw.url}/orders`)
    assert.equal(res.status, 404)
    assert.equal(res.body, '{"error":"not_found","error_description":"no such endpoint"}')
  })

  test('both: one gateway proxies and answers forward-auth; the metrics count each answer', async () => {
    const upstream: Upstream = await startUpstream()
    const both = await startGateway(as, {
      mode: 'both',
      upstream: upstream.url,
      trustProxy: ['127.0.0.1'],
      paths: { forwardAuth: '/auth' },
    })
    try {
      const proxied = `${both.url}/orders`
      const res = await call(proxied, {
        headers: [
          ['Authorization', `DPoP ${client.token}`],
          ['DPoP', await client.proof('GET', proxied)],
        ],
      })
      assert.equal(res.status, 200, res.body)
      assert.equal(upstream.requests.length, 1)
      const asked = await call(`${both.url}/auth`, { headers: await traefik('GET', '/x') })
      assert.equal(asked.status, 200, asked.body)
      assert.equal((await call(`${both.url}/auth`, { localAddress: '127.0.0.2' })).status, 403)
      assert.equal(upstream.requests.length, 1, 'forward-auth requests are not proxied')
      const metrics = (await call(`${both.url}/metrics`)).body.split('\n')
      for (const line of [
        'keybound_gateway_forward_auth_total{outcome="allowed"} 1',
        'keybound_gateway_forward_auth_total{outcome="untrusted_peer"} 1',
        'keybound_resource_requests_total{outcome="verified",binding="dpop",reason="ok"} 2',
        'keybound_gateway_upstream_responses_total{outcome="2xx"} 1',
      ]) {
        assert.ok(metrics.includes(line), `${line} in:\n${metrics.join('\n')}`)
      }
    } finally {
      await both.close()
      await upstream.close()
    }
  })
})
