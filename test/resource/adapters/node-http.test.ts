/**
 * protect and verifyNodeRequest on plain node:http and node:https servers: the keybound
 * authorization server's DPoP-bound tokens, and (from a crafted issuer, as keybound's server
 * does not bind tokens to certificates yet) certificate-bound tokens over real mutual TLS.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { certificateThumbprint } from '../../../src/bindings/mtls/thumbprint.js'
import { createMemoryReplayCache } from '../../../src/replay/memory.js'
import { sendResourceError, toResourceRequest } from '../../../src/resource/adapters/http.js'
import { metricsHandler } from '../../../src/resource/adapters/metrics-handler.js'
import { protect, verifyNodeRequest } from '../../../src/resource/adapters/node-http.js'
import { ResourceError } from '../../../src/resource/errors.js'
import { createVerifier, type Verifier } from '../../../src/resource/verifier.js'
import { startIssuer, type TestIssuer } from '../../helpers/issuer.js'
import type { TestServer } from '../../helpers/server.js'
import {
  type Answer,
  adapterSuite,
  brokenVerifier,
  CHALLENGE,
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

adapterSuite('node:http', async (verifier: Verifier) => {
  let handled = 0
  const getOrders = protect(verifier, (req, res) => {
    handled++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(seenOf(req.keybound)))
  })
  const postOrders = protect(
    verifier,
    (_req, res) => {
      handled++
      res.statusCode = 201
      res.end('{"created":true}')
    },
    { scope: 'write' },
  )
  const metrics = metricsHandler(verifier)
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0]
    if (path === '/metrics') return void metrics(req, res)
    if (path === '/orders' && req.method === 'GET') return void getOrders(req, res)
    if (path === '/orders' && req.method === 'POST') return void postOrders(req, res)
    res.statusCode = 404
    res.end()
  })
  const url = await listen(server)
  return { url, handled: () => handled, close: () => closeServer(server) }
})

describe('node:http: errors, verifyNodeRequest', () => {
  let as: TestServer
  before(async () => {
    as = await startAuthorizationServer()
  })
  after(() => as?.close())

  test('an unexpected failure: 500, a generic JSON body, onError told', async () => {
    const boom = new Error('the verifier broke: secret detail')
    const told: unknown[] = []
    let reached = false
    const listener = protect(
      brokenVerifier(boom),
      () => {
        reached = true
      },
      undefined,
      { onError: (error) => told.push(error) },
    )
    const server = createServer((req, res) => void listener(req, res))
    const url = await listen(server)
    try {
      const r = await send(`${url}/orders`, 'GET', { authorization: 'DPoP abc' })
      assert.equal(r.status, 500)
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8')
      assert.equal(r.headers['cache-control'], 'no-store')
      assert.equal(
        r.body,
        '{"error":"server_error","error_description":"the request could not be verified"}',
      )
      assert.deepEqual(told, [boom])
      assert.equal(reached, false)
    } finally {
      await closeServer(server)
    }
  })

  test('verifyNodeRequest answers nothing; sendResourceError answers as protect does', async () => {
    const verifier = verifierFor(as)
    const outcomes: string[] = []
    const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      try {
        const verified = await verifyNodeRequest(verifier, req, { scope: 'read' })
        outcomes.push(`verified ${verified.subject}`)
        res.end('ok')
      } catch (error) {
        outcomes.push(error instanceof ResourceError ? `refused ${error.reason}` : 'bug')
        sendResourceError(res, error)
      }
    })
    const url = await listen(server)
    try {
      const refused = await send(`${url}/orders`, 'GET')
      assert.equal(refused.status, 401)
      assert.equal(refused.headers['www-authenticate'], CHALLENGE)
      const key = newKey()
      const token = await obtainToken(as, key, 'read')
      const ok = await call(`${url}/orders`, 'GET', { key, token })
      assert.equal(ok.status, 200)
      assert.deepEqual(outcomes, ['refused missing_token', 'verified orders-client'])
    } finally {
      await closeServer(server)
    }
  })

  test("the handler's own rejection is returned, not swallowed", async () => {
    const verifier = verifierFor(as)
    const failure = new Error('the handler failed')
    const listener = protect(verifier, async () => {
      throw failure
    })
    const results: unknown[] = []
    const server = createServer((req, res) => {
      listener(req, res).then(
        () => results.push('resolved'),
        (error) => {
          results.push(error)
          res.statusCode = 503
          res.end()
        },
      )
    })
    const url = await listen(server)
    try {
      const key = newKey()
      const token = await obtainToken(as, key, 'read')
      const r = await call(`${url}/x`, 'GET', { key, token })
      assert.equal(r.status, 503)
      assert.deepEqual(results, [failure])
    } finally {
      await closeServer(server)
    }
  })
})

/** Self-signed certificates made with openssl: PEM key and certificate. */
function makeCertificate(dir: string, name: string) {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      join(dir, `${name}.pem`),
    ],
    { stdio: 'ignore' },
  )
  return {
    key: readFileSync(join(dir, `${name}.key`)),
    cert: readFileSync(join(dir, `${name}.pem`)),
  }
}

