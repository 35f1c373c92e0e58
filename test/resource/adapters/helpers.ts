/**
 * What the adapter tests share: a real keybound authorization server, DPoP-bound tokens from its
 * /token endpoint, raw HTTP calls to an API, and one suite every adapter must pass.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto'
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createNonceProvider, type NonceSource } from '../../../src/bindings/dpop/nonce.js'
import { createProof } from '../../../src/bindings/dpop/proof.js'
import { jwkThumbprint, type PublicJwk } from '../../../src/jose/jwk.js'
import { createMemoryReplayCache } from '../../../src/replay/memory.js'
import { createVerifierMetrics } from '../../../src/resource/metrics.js'
import type { VerifierOptions } from '../../../src/resource/options.js'
import {
  createVerifier,
  type VerifiedRequest,
  type Verifier,
} from '../../../src/resource/verifier.js'
import { startServer, type TestServer } from '../../helpers/server.js'

export const SECRET = 'a-high-entropy-secret-0123456789'
/** The API's resource identifier (RFC 8707): the `aud` of its tokens. */
export const AUDIENCE = 'https://orders.api.test'
export const ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 EdDSA'
/** The bare challenge of the default verifier (RFC 9449 §7.1; no Bearer: bearer tokens are off). */
export const CHALLENGE = `DPoP algs="${ALGS}"`

export function startAuthorizationServer(): Promise<TestServer> {
  return startServer({
    clients: [
      {
        client_id: 'orders-client',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        token_binding: 'dpop',
        scope: 'read write',
      },
    ],
  })
}

export const newKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey

export async function thumbprintOf(key: KeyObject): Promise<string> {
  const { d: _, ...jwk } = key.export({ format: 'jwk' })
  return jwkThumbprint(jwk as PublicJwk)
}

