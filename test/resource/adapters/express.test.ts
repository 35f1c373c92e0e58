/**
 * keyboundExpress on a real Express 5 app, against a real keybound authorization server.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, before, describe, test } from 'node:test'
import express, { type NextFunction, type Request, type Response } from 'express'
import { keyboundExpress, keyboundRequire } from '../../../src/resource/adapters/express.js'
import { metricsHandler } from '../../../src/resource/adapters/metrics-handler.js'
import type { Verifier } from '../../../src/resource/verifier.js'
import type { TestServer } from '../../helpers/server.js'
import {
  ALGS,
  adapterSuite,
  brokenVerifier,
  call,
  closeServer,
  listen,
  newKey,
  obtainToken,
  seenOf,
  send,
  startAuthorizationServer,
  verifierFor,
} from './helpers.js'

async function serve(app: express.Express) {
  const server = createServer(app)
  const url = await listen(server)
  return { url, close: () => closeServer(server) }
}

adapterSuite('Express', async (verifier: Verifier) => {
  let handled = 0
  const app = express()
  app.all('/metrics', metricsHandler(verifier))
  app.get('/orders', keyboundExpress(verifier), (req: Request, res: Response) => {
    handled++
    // `req.keybound` is typed through the `Express.Request` augmentation.
    res.json(seenOf(req.keybound))
  })
  app.post('/orders', keyboundExpress(verifier, { scope: 'write' }), (_req, res: Response) => {
    handled++
    res.status(201).json({ created: true })
  })
  return { ...(await serve(app)), handled: () => handled }
})

describe('Express: app-wide, errors, misuse', () => {
  let as: TestServer
  before(async () => {
    as = await startAuthorizationServer()
  })
  after(() => as?.close())

  test('keyboundRequire: a route scope behind app.use, checked without a second proof', async () => {
    const verifier = verifierFor(as)
    const app = express()
    app.use(keyboundExpress(verifier))
    app.post('/orders', keyboundRequire(verifier, { scope: 'write' }), (_req, res: Response) => {
      res.status(201).json({ created: true })
    })
    const api = await serve(app)
    try {
      const key = newKey()
      const read = await call(`${api.url}/orders`, 'POST', {
        key,
        token: await obtainToken(as, key, 'read'),
      })
      assert.equal(read.status, 403)
      assert.equal(
        read.headers['www-authenticate'],
        `DPoP algs="${ALGS}", error="insufficient_scope", error_description="the access token lacks a scope this resource requires", scope="write"`,
      )
      const write = await call(`${api.url}/orders`, 'POST', {
        key,
        token: await obtainToken(as, key, 'read write'),
      })
      assert.equal(write.status, 201)
    } finally {
      await api.close()
    }
  })

  test('app.use protects every later route; earlier routes stay public', async () => {
    const verifier = verifierFor(as)
    const app = express()
    app.get('/health', (_req, res) => {
      res.json({ ok: true })
    })
    app.use(keyboundExpress(verifier))
    app.get('/me', (req: Request, res: Response) => {
      res.json({ subject: req.keybound?.subject })
    })
    const api = await serve(app)
    try {
      const health = await send(`${api.url}/health`, 'GET')
      assert.equal(health.status, 200)
      assert.equal(health.body, '{"ok":true}')
      assert.equal((await send(`${api.url}/me`, 'GET')).status, 401)
      const key = newKey()
      const token = await obtainToken(as, key, 'read')
      const me = await call(`${api.url}/me`, 'GET', { key, token })
      assert.equal(me.status, 200)
      assert.equal(me.body, '{"subject":"orders-client"}')
    } finally {
      await api.close()
    }
  })

  test('an unexpected failure goes to the error middleware with next(err)', async () => {
    const boom = new Error('the verifier broke')
    const seen: unknown[] = []
    const app = express()
    app.get('/orders', keyboundExpress(brokenVerifier(boom)), (_req, res) => {
      res.json({ reached: true })
    })
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error)
      res.status(500).json({ error: 'server_error' })
    })
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

  test('two keybound middlewares on one request: next(err), not a refusal of the client', async () => {
    const verifier = verifierFor(as)
    const seen: Error[] = []
    let reached = false
    const app = express()
    app.use(keyboundExpress(verifier))
    app.get('/orders', keyboundExpress(verifier, { scope: 'read' }), (_req, res) => {
      reached = true
      res.end()
    })
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error)
      res.status(500).end()
    })
    const api = await serve(app)
    try {
      const key = newKey()
      const token = await obtainToken(as, key, 'read')
      const r = await call(`${api.url}/orders`, 'GET', { key, token })
      assert.equal(r.status, 500)
      assert.equal(reached, false)
      assert.equal(seen.length, 1)
      assert.match(seen[0]?.message ?? '', /^keybound: this request was verified already/)
    } finally {
      await api.close()
    }
  })
})
