/**
 * Signed-request PoP tokens at the resource server (draft-ietf-oauth-signed-http-request §5;
 * pop-wire-format.md §3): tokens bound with `cnf.jwk` by a real keybound authorization server,
 * requests signed with the binding's signer and sent over real HTTP to a node:http API.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { CompactSign } from 'jose'
import { createPopSignature, type PopSignParts } from '../../src/bindings/pop/sign.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'
import { protect } from '../../src/resource/adapters/node-http.js'
import { createVerifierMetrics } from '../../src/resource/metrics.js'
import type { VerifierOptions } from '../../src/resource/options.js'
import { createVerifier } from '../../src/resource/verifier.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const API = 'https://api.example'

let as: TestServer
before(async () => {
  as = await startServer({
    accessToken: { audience: API },
    clients: [
      { client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials'] },
      {
        client_id: 'ref',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        access_token_format: 'reference',
      },
      {
        client_id: 'rs',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        introspection: true,
      },
    ],
  })
})
after(() => as.close())

type Alg = 'RS256' | 'PS256' | 'ES256' | 'ES384'
function keyFor(alg: Alg): KeyObject {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  if (alg === 'ES384') return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
}

/** A PoP token from the server's token endpoint, bound to `key` (wire format §1). */
async function popToken(key: KeyObject, alg: Alg, client = 'svc'): Promise<string> {
  const jwk = { ...key.export({ format: 'jwk' }), alg }
  const { d, p, q, dp, dq, qi, ...publicJwk } = jwk
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client}:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      token_type: 'pop',
      alg,
      key: Buffer.from(JSON.stringify(publicJwk)).toString('base64url'),
    }),
  })
  const body = (await res.json()) as { access_token: string; token_type: string }
  assert.equal(res.status, 200, JSON.stringify(body))
  assert.equal(body.token_type, 'pop')
  return body.access_token
}

async function bearerToken(): Promise<string> {
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  })
  return ((await res.json()) as { access_token: string }).access_token
}

interface Api {
  url: string
  close(): Promise<void>
  /** The refusals the verifier logged: reason and detail. */
  log: Record<string, unknown>[]
}

