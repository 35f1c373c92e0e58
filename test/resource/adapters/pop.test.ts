/**
 * Signed requests (PoP) through the Express and Fastify adapters: the body a signature covers
 * (`b`) reaches the verifier whether a body parser ran before keybound or not, and the
 * application still gets its parsed body. Tokens from a real keybound authorization server,
 * requests signed by `popFetch` over real HTTP.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import { after, before, describe, test } from 'node:test'
import express from 'express'
import Fastify from 'fastify'
import { popFetch } from '../../../src/client/pop-fetch.js'
import { keyboundExpress } from '../../../src/resource/adapters/express.js'
import { keyboundFastify } from '../../../src/resource/adapters/fastify.js'
import { keepRawBody } from '../../../src/resource/adapters/http.js'
import type { VerifierOptions } from '../../../src/resource/options.js'
import type { Verifier } from '../../../src/resource/verifier.js'
import { startServer, type TestServer } from '../../helpers/server.js'
import { AUDIENCE, listen, SECRET, verifierFor } from './helpers.js'

const SIGN = { method: true, host: true, path: true, query: true, body: true } as const
const STRICT: Partial<VerifierOptions> = { pop: { required: ['m', 'u', 'p', 'q', 'b'] } }

let as: TestServer
let key: KeyObject
let token: string
const refusals: Record<string, unknown>[] = []

before(async () => {
  as = await startServer({
    clients: [
      {
        client_id: 'pop-client',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        token_binding: 'pop',
      },
    ],
  })
  key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const { d: _, ...publicJwk } = key.export({ format: 'jwk' })
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`pop-client:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      resource: AUDIENCE,
      token_type: 'pop',
      alg: 'ES256',
      key: Buffer.from(JSON.stringify({ ...publicJwk, alg: 'ES256' })).toString('base64url'),
    }),
  })
  const body = (await res.json()) as { access_token: string; token_type: string }
  assert.equal(res.status, 200, JSON.stringify(body))
  token = body.access_token
})
after(() => as.close())

const verifier = (): Verifier =>
  verifierFor(as, { ...STRICT, logger: { warn: (entry) => refusals.push(entry) } })

/** POSTs JSON to `${base}/orders?page=2`, signed over method, host, path, query and body. */
async function postOrder(base: string) {
  const signed = popFetch({ key, accessToken: token, sign: SIGN })
  const res = await signed(`${base}/orders?page=2`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item: 'book', qty: 2 }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('Express', () => {
  async function app(setup: (app: express.Express) => void) {
    const app = express()
    setup(app)
    app.post('/orders', (req, res) => {
      res.json({ binding: req.keybound?.binding, parsed: req.body ?? null })
    })
    const server = createServer(app)
    const url = await listen(server)
    return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
  }

  test('express.json({ verify: keepRawBody }) before keybound: the signed body passes and is parsed', async () => {
    const api = await app((a) => {
      a.use(express.json({ verify: keepRawBody }))
      a.use(keyboundExpress(verifier()))
    })
    try {
      const res = await postOrder(api.url)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(res.body, { binding: 'pop', parsed: { item: 'book', qty: 2 } })
    } finally {
      await api.close()
    }
  })

  test('a parser that kept no bytes: 401 invalid_token, the reason (body_unavailable) logged', async () => {
    const api = await app((a) => {
      a.use(express.json())
      a.use(keyboundExpress(verifier()))
    })
    try {
      const res = await postOrder(api.url)
      assert.equal(res.status, 401)
      assert.equal(res.body.error, 'invalid_token')
      assert.equal(refusals.at(-1)?.reason, 'body_unavailable')
    } finally {
      await api.close()
    }
  })

  test('keybound before any parser reads the body itself and keeps it as req.rawBody', async () => {
    const api = await app((a) => {
      a.use(keyboundExpress(verifier()))
      a.use((req, _res, next) => {
        const raw = (req as { rawBody?: Buffer }).rawBody
        req.body = raw && JSON.parse(raw.toString())
        next()
      })
    })
    try {
      const res = await postOrder(api.url)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(res.body, { binding: 'pop', parsed: { item: 'book', qty: 2 } })
    } finally {
      await api.close()
    }
  })
})

describe('Fastify', () => {
  for (const hook of ['preHandler', 'onRequest'] as const) {
    test(`hook ${hook}: the signed JSON body passes, and the handler gets it parsed`, async () => {
      const app = Fastify({ forceCloseConnections: true })
      await app.register(keyboundFastify, { verifier: verifier(), hook })
      app.post('/orders', async (request) => ({
        binding: request.keybound?.binding,
        parsed: request.body,
      }))
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      try {
        const res = await postOrder(url)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.deepEqual(res.body, { binding: 'pop', parsed: { item: 'book', qty: 2 } })
        // A body other than the one signed is refused.
        const forged = await fetch(`${url}/orders?page=2`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: await signedFor(url, '{"item":"book","qty":2}'),
          },
          body: '{"item":"book","qty":200}',
        })
        assert.equal(forged.status, 401)
        assert.match(forged.headers.get('www-authenticate') ?? '', /^PoP error="invalid_token"/)
        assert.equal(refusals.at(-1)?.reason, 'b_mismatch')
      } finally {
        await app.close()
      }
    })
  }
})

/** The `Authorization` value popFetch would send for a POST of `body` to `${base}/orders?page=2`. */
async function signedFor(base: string, body: string): Promise<string> {
  let authorization = ''
  const capture = popFetch({
    key,
    accessToken: token,
    sign: SIGN,
    fetch: async (_input, init) => {
      authorization = new Headers(init?.headers).get('authorization') ?? ''
      return new Response('{}')
    },
  })
  await capture(`${base}/orders?page=2`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })
  return authorization
}
