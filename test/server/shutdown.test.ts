/**
 * Graceful shutdown: `close()` lets the requests in flight finish with their normal answers,
 * with the store still open under them, and refuses new connections.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { startServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`

interface InFlight {
  /** Resolves once the server has the request's headers (its `100 Continue`). */
  started: Promise<void>
  /** Sends the rest of the body, a few bytes at a time. */
  finish(): Promise<void>
  response: Promise<{ status: number; body: string }>
}

/**
 * A token request whose body is sent in chunks. `Expect: 100-continue` tells when the server has
 * taken the request: node answers `100 Continue` as it hands the request to Fastify, so from then
 * on the request is in flight (past Fastify's 503-on-closing check), waiting for its body.
 */
function slowTokenRequest(port: number, headers: Record<string, string>, body: string): InFlight {
  const bytes = Buffer.from(body)
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(bytes.length),
      expect: '100-continue',
      ...headers,
    },
    agent: false,
  })
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
  })
  const started = new Promise<void>((resolve) => {
    req.on('continue', () => {
      req.write(bytes.subarray(0, 4))
      resolve()
    })
  })
  req.flushHeaders()
  return {
    started,
    response,
    async finish() {
      for (let at = 4; at < bytes.length; at += 8) {
        await sleep(15)
        req.write(bytes.subarray(at, at + 8))
      }
      req.end()
    },
  }
}

/** Whether a TCP connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.on('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

test('close(): the requests in flight get their tokens, new connections are refused', async () => {
  const t = await startServer({
    clients: [
      { client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials'] },
      {
        // Reference tokens: each request writes to the store while the server closes.
        client_id: 'ref',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        access_token_format: 'reference',
      },
      {
        client_id: 'bound',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        token_binding: 'dpop',
      },
    ],
  })
  const port = Number(new URL(t.issuer).port)
  const key = await generateKeyPair('ES256')
  const form = 'grant_type=client_credentials&scope=read'
  const requests = [
    slowTokenRequest(port, { authorization: basic('svc') }, form),
    slowTokenRequest(port, { authorization: basic('svc') }, form),
    slowTokenRequest(port, { authorization: basic('ref') }, form),
    slowTokenRequest(port, { authorization: basic('ref') }, form),
    slowTokenRequest(
      port,
      {
        authorization: basic('bound'),
        dpop: await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` }),
      },
      form,
    ),
  ]
  await Promise.all(requests.map((r) => r.started))

  const closed = t.close()
  let closedAt: number | undefined
  closed.then(() => {
    closedAt = Date.now()
  })
  // The listening socket goes first: no new connection while the others finish.
  for (const deadline = Date.now() + 5000; t.server.app.server.listening; await sleep(1)) {
    assert.ok(Date.now() < deadline, 'close() still listening after 5 s')
  }
  assert.equal(await refused(port), true, 'a new connection while closing')

  const finishedAt: number[] = []
  await Promise.all(requests.map((r) => r.finish().then(() => finishedAt.push(Date.now()))))
  const answers = await Promise.all(requests.map((r) => r.response))
  for (const [i, answer] of answers.entries()) {
    assert.equal(answer.status, 200, `request ${i}: ${answer.body}`)
    const body = JSON.parse(answer.body) as { access_token?: unknown; token_type?: unknown }
    assert.equal(typeof body.access_token, 'string', `request ${i}`)
    assert.equal(body.token_type, i === 4 ? 'DPoP' : 'Bearer', `request ${i}`)
  }
  await closed
  // close() waited for every request in flight.
  assert.ok(closedAt !== undefined && closedAt >= Math.max(...finishedAt))
  assert.equal(await refused(port), true, 'a new connection after close')
})