/** A node:http API protected by a verifier with `options`; it answers what it verified. */
async function startApi(options: Partial<VerifierOptions> = {}): Promise<Api> {
  const log: Record<string, unknown>[] = []
  const verifier = createVerifier({
    issuer: as.issuer,
    audience: API,
    replayCache: createMemoryReplayCache(),
    logger: { warn: (entry) => log.push(entry) },
    ...options,
  } as VerifierOptions)
  const server: Server = createServer(
    protect(verifier, (req, res) => {
      const rawBody = (req as { rawBody?: Buffer }).rawBody
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          binding: req.keybound.binding,
          sub: req.keybound.subject,
          covered: req.keybound.signature?.covered,
          rawBody: rawBody?.toString(),
        }),
      )
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

interface Call {
  method?: string
  path?: string
  headers?: Record<string, string>
  body?: string
}

/** Sends `call` to the API, signed over `sign` (the request's own parts unless overridden). */
async function send(
  api: Api,
  key: KeyObject,
  token: string,
  call: Call = {},
  sign: (request: PopSignParts) => PopSignParts = (r) => r,
  alg?: Alg,
) {
  const method = call.method ?? 'GET'
  const path = call.path ?? '/orders/42?x=1&y=2'
  const host = new URL(api.url).host
  const headers = call.headers ?? {}
  const parts = sign({
    method,
    path: path.split('?')[0] as string,
    query: new URL(path, api.url).search,
    host,
    headers,
    ...(call.body === undefined ? {} : { body: call.body }),
  })
  const jws = await createPopSignature({
    key,
    ...(alg ? { alg } : {}),
    accessToken: token,
    sign: parts,
  })
  return fetchApi(api, `PoP ${jws}`, { ...call, method, path, headers })
}

async function fetchApi(api: Api, authorization: string | undefined, call: Call) {
  const res = await fetch(`${api.url}${call.path ?? '/orders/42?x=1&y=2'}`, {
    method: call.method ?? 'GET',
    headers: { ...(authorization ? { authorization } : {}), ...call.headers },
    ...(call.body === undefined ? {} : { body: call.body }),
  })
  const text = await res.text()
  return {
    status: res.status,
    challenge: res.headers.get('www-authenticate'),
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  }
}

const lastReason = (api: Api) => api.log.at(-1)?.reason

const RECOMMENDED = { pop: { required: ['m', 'u', 'p', 'q', 'b'] } } as Partial<VerifierOptions>

describe('signed requests with a cnf.jwk token', () => {
  let api: Api
  before(async () => {
    api = await startApi(RECOMMENDED)
  })
  after(() => api.close())

  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384'] as const) {
    test(`${alg}: a request signed over method, host, path, query, headers and body passes`, async () => {
      const key = keyFor(alg)
      const token = await popToken(key, alg)
      const res = await send(
        api,
        key,
        token,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-tenant': 'acme' },
          body: '{"qty":2}',
        },
        (r) => r,
        alg,
      )
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body?.binding, 'pop')
      assert.equal(res.body?.sub, 'svc')
      assert.deepEqual(res.body?.covered, ['m', 'u', 'p', 'q', 'h', 'b'])
      // node:http: the verifier read the body and kept it for the application.
      assert.equal(res.body?.rawBody, '{"qty":2}')
    })
  }

  const tampered: [string, Call, (r: PopSignParts) => PopSignParts, string][] = [
    ['method', { method: 'DELETE' }, (r) => ({ ...r, method: 'GET' }), 'm_mismatch'],
    ['host', {}, (r) => ({ ...r, host: 'api.example.com' }), 'u_mismatch'],
    ['path', {}, (r) => ({ ...r, path: '/orders/43' }), 'p_mismatch'],
    ['query value', {}, (r) => ({ ...r, query: '?x=1&y=3' }), 'q_mismatch'],
    [
      'header',
      { headers: { 'x-tenant': 'acme' } },
      (r) => ({ ...r, headers: { 'x-tenant': 'evil' } }),
      'h_mismatch',
    ],
    [
      'body',
      { method: 'POST', body: 'amount=100' },
      (r) => ({ ...r, body: 'amount=1' }),
      'b_mismatch',
    ],
  ]
  for (const [name, call, sign, reason] of tampered) {
    test(`a changed ${name} is refused: 401 PoP invalid_token (${reason})`, async () => {
      const key = keyFor('ES256')
      const token = await popToken(key, 'ES256')
      const res = await send(api, key, token, call, sign)
      assert.equal(res.status, 401)
      assert.match(res.challenge ?? '', /^PoP error="invalid_token", error_description="[^"]+"/)
      assert.equal(res.body?.error, 'invalid_token')
      assert.equal(lastReason(api), reason)
    })
  }

  test('a stale ts, a ts in the future and a non-integer ts are refused', async () => {
    const key = keyFor('ES256')
    const token = await popToken(key, 'ES256')
    const now = Math.floor(Date.now() / 1000)
    for (const [ts, reason] of [
      [now - 302, 'ts_too_old'],
      [now + 302, 'ts_in_future'],
    ] as const) {
      const jws = await createPopSignature({ key, accessToken: token, ts })
      const res = await fetchApi(api, `PoP ${jws}`, {})
      assert.equal(res.status, 401)
      assert.equal(lastReason(api), reason)
    }
    const fractional = await new CompactSign(
      new TextEncoder().encode(JSON.stringify({ at: token, ts: now + 0.5 })),
    )
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .sign(key)
    const res = await fetchApi(api, `PoP ${fractional}`, {})
    assert.equal(res.status, 401)
    assert.equal(lastReason(api), 'ts_invalid')
  })

  test('a request signed with another key is refused (bad_signature)', async () => {
    const key = keyFor('ES256')
    const token = await popToken(key, 'ES256')
    const res = await send(api, keyFor('ES256'), token)
    assert.equal(res.status, 401)
    assert.equal(lastReason(api), 'bad_signature')
  })

  test('a signed request replayed inside the window is refused (replayed_signature)', async () => {
    const key = keyFor('ES256')
    const token = await popToken(key, 'ES256')
    const host = new URL(api.url).host
    const jws = await createPopSignature({
      key,
      accessToken: token,
      sign: { method: 'GET', host, path: '/orders/42', query: '?x=1&y=2' },
    })
    assert.equal((await fetchApi(api, `PoP ${jws}`, {})).status, 200)
    const again = await fetchApi(api, `PoP ${jws}`, {})
    assert.equal(again.status, 401)
    assert.equal(lastReason(api), 'replayed_signature')
  })

  test('a required part left unsigned is refused (part_missing)', async () => {
    const key = keyFor('ES256')
    const token = await popToken(key, 'ES256')
    const jws = await createPopSignature({ key, accessToken: token })
    const res = await fetchApi(api, `PoP ${jws}`, {})
    assert.equal(res.status, 401)
    assert.equal(lastReason(api), 'part_missing')
  })

  test('the PoP-bound token sent as a bearer token is refused, with the PoP challenge', async () => {
    const key = keyFor('ES256')
    const token = await popToken(key, 'ES256')
    const res = await fetchApi(api, `Bearer ${token}`, {})
    assert.equal(res.status, 401)
    assert.match(res.challenge ?? '', /^PoP error="invalid_token"/)
    assert.equal(lastReason(api), 'pop_bound_as_bearer')
  })

  test('an unbound token in a signed request is refused (token_not_pop_bound)', async () => {
    const key = keyFor('ES256')
    const jws = await createPopSignature({ key, accessToken: await bearerToken() })
    const res = await fetchApi(api, `PoP ${jws}`, {})
    assert.equal(res.status, 401)
    assert.equal(lastReason(api), 'token_not_pop_bound')
  })

  test('a malformed signed request is 401 invalid_token, never a 500', async () => {
    for (const value of ['PoP a.b.c', 'PoP e30.e30.e30', 'PoP not-a-jws']) {
      const res = await fetchApi(api, value, {})
      assert.ok(res.status === 401 || res.status === 400, `${value}: ${res.status}`)
      assert.match(String(res.body?.error), /^invalid_(token|request)$/)
    }
  })

  test("the draft's form field pop_access_token (§5.2) carries the signed request", async () => {
    // The body holds the signature, so `b` cannot cover it: a form-borne PoP token is checked
    // by a policy that does not require `b`.
    const lenient = await startApi({ pop: { required: ['m', 'u', 'p', 'q'] } })
    try {
      const key = keyFor('ES256')
      const token = await popToken(key, 'ES256')
      const jws = await createPopSignature({
        key,
        accessToken: token,
        sign: {
          method: 'POST',
          host: new URL(lenient.url).host,
          path: '/orders/42',
          query: '?x=1&y=2',
        },
      })
      const res = await fetchApi(lenient, undefined, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ pop_access_token: jws, note: 'hi' }).toString(),
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body?.binding, 'pop')
    } finally {
      await lenient.close()
    }
  })

  test('a client that hangs up in the middle of a covered body is a refusal, not a failure', async () => {
    const key = keyFor('ES256')
    const token = await popToken(key, 'ES256')
    const { host, port } = new URL(api.url)
    const jws = await createPopSignature({
      key,
      accessToken: token,
      sign: { method: 'POST', host, path: '/orders/42', body: 'x'.repeat(100) },
    })
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(
      `POST /orders/42 HTTP/1.1\r\nHost: ${host}\r\nAuthorization: PoP ${jws}\r\n` +
        `Content-Length: 100\r\n\r\n${'x'.repeat(10)}`,
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.destroy()
    for (let i = 0; i < 50 && lastReason(api) !== 'body_unreadable'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.equal(lastReason(api), 'body_unreadable')
  })

  test('two pop_access_token fields: 400 invalid_request', async () => {
    const res = await fetchApi(api, undefined, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'pop_access_token=a.b.c&pop_access_token=d.e.f',
    })
    assert.equal(res.status, 400)
    assert.equal(res.body?.error, 'invalid_request')
    assert.equal(lastReason(api), 'multiple_pop_tokens')
  })

  test('a reference token resolved by introspection keeps its cnf.jwk', async () => {
    const introspecting = await startApi({
      ...RECOMMENDED,
      introspection: { clientId: 'rs', clientSecret: SECRET },
    })
    try {
      const key = keyFor('ES256')
      const token = await popToken(key, 'ES256', 'ref')
      assert.equal(token.split('.').length, 1, 'a reference token')
      const ok = await send(introspecting, key, token)
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body?.binding, 'pop')
      const bearer = await fetchApi(introspecting, `Bearer ${token}`, {})
      assert.equal(bearer.status, 401)
      assert.equal(lastReason(introspecting), 'pop_bound_as_bearer')
    } finally {
      await introspecting.close()
    }
  })
})

