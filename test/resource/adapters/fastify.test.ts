/**
 * The keybound Fastify plugin on a real Fastify 5 app, against a real keybound authorization
 * server.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import {
  type KeyboundFastifyOptions,
  keyboundFastify,
} from '../../../src/resource/adapters/fastify.js'
import { metricsHandler } from '../../../src/resource/adapters/metrics-handler.js'
import type { Verifier } from '../../../src/resource/verifier.js'
import type { TestServer } from '../../helpers/server.js'
import {
  adapterSuite,
  brokenVerifier,
  CHALLENGE,
  call,
  newKey,
  obtainToken,
  seenOf,
  send,
  startAuthorizationServer,
  verifierFor,
} from './helpers.js'

async function serve(app: FastifyInstance) {
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { url, close: () => app.close() }
}

/** The suite's API, plus a public `GET /health`. */
async function ordersApi(options: KeyboundFastifyOptions) {
  let handled = 0
  let publicHandled = 0
  const { verifier } = options
  const app = Fastify({ forceCloseConnections: true })
  await app.register(keyboundFastify, options)
  app.all('/metrics', { config: { keybound: false } }, async (request, reply) => {
    reply.hijack()
    await metricsHandler(verifier)(request.raw, reply.raw)
  })
  app.get('/health', { config: { keybound: false } }, async (request) => {
    publicHandled++
    return { ok: true, keybound: request.keybound ?? null }
  })
  app.get('/orders', async (request) => {
    handled++
    return seenOf(request.keybound)
  })
  app.post('/orders', { config: { keybound: { scope: 'write' } } }, async (_request, reply) => {
    handled++
    return reply.code(201).send({ created: true })
  })
  return {
    ...(await serve(app)),
    handled: () => handled,
    publicHandled: () => publicHandled,
  }
}

adapterSuite('Fastify', (verifier: Verifier) => ordersApi({ verifier }))
adapterSuite('Fastify (onRequest)', (verifier: Verifier) =>
  ordersApi({ verifier, hook: 'onRequest' }),
)

describe('Fastify: public routes, defaults, errors, encapsulation', () => {
  let as: TestServer
  before(async () => {
    as = await startAuthorizationServer()
  })
  after(() => as?.close())

  test('a route with keybound: false is untouched: no check, no header, no keybound', async () => {
    const api = await ordersApi({ verifier: verifierFor(as) })
    try {
      const r = await send(`${api.url}/health`, 'GET', { authorization: 'DPoP not-a-token' })
      assert.equal(r.status, 200)
      assert.equal(r.body, '{"ok":true,"keybound":null}')
      assert.equal(r.headers['www-authenticate'], undefined)
      assert.equal(r.headers['cache-control'], undefined)
      assert.equal(api.publicHandled(), 1)
    } finally {
      await api.close()
    }
  })

  test("the plugin's requirements apply to every route; a route's override them", async () => {
    const api = await ordersApi({ verifier: verifierFor(as), requirements: { scope: 'admin' } })
    try {
      const key = newKey()
      const token = await obtainToken(as, key, 'read write')
      const get = await call(`${api.url}/orders`, 'GET', { key, token })
      assert.equal(get.status, 403)
      assert.match(get.headers['www-authenticate'] ?? '', /, scope="admin"$/)
      // POST /orders says { scope: 'write' }, which replaces the default scope.
      const post = await call(`${api.url}/orders`, 'POST', { key, token })
      assert.equal(post.status, 201, post.body)
    } finally {
      await api.close()
    }
  })

  test("a route's audience narrows the verifier's: 401 invalid_token", async () => {
    const verifier = verifierFor(as)
    const app = Fastify({ forceCloseConnections: true })
    await app.register(keyboundFastify, { verifier })
    app.get('/billing', { config: { keybound: { audience: 'https://billing.api.test' } } }, () => ({
      reached: true,
    }))
    const api = await serve(app)
    try {
      const key = newKey()
      const token = await obtainToken(as, key, 'read')
      const r = await call(`${api.url}/billing`, 'GET', { key, token })
      assert.equal(r.status, 401)
      const description = 'the access token is not meant for this resource'
      assert.equal(
        r.headers['www-authenticate'],
        `${CHALLENGE}, error="invalid_token", error_description="${description}"`,
      )
      assert.deepEqual(JSON.parse(r.body), {
        error: 'invalid_token',
        error_description: description,
      })
    } finally {
      await api.close()
    }
  })

  test("an unexpected failure is thrown to Fastify's error handler", async () => {
    const boom = new Error('the verifier broke')
    const seen: unknown[] = []
    const app = Fastify({ forceCloseConnections: true })
    app.setErrorHandler((error, _request, reply) => {
      seen.push(error)
      return reply.code(500).send({ error: 'server_error' })
    })
    await app.register(keyboundFastify, { verifier: brokenVerifier(boom) })
    app.get('/orders', () => ({ reached: true }))
    const api = await serve(app)
    try {
      const r = await send(`${api.url}/orders`, 'GET', { authorization: 'DPoP abc' })
      assert.equal(r.status, 500)
      assert.equal(r.body, '{"error":"server_error"}')
      assert.deepEqual(seen, [boom])
    } finally {
      await api.close()
    }
  })

  test('registered in a plugin of its own, it protects only that plugin', async () => {
    const app = Fastify({ forceCloseConnections: true })
    const verifier = verifierFor(as)
    await app.register(async (scope) => {
      await scope.register(keyboundFastify, { verifier })
      scope.get('/private', (request) => ({ subject: request.keybound?.subject }))
    })
    app.get('/open', () => ({ open: true }))
    const api = await serve(app)
    try {
      assert.equal((await send(`${api.url}/open`, 'GET')).status, 200)
      const refused = await send(`${api.url}/private`, 'GET')
      assert.equal(refused.status, 401)
      assert.equal(refused.headers['www-authenticate'], CHALLENGE)
      const key = newKey()
      const token = await obtainToken(as, key, 'read')
      const ok = await call(`${api.url}/private`, 'GET', { key, token })
      assert.equal(ok.status, 200)
      assert.equal(ok.body, '{"subject":"orders-client"}')
    } finally {
      await api.close()
    }
  })

  test('options are checked at registration', async () => {
    const app = Fastify()
    app.register(keyboundFastify, { verifier: undefined as unknown as Verifier })
    await assert.rejects(async () => app.ready(), {
      message: 'keyboundFastify: "verifier" must be made by createVerifier',
    })
    await app.close()
  })
})