describe('node:https with client certificates (RFC 8705 §3)', () => {
  const API = 'https://tls.api.test'
  let issuer: TestIssuer
  let server: ReturnType<typeof createHttpsServer>
  let url: string
  let tls: Record<'server' | 'client' | 'other', { key: Buffer; cert: Buffer }>
  let seen: ReturnType<typeof toResourceRequest>[] = []

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybound-tls-'))
    tls = {
      server: makeCertificate(dir, 'localhost'),
      client: makeCertificate(dir, 'client'),
      other: makeCertificate(dir, 'other'),
    }
    rmSync(dir, { recursive: true, force: true })
    issuer = await startIssuer(API)
    const verifier = createVerifier({
      issuer: issuer.issuer,
      audience: API,
      replayCache: createMemoryReplayCache(),
    })
    const protectedListener = protect(verifier, (req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ binding: req.keybound.binding, subject: req.keybound.subject }))
    })
    server = createHttpsServer(
      { ...tls.server, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        if (req.url?.startsWith('/mapping')) {
          seen.push(toResourceRequest(req))
          res.end()
          return
        }
        void protectedListener(req, res)
      },
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    await issuer?.close()
  })

  function get(path: string, headers: Record<string, string>, client?: 'client' | 'other') {
    return new Promise<Answer>((resolve, reject) => {
      const req = httpsRequest(
        `${url}${path}`,
        {
          headers,
          ca: tls.server.cert,
          servername: 'localhost',
          checkServerIdentity: () => undefined,
          agent: false,
          ...(client ? tls[client] : {}),
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            }),
          )
        },
      )
      req.on('error', reject)
      req.end()
    })
  }

  test('the mapping: method, url, distinct headers, peer, TLS, the certificate DER', async () => {
    seen = []
    await get('/mapping?x=1', { authorization: 'DPoP abc' }, 'client')
    await get('/mapping', {})
    const [withCert, without] = seen
    assert.ok(withCert && without)
    assert.equal(withCert.method, 'GET')
    assert.equal(withCert.url, '/mapping?x=1')
    assert.deepEqual((withCert.headers as Record<string, unknown>).authorization, ['DPoP abc'])
    assert.equal(withCert.remoteAddress, '127.0.0.1')
    assert.equal(withCert.encrypted, true)
    const der = new X509Certificate(tls.client.cert).raw
    assert.ok(Buffer.from(withCert.clientCertificate as Uint8Array).equals(der))
    assert.equal(without.encrypted, true)
    assert.equal(without.clientCertificate, undefined)
  })

  test('a certificate-bound token passes with its certificate only', async () => {
    const x5t = certificateThumbprint(new X509Certificate(tls.client.cert))
    const token = issuer.token({ cnf: { 'x5t#S256': x5t } })
    const headers = { authorization: `Bearer ${token}` }

    const ok = await get('/orders', headers, 'client')
    assert.equal(ok.status, 200, ok.body)
    assert.equal(ok.body, '{"binding":"mtls","subject":"alice"}')

    for (const client of [undefined, 'other'] as const) {
      const refused = await get('/orders', headers, client)
      assert.equal(refused.status, 401, client)
      const description =
        client === undefined
          ? 'the access token requires the client certificate it is bound to'
          : 'the access token is bound to another certificate'
      assert.equal(
        refused.headers['www-authenticate'],
        `Bearer error="invalid_token", error_description="${description}", ${CHALLENGE}`,
      )
      assert.deepEqual(JSON.parse(refused.body), {
        error: 'invalid_token',
        error_description: description,
      })
    }
  })

  test('over TLS the URL a DPoP proof must name is https (encrypted is mapped)', async () => {
    const key = newKey()
    const { jwkThumbprint } = await import('../../../src/jose/jwk.js')
    const { d: _, ...jwk } = key.export({ format: 'jwk' })
    const token = issuer.token({ cnf: { jkt: await jwkThumbprint(jwk as never) } })
    const { createProof } = await import('../../../src/bindings/dpop/proof.js')
    const proof = (htu: string) =>
      createProof({ key, htm: 'GET', htu: `${htu}/orders`, accessToken: token })
    const ok = await get('/orders', { authorization: `DPoP ${token}`, dpop: await proof(url) })
    assert.equal(ok.status, 200, ok.body)
    assert.equal(ok.body, '{"binding":"dpop","subject":"alice"}')
    const plain = url.replace('https:', 'http:')
    const refused = await get('/orders', {
      authorization: `DPoP ${token}`,
      dpop: await proof(plain),
    })
    assert.equal(refused.status, 401)
    assert.equal(JSON.parse(refused.body).error, 'invalid_dpop_proof')
  })
})