/** A DPoP-bound access token for `key`, asked over HTTP from the server's /token endpoint. */
export async function obtainToken(as: TestServer, key: KeyObject, scope: string): Promise<string> {
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`orders-client:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      dpop: await createProof({ key, htm: 'POST', htu: `${as.issuer}/token` }),
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: AUDIENCE }),
  })
  const body = (await res.json()) as { access_token: string; token_type: string }
  assert.equal(res.status, 200, JSON.stringify(body))
  assert.equal(body.token_type, 'DPoP')
  return body.access_token
}

export function verifierFor(as: TestServer, extra: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({
    issuer: as.issuer,
    audience: AUDIENCE,
    replayCache: createMemoryReplayCache(),
    ...extra,
  })
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/**
 * One request over node:http (not fetch: it can send a header field twice). Header values that
 * are arrays are sent as repeated fields.
 */
export function send(
  url: string,
  method: string,
  headers: Record<string, string | string[]> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

export interface CallOptions {
  key: KeyObject
  token: string
  /** `DPoP` (default) or `Bearer`. */
  scheme?: string
  /** The proof's `htu` (default: the URL called). */
  htu?: string
  nonce?: string
  /** Send no DPoP header. */
  noProof?: boolean
}

/** A request with `Authorization: <scheme> <token>` and a fresh proof for it. */
export async function call(url: string, method: string, options: CallOptions): Promise<Answer> {
  const headers: Record<string, string> = {
    authorization: `${options.scheme ?? 'DPoP'} ${options.token}`,
  }
  if (!options.noProof) {
    headers.dpop = await createProof({
      key: options.key,
      htm: method,
      htu: options.htu ?? url,
      accessToken: options.token,
      ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    })
  }
  return send(url, method, headers)
}

/**
 * A running API protected by one adapter, with these routes:
 * - `GET /orders`: no requirement beyond the verifier's; answers 200 with what `keybound` holds;
 * - `POST /orders`: requires the scope `write`; answers 201;
 * - `/metrics`, every method: public, `metricsHandler(verifier)`.
 */
export interface TestApi {
  url: string
  /** How many times a protected handler ran. */
  handled(): number
  close(): Promise<void>
}

/** What the `GET /orders` handler answers: the fields of `keybound`. */
export interface Seen {
  subject: string | undefined
  clientId: string | undefined
  scopes: readonly string[]
  binding: string
  jkt: string | undefined
}

export type StartApi = (verifier: Verifier) => Promise<TestApi>

/** What `GET /orders` answers with. */
export function seenOf(verified: VerifiedRequest | undefined): Seen {
  assert.ok(verified, 'the handler ran without keybound')
  return {
    subject: verified.subject,
    clientId: verified.clientId,
    scopes: verified.scopes,
    binding: verified.binding,
    jkt: verified.proof?.jkt,
  }
}

/** Closes a node:http server and the keep-alive connections to it. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    server.closeAllConnections()
  })
}

/** A verifier whose every verification fails with `error`, as a bug would make it. */
export function brokenVerifier(error: Error): Verifier {
  return {
    challenge: CHALLENGE,
    metrics: undefined,
    verify: async () => {
      throw error
    },
    authorize: () => {
      throw error
    },
  }
}

const json = (answer: Answer) => JSON.parse(answer.body) as unknown

/** Every adapter must answer these exactly alike. */
export function adapterSuite(name: string, start: StartApi): void {
  describe(`${name}: the shared behaviour of the adapters`, () => {
    let as: TestServer
    let api: TestApi
    const key = newKey()
    let readToken: string
    let readWriteToken: string
    before(async () => {
      as = await startAuthorizationServer()
      api = await start(verifierFor(as))
      readToken = await obtainToken(as, key, 'read')
      readWriteToken = await obtainToken(as, key, 'read write')
    })
    after(async () => {
      await api?.close()
      await as?.close()
    })

    test('a DPoP-bound token with its proof: 200, the handler sees keybound', async () => {
      const before = api.handled()
      const r = await call(`${api.url}/orders`, 'GET', { key, token: readToken })
      assert.equal(r.status, 200, r.body)
      assert.deepEqual(json(r), {
        subject: 'orders-client',
        clientId: 'orders-client',
        scopes: ['read'],
        binding: 'dpop',
        jkt: await thumbprintOf(key),
      } satisfies Seen)
      assert.equal(api.handled(), before + 1)
      assert.equal(r.headers['dpop-nonce'], undefined)
      assert.equal(r.headers['www-authenticate'], undefined)
    })

    test('no token: 401, the bare DPoP challenge, no body (RFC 6750 §3.1)', async () => {
      const before = api.handled()
      const r = await send(`${api.url}/orders`, 'GET')
      assert.equal(r.status, 401)
      assert.equal(r.headers['www-authenticate'], CHALLENGE)
      assert.equal(r.headers['cache-control'], 'no-store')
      assert.equal(r.headers['content-type'], undefined)
      assert.equal(r.body, '')
      assert.equal(api.handled(), before)
    })

    test('a proof for another URL: 401 invalid_dpop_proof in the DPoP challenge, JSON body', async () => {
      const before = api.handled()
      const r = await call(`${api.url}/orders`, 'GET', {
        key,
        token: readToken,
        htu: 'https://elsewhere.test/orders',
      })
      assert.equal(r.status, 401)
      assert.equal(
        r.headers['www-authenticate'],
        // RFC 6750 §3 allows no `"` in a challenge's description: the verifier writes `'`.
        `${CHALLENGE}, error="invalid_dpop_proof", error_description="DPoP proof 'htu' does not match the request"`,
      )
      assert.equal(r.headers['cache-control'], 'no-store')
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8')
      assert.deepEqual(json(r), {
        error: 'invalid_dpop_proof',
        error_description: 'DPoP proof "htu" does not match the request',
      })
      assert.equal(api.handled(), before)
    })

    test('a DPoP-bound token sent as a Bearer token: 401 invalid_token (RFC 9449 §7.2)', async () => {
      const r = await call(`${api.url}/orders`, 'GET', {
        key,
        token: readToken,
        scheme: 'Bearer',
        noProof: true,
      })
      assert.equal(r.status, 401)
      const description = 'a DPoP-bound access token requires the DPoP scheme'
      assert.equal(
        r.headers['www-authenticate'],
        `${CHALLENGE}, error="invalid_token", error_description="${description}"`,
      )
      assert.deepEqual(json(r), { error: 'invalid_token', error_description: description })
    })

    test('the scope a route requires is missing: 403 insufficient_scope with scope', async () => {
      const before = api.handled()
      const r = await call(`${api.url}/orders`, 'POST', { key, token: readToken })
      assert.equal(r.status, 403)
      const description = 'the access token lacks a scope this resource requires'
      assert.equal(
        r.headers['www-authenticate'],
        `${CHALLENGE}, error="insufficient_scope", error_description="${description}", scope="write"`,
      )
      assert.equal(r.headers['cache-control'], 'no-store')
      assert.deepEqual(json(r), { error: 'insufficient_scope', error_description: description })
      assert.equal(api.handled(), before)

      const ok = await call(`${api.url}/orders`, 'POST', { key, token: readWriteToken })
      assert.equal(ok.status, 201, ok.body)
      assert.equal(api.handled(), before + 1)
    })

    test('two Authorization fields are seen as two: 400 invalid_request', async () => {
      const dpop = await createProof({
        key,
        htm: 'GET',
        htu: `${api.url}/orders`,
        accessToken: readToken,
      })
      const r = await send(`${api.url}/orders`, 'GET', {
        authorization: [`DPoP ${readToken}`, `DPoP ${readToken}`],
        dpop,
      })
      assert.equal(r.status, 400)
      const description = 'more than one Authorization header'
      assert.equal(r.headers['www-authenticate'], CHALLENGE)
      assert.deepEqual(json(r), { error: 'invalid_request', error_description: description })
    })

    test('two DPoP fields are seen as two: 401 invalid_dpop_proof', async () => {
      const proof = () =>
        createProof({ key, htm: 'GET', htu: `${api.url}/orders`, accessToken: readToken })
      const r = await send(`${api.url}/orders`, 'GET', {
        authorization: `DPoP ${readToken}`,
        dpop: [await proof(), await proof()],
      })
      assert.equal(r.status, 401)
      assert.deepEqual(json(r), {
        error: 'invalid_dpop_proof',
        error_description: 'more than one DPoP header',
      })
    })

    test('a verifier without metrics: the metrics handler answers 404', async () => {
      const r = await send(`${api.url}/metrics`, 'GET')
      assert.equal(r.status, 404)
      assert.equal(r.body, 'this verifier has no metrics\n')
    })
  })

  describe(`${name}: a verifier that demands nonces (RFC 9449 §9)`, () => {
    let as: TestServer
    let api: TestApi
    let nonces: NonceSource
    const key = newKey()
    let token: string
    before(async () => {
      as = await startAuthorizationServer()
      nonces = createNonceProvider({ secret: randomBytes(32) })
      api = await start(verifierFor(as, { dpop: { nonce: nonces } }))
      token = await obtainToken(as, key, 'read')
    })
    after(async () => {
      await api?.close()
      await as?.close()
    })

    test('401 use_dpop_nonce with DPoP-Nonce, then 200 with that nonce', async () => {
      const before = api.handled()
      const first = await call(`${api.url}/orders`, 'GET', { key, token })
      assert.equal(first.status, 401)
      const nonce = first.headers['dpop-nonce']
      assert.equal(nonce, nonces.current())
      const description = 'DPoP proof must carry the server nonce'
      assert.equal(
        first.headers['www-authenticate'],
        `${CHALLENGE}, error="use_dpop_nonce", error_description="${description}"`,
      )
      assert.equal(first.headers['cache-control'], 'no-store')
      assert.deepEqual(json(first), { error: 'use_dpop_nonce', error_description: description })
      assert.equal(api.handled(), before)

      const second = await call(`${api.url}/orders`, 'GET', { key, token, nonce })
      assert.equal(second.status, 200, second.body)
      assert.equal(second.headers['dpop-nonce'], undefined) // the nonce is still the current one
      assert.equal(api.handled(), before + 1)
    })

    test("the previous step's nonce passes, and the answer carries the current one", async () => {
      const previous = nonces.current(Date.now() - 60_000)
      const r = await call(`${api.url}/orders`, 'GET', { key, token, nonce: previous })
      assert.equal(r.status, 200, r.body)
      assert.equal(r.headers['dpop-nonce'], nonces.current())
    })
  })

  describe(`${name}: the metrics handler`, () => {
    let as: TestServer
    let api: TestApi
    const key = newKey()
    before(async () => {
      as = await startAuthorizationServer()
      api = await start(verifierFor(as, { metrics: createVerifierMetrics() }))
    })
    after(async () => {
      await api?.close()
      await as?.close()
    })

    test('names every outcome: verified, and refused by binding and reason', async () => {
      const token = await obtainToken(as, key, 'read')
      assert.equal((await call(`${api.url}/orders`, 'GET', { key, token })).status, 200)
      assert.equal((await call(`${api.url}/orders`, 'GET', { key, token })).status, 200)
      assert.equal((await send(`${api.url}/orders`, 'GET')).status, 401)
      const htu = 'https://elsewhere.test/orders'
      assert.equal((await call(`${api.url}/orders`, 'GET', { key, token, htu })).status, 401)
      assert.equal((await call(`${api.url}/orders`, 'POST', { key, token })).status, 403)

      const r = await send(`${api.url}/metrics`, 'GET')
      assert.equal(r.status, 200)
      assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
      assert.equal(r.headers['cache-control'], 'no-store')
      assert.equal(
        r.body,
        [
          '# HELP keybound_resource_requests_total Protected resource requests, by outcome (verified or refused), binding and reason.',
          '# TYPE keybound_resource_requests_total counter',
          'keybound_resource_requests_total{outcome="verified",binding="dpop",reason="ok"} 2',
          'keybound_resource_requests_total{outcome="refused",binding="none",reason="missing_token"} 1',
          'keybound_resource_requests_total{outcome="refused",binding="dpop",reason="htu_mismatch"} 1',
          'keybound_resource_requests_total{outcome="refused",binding="dpop",reason="insufficient_scope"} 1',
          '',
        ].join('\n'),
      )
      const post = await send(`${api.url}/metrics`, 'POST')
      assert.equal(post.status, 405)
      assert.equal(post.headers.allow, 'GET, HEAD')
    })
  })
}