describe('the IdentityModel compatibility switch (wire format §3.3)', () => {
  test('exact presence: a part signed but not validated is refused; the host without its port', async () => {
    const api = await startApi({ pop: { compat: true, required: ['m', 'u', 'p'] } })
    try {
      const key = keyFor('RS256')
      const token = await popToken(key, 'RS256')
      // A .NET client signs `Uri.Host`, without the port (§2.3).
      const dotnet = await send(api, key, token, {}, (r) => ({
        method: r.method,
        host: '127.0.0.1',
        path: r.path,
      }))
      assert.equal(dotnet.status, 200, JSON.stringify(dotnet.body))
      const more = await send(api, key, token, {}, (r) => ({
        method: r.method,
        host: '127.0.0.1',
        path: r.path,
        query: '?x=1&y=2',
      }))
      assert.equal(more.status, 401)
      assert.equal(lastReason(api), 'part_unexpected')
    } finally {
      await api.close()
    }
  })
})

describe('the PoP challenge', () => {
  test('a request without credentials is offered PoP when the verifier has a pop policy', async () => {
    const api = await startApi({ pop: {}, allowBearer: true })
    try {
      const res = await fetchApi(api, undefined, {})
      assert.equal(res.status, 401)
      assert.equal(
        res.challenge,
        'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA", Bearer, PoP',
      )
    } finally {
      await api.close()
    }
  })
})

describe('metrics', () => {
  test('verified and refused signed requests are counted with binding="pop" and the reason', async () => {
    const metrics = createVerifierMetrics()
    const api = await startApi({ ...RECOMMENDED, metrics })
    try {
      const key = keyFor('ES256')
      const token = await popToken(key, 'ES256')
      assert.equal((await send(api, key, token)).status, 200)
      const tampered = await send(api, key, token, {}, (r) => ({ ...r, path: '/elsewhere' }))
      assert.equal(tampered.status, 401)
      const text = await metrics.registry.metrics()
      assert.match(
        text,
        /keybound_resource_requests_total\{outcome="verified",binding="pop",reason="ok"\} 1/,
      )
      assert.match(
        text,
        /keybound_resource_requests_total\{outcome="refused",binding="pop",reason="p_mismatch"\} 1/,
      )
    } finally {
      await api.close()
    }
  })
})
