// The gateway in proxy mode, over real HTTP: a real keybound authorization server issues
// DPoP-bound tokens, a real node:http upstream records what reaches it.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { request, type ServerResponse } from 'node:http'
import { createServer } from 'node:net'
import type { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { startServer, type TestServer } from '../../helpers/server.js'
import {
  AS_CONFIG,
  AUDIENCE,
  bearerToken,
  call,
  type DPoPClient,
  dpopClient,
  type RunningGateway,
  rawValues,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers.js'

const ALGS = 'algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"'

let as: TestServer
let upstream: Upstream
let gw: RunningGateway
let client: DPoPClient

before(async () => {
  as = await startServer(AS_CONFIG)
  upstream = await startUpstream()
  gw = await startGateway(as, { upstream: upstream.url })
  client = await dpopClient(as)
})
after(async () => {
  await gw.close()
  await upstream.close()
  await as.close()
})

/** The `Authorization` and `DPoP` fields of a request with `client`'s token. */
async function dpop(c: DPoPClient, method: string, url: string): Promise<[string, string][]> {
  return [
    ['Authorization', `DPoP ${c.token}`],
    ['DPoP', await c.proof(method, url)],
  ]
}

const json = (body: string) => JSON.parse(body) as Record<string, unknown>

describe('gateway: forwarding a verified request', () => {
  test('the upstream gets the identity headers, never the forged copies, the DPoP proof or the token', async () => {
    const url = `${gw.url}/api/orders?id=7`
    const before = upstream.requests.length
    const res = await call(url, {
      method: 'POST',
      headers: [
        ...(await dpop(client, 'POST', url)),
        ['X-Keybound-Subject', 'admin'],
        ['x-KEYBOUND-subject', 'root'],
        ['X-Keybound-Client-Id', 'other'],
        ['X-Keybound-Scope', 'admin'],
        ['X-KEYBOUND-SCOPE', 'admin root'],
        ['X-Keybound-Binding', 'none'],
        ['X-Keybound-Jkt', 'forged'],
        ['X-Keybound-Cert-Thumbprint', 'forged'],
        ['X-Forwarded-For', '203.0.113.9'],
        ['X-Forwarded-Host', 'spoofed.example'],
        ['X-Forwarded-Proto', 'https'],
        ['Forwarded', 'for=203.0.113.9;host=spoofed.example'],
        ['Content-Type', 'application/json'],
        ['X-Request-Id', 'r-1'],
      ],
      body: '{"item":42}',
    })
    assert.equal(res.status, 200, res.body)
    assert.equal(res.body, '{"ok":true}')
    assert.equal(res.headers['content-type'], 'application/json')
    assert.equal(upstream.requests.length, before + 1)
    const seen = upstream.requests.at(-1)
    assert.ok(seen)
    assert.equal(seen.method, 'POST')
    assert.equal(seen.url, '/api/orders?id=7')
    assert.equal(seen.body.toString(), '{"item":42}')
    const jkt = (decodeJwt(client.token).cnf as { jkt: string }).jkt
    const raw = seen.rawHeaders
    assert.deepEqual(rawValues(raw, 'X-Keybound-Subject'), ['svc'])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Client-Id'), ['svc'])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Scope'), ['read write'])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Binding'), ['dpop'])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Jkt'), [jkt])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Cert-Thumbprint'), [])
    assert.deepEqual(rawValues(raw, 'DPoP'), [])
    assert.deepEqual(rawValues(raw, 'Authorization'), [])
    // The client is not a trusted proxy: its forwarding fields are replaced, not extended.
    assert.deepEqual(rawValues(raw, 'X-Forwarded-For'), ['127.0.0.1'])
    assert.deepEqual(rawValues(raw, 'X-Forwarded-Host'), [`127.0.0.1:${gw.port}`])
    assert.deepEqual(rawValues(raw, 'X-Forwarded-Proto'), ['http'])
    assert.deepEqual(rawValues(raw, 'Forwarded'), [
      `for=127.0.0.1;host="127.0.0.1:${gw.port}";proto=http`,
    ])
    assert.deepEqual(rawValues(raw, 'Host'), [`127.0.0.1:${upstream.port}`])
    assert.deepEqual(rawValues(raw, 'Content-Type'), ['application/json'])
    assert.deepEqual(rawValues(raw, 'X-Request-Id'), ['r-1'])
    assert.deepEqual(rawValues(raw, 'Content-Length'), ['11'])
  })

  test('GET without a body reaches the upstream without one', async () => {
    const url = `${gw.url}/items`
    const res = await call(url, { headers: await dpop(client, 'GET', url) })
    assert.equal(res.status, 200)
    const seen = upstream.requests.at(-1)
    assert.equal(seen?.method, 'GET')
    assert.equal(seen?.body.length, 0)
    assert.deepEqual(rawValues(seen?.rawHeaders ?? [], 'Transfer-Encoding'), [])
  })

  test('a plain bearer token is refused unless allowBearer; with it, binding is "bearer"', async () => {
    const token = await bearerToken(as)
    const before = upstream.requests.length
    const refused = await call(`${gw.url}/items`, {
      headers: [['Authorization', `Bearer ${token}`]],
    })
    assert.equal(refused.status, 401)
    assert.deepEqual(json(refused.body), {
      error: 'invalid_token',
      error_description: 'the access token must be sender-constrained',
    })
    assert.equal(upstream.requests.length, before)

    const open = await startGateway(as, { upstream: upstream.url, allowBearer: true })
    try {
      const res = await call(`${open.url}/items`, {
        headers: [
          ['Authorization', `Bearer ${token}`],
          ['X-Keybound-Jkt', 'forged'],
        ],
      })
      assert.equal(res.status, 200, res.body)
      const raw = upstream.requests.at(-1)?.rawHeaders ?? []
      assert.deepEqual(rawValues(raw, 'X-Keybound-Binding'), ['bearer'])
      assert.deepEqual(rawValues(raw, 'X-Keybound-Subject'), ['plain'])
      assert.deepEqual(rawValues(raw, 'X-Keybound-Scope'), ['read'])
      assert.deepEqual(rawValues(raw, 'X-Keybound-Jkt'), [])
    } finally {
      await open.close()
    }
  })
})

describe('gateway: refusals never reach the upstream', () => {
  test('no token: 401 with the bare challenges and no body (RFC 6750 §3.1)', async () => {
    const before = upstream.requests.length
    const res = await call(`${gw.url}/items`)
    assert.equal(res.status, 401)
    assert.equal(res.headers['www-authenticate'], `DPoP ${ALGS}`)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers['content-length'], '0')
    assert.equal(res.body, '')
    assert.equal(upstream.requests.length, before)
  })

  test('a tampered token, a missing proof, the token as Bearer, DPoP with Bearer: each its answer', async () => {
    const before = upstream.requests.length
    const url = `${gw.url}/items`
    const tampered = `${client.token.slice(0, -4)}AAAA`
    const cases: { headers: [string, string][]; status: number; www: string; body: unknown }[] = [
      {
        headers: [
          ['Authorization', `DPoP ${tampered}`],
          ['DPoP', await client.proof('GET', url)],
        ],
        status: 401,
        www: `DPoP ${ALGS}, error="invalid_token", error_description="the access token signature is invalid"`,
        body: {
          error: 'invalid_token',
          error_description: 'the access token signature is invalid',
        },
      },
      {
        headers: [['Authorization', `DPoP ${client.token}`]],
        status: 401,
        www: `DPoP ${ALGS}, error="invalid_dpop_proof", error_description="DPoP proof is missing"`,
        body: { error: 'invalid_dpop_proof', error_description: 'DPoP proof is missing' },
      },
      {
        headers: [['Authorization', `Bearer ${client.token}`]],
        status: 401,
        www: `DPoP ${ALGS}, error="invalid_token", error_description="a DPoP-bound access token requires the DPoP scheme"`,
        body: {
          error: 'invalid_token',
          error_description: 'a DPoP-bound access token requires the DPoP scheme',
        },
      },
      {
        headers: [
          ['Authorization', `Bearer ${client.token}`],
          ['DPoP', await client.proof('GET', url)],
        ],
        status: 400,
        www: `DPoP ${ALGS}, error="invalid_request", error_description="a DPoP proof requires the DPoP scheme"`,
        body: {
          error: 'invalid_request',
          error_description: 'a DPoP proof requires the DPoP scheme',
        },
      },
    ]
    for (const c of cases) {
      const res = await call(url, { headers: c.headers })
      assert.equal(res.status, c.status, res.body)
      assert.equal(res.headers['www-authenticate'], c.www)
      assert.equal(res.headers['cache-control'], 'no-store')
      assert.equal(res.headers['content-type'], 'application/json')
      assert.deepEqual(json(res.body), c.body)
    }
    assert.equal(upstream.requests.length, before)
  })

  test('two Authorization fields are refused, not the first believed', async () => {
    const url = `${gw.url}/items`
    const before = upstream.requests.length
    const res = await call(url, {
      headers: [...(await dpop(client, 'GET', url)), ['Authorization', 'Bearer other']],
    })
    assert.equal(res.status, 400)
    assert.deepEqual(json(res.body), {
      error: 'invalid_request',
      error_description: 'more than one Authorization header',
    })
    assert.equal(upstream.requests.length, before)
  })

  test("htu is the gateway's URL: a proof for the upstream's URL is refused", async () => {
    const before = upstream.requests.length
    const res = await call(`${gw.url}/items`, {
      headers: [
        ['Authorization', `DPoP ${client.token}`],
        ['DPoP', await client.proof('GET', `${upstream.url}/items`)],
      ],
    })
    assert.equal(res.status, 401)
    assert.deepEqual(json(res.body), {
      error: 'invalid_dpop_proof',
      error_description: 'DPoP proof "htu" does not match the request',
    })
    assert.equal(upstream.requests.length, before)
    const refusal = gw.logger.lines.find((line) => line.reason === 'htu_mismatch')
    assert.ok(refusal, 'the refusal is logged with its reason')
    assert.ok(!JSON.stringify(gw.logger.lines).includes(client.token), 'no token in the log')
  })

  test('a replayed proof is refused (RFC 9449 §11.1)', async () => {
    const url = `${gw.url}/once`
    const headers = await dpop(client, 'GET', url)
    const before = upstream.requests.length
    assert.equal((await call(url, { headers })).status, 200)
    const replay = await call(url, { headers })
    assert.equal(replay.status, 401)
    assert.deepEqual(json(replay.body), {
      error: 'invalid_dpop_proof',
      error_description: 'DPoP proof has been used before',
    })
    assert.equal(upstream.requests.length, before + 1)
  })

  test('replayCacheMaxEntries: a full replay cache answers 503 and forwards nothing', async () => {
    const small = await startGateway(as, { upstream: upstream.url, replayCacheMaxEntries: 2 })
    try {
      const url = `${small.url}/capacity`
      const before = upstream.requests.length
      for (let i = 0; i < 2; i++) {
        assert.equal((await call(url, { headers: await dpop(client, 'GET', url) })).status, 200)
      }
      const full = await call(url, { headers: await dpop(client, 'GET', url) })
      assert.equal(full.status, 503)
      assert.deepEqual(json(full.body), {
        error: 'temporarily_unavailable',
        error_description: 'Replay detection is at capacity',
      })
      assert.equal(upstream.requests.length, before + 2)
    } finally {
      await small.close()
    }
  })
})

describe('gateway: the public URL', () => {
  test('with publicUrl, htu is checked on it and it goes upstream as X-Forwarded-*', async () => {
    const pub = await startGateway(as, {
      upstream: `${upstream.url}/base/`,
      publicUrl: 'https://api.example/v1',
    })
    try {
      const wrong = await call(`${pub.url}/things`, {
        headers: await dpop(client, 'GET', `${pub.url}/things`),
      })
      assert.equal(wrong.status, 401)
      assert.equal(json(wrong.body).error, 'invalid_dpop_proof')
      const res = await call(`${pub.url}/things?x=1`, {
        headers: await dpop(client, 'GET', 'https://api.example/v1/things'),
      })
      assert.equal(res.status, 200, res.body)
      const seen = upstream.requests.at(-1)
      assert.equal(seen?.url, '/base/things?x=1')
      assert.deepEqual(rawValues(seen?.rawHeaders ?? [], 'X-Forwarded-Proto'), ['https'])
      assert.deepEqual(rawValues(seen?.rawHeaders ?? [], 'X-Forwarded-Host'), ['api.example'])
    } finally {
      await pub.close()
    }
  })

  test('forwarding fields are believed from trustProxy peers only', async () => {
    const trusting = await startGateway(as, { upstream: upstream.url, trustProxy: ['127.0.0.1'] })
    try {
      const htu = 'https://public.example/p'
      const forwarded: [string, string][] = [
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'public.example'],
        ['X-Forwarded-For', '203.0.113.9'],
      ]
      // From 127.0.0.2, not a trusted proxy: the fields are ignored, so the proof does not fit.
      const before = upstream.requests.length
      const untrusted = await call(`${trusting.url}/p`, {
        headers: [...(await dpop(client, 'GET', htu)), ...forwarded],
        localAddress: '127.0.0.2',
      })
      assert.equal(untrusted.status, 401)
      assert.equal(json(untrusted.body).error, 'invalid_dpop_proof')
      assert.equal(upstream.requests.length, before)
      // The same from 127.0.0.1, trusted: the URL is the forwarded one, the chain is extended.
      const res = await call(`${trusting.url}/p`, {
        headers: [...(await dpop(client, 'GET', htu)), ...forwarded],
      })
      assert.equal(res.status, 200, res.body)
      const raw = upstream.requests.at(-1)?.rawHeaders ?? []
      assert.deepEqual(rawValues(raw, 'X-Forwarded-For'), ['203.0.113.9, 127.0.0.1'])
      assert.deepEqual(rawValues(raw, 'X-Forwarded-Host'), ['public.example'])
      assert.deepEqual(rawValues(raw, 'X-Forwarded-Proto'), ['https'])
      assert.deepEqual(rawValues(raw, 'Forwarded'), [
        'for=127.0.0.1;host=public.example;proto=https',
      ])
    } finally {
      await trusting.close()
    }
  })
})

describe('gateway: DPoP nonces (RFC 9449 §9)', () => {
  test('with dpop.nonce required, the first answer hands out a nonce and the retry passes', async () => {
    const strict = await startGateway(as, {
      upstream: upstream.url,
      dpop: { nonce: 'required', nonceSecret: Buffer.alloc(32, 7).toString('base64url') },
    })
    try {
      const url = `${strict.url}/n`
      const first = await call(url, { headers: await dpop(client, 'GET', url) })
      assert.equal(first.status, 401)
      assert.equal(json(first.body).error, 'use_dpop_nonce')
      const nonce = first.headers['dpop-nonce']
      assert.equal(typeof nonce, 'string')
      assert.match(
        first.headers['www-authenticate'] ?? '',
        /^DPoP algs="[^"]+", error="use_dpop_nonce"/,
      )
      const retry = await call(url, {
        headers: [
          ['Authorization', `DPoP ${client.token}`],
          ['DPoP', await client.proof('GET', url, nonce as string)],
        ],
      })
      assert.equal(retry.status, 200, retry.body)
    } finally {
      await strict.close()
    }
  })
})

describe('gateway: hop-by-hop fields (RFC 9110 §7.6.1)', () => {
  test('are removed both ways, with every field Connection names', async () => {
    upstream.route('/hop', (req, res) => {
      req.resume()
      req.on('end', () => {
        upstream.requests.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: Buffer.alloc(0),
        })
        res.setHeader('Connection', 'X-Up-Hop')
        res.setHeader('X-Up-Hop', 'secret')
        res.setHeader('Keep-Alive', 'timeout=99')
        res.setHeader('Proxy-Authenticate', 'Basic realm="upstream"')
        res.setHeader('Proxy-Connection', 'keep-alive')
        res.setHeader('Trailer', 'X-Checksum')
        res.setHeader('X-Up-Kept', 'yes')
        res.end('hop')
      })
    })
    const url = `${gw.url}/hop`
    const res = await call(url, {
      method: 'POST',
      headers: [
        ...(await dpop(client, 'POST', url)),
        ['Connection', 'close, X-Hop-A, x-hop-b'],
        ['X-Hop-A', '1'],
        ['X-HOP-B', '2'],
        ['Keep-Alive', 'timeout=5'],
        ['TE', 'trailers'],
        ['Trailer', 'X-Sum'],
        ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
        ['Proxy-Connection', 'keep-alive'],
        ['Upgrade', 'h2c'],
        ['X-End-To-End', 'kept'],
      ],
      body: 'abc',
    })
    assert.equal(res.status, 200, res.body)
    assert.equal(res.body, 'hop')
    const raw = upstream.requests.at(-1)?.rawHeaders ?? []
    for (const name of [
      'X-Hop-A',
      'X-Hop-B',
      'Keep-Alive',
      'TE',
      'Trailer',
      'Proxy-Authorization',
      'Proxy-Connection',
      'Upgrade',
      'Transfer-Encoding',
    ]) {
      assert.deepEqual(rawValues(raw, name), [], `${name} must not reach the upstream`)
    }
    assert.deepEqual(rawValues(raw, 'X-End-To-End'), ['kept'])
    assert.deepEqual(rawValues(raw, 'Content-Length'), ['3'])
    // The client's connection has node's own Connection field, nothing of the upstream's.
    assert.deepEqual(rawValues(res.rawHeaders, 'Connection'), ['close'])
    for (const name of [
      'X-Up-Hop',
      'Keep-Alive',
      'Proxy-Authenticate',
      'Proxy-Connection',
      'Trailer',
    ]) {
      assert.deepEqual(rawValues(res.rawHeaders, name), [], `${name} must not reach the client`)
    }
    assert.deepEqual(rawValues(res.rawHeaders, 'X-Up-Kept'), ['yes'])
  })
})

/** Resolves when `promise` does, or rejects after `ms` saying what did not happen. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const CHUNK = 64 * 1024
const BIG = 48 * 1024 * 1024

/** Chunk `i` of a large body: 64 KiB, its first bytes the chunk's number. */
function chunk(i: number): Buffer {
  const buffer = Buffer.alloc(CHUNK, i % 251)
  buffer.writeUInt32BE(i)
  return buffer
}

describe('gateway: bodies stream both ways', () => {
  test('the upstream reads the first bytes of a 48 MiB upload before the client has sent the rest', async () => {
    let sawFirst!: () => void
    const firstArrived = new Promise<void>((resolve) => {
      sawFirst = resolve
    })
    upstream.route('/upload', (req, res) => {
      const hash = createHash('sha256')
      let length = 0
      req.on('data', (data: Buffer) => {
        if (length === 0) sawFirst()
        length += data.length
        hash.update(data)
      })
      req.on('end', () => res.end(JSON.stringify({ length, sha256: hash.digest('hex') })))
    })
    const url = `${gw.url}/upload`
    const headers = await dpop(client, 'PUT', url)
    const expected = createHash('sha256')
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'PUT',
          agent: false,
          headers: Object.fromEntries([...headers, ['Content-Type', 'application/octet-stream']]),
        },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (data: string) => {
            body += data
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        },
      )
      req.on('error', reject)
      const first = chunk(0)
      expected.update(first)
      req.write(first)
      // Nothing more is sent until the upstream has seen the first chunk: a gateway that
      // buffered the body would wait here forever.
      within(firstArrived, 5000, 'the upstream to see the first chunk before the last was sent')
        .then(async () => {
          for (let i = 1; i < BIG / CHUNK; i++) {
            const data = chunk(i)
            expected.update(data)
            if (!req.write(data)) await new Promise((resolve) => req.once('drain', resolve))
          }
          req.end()
        })
        .catch((error) => {
          req.destroy()
          reject(error)
        })
    })
    const res = await answer
    assert.equal(res.status, 200, res.body)
    assert.deepEqual(JSON.parse(res.body), { length: BIG, sha256: expected.digest('hex') })
  })

  test('the client reads the first bytes of a 48 MiB download before the upstream has sent the rest', async () => {
    let clientGotFirst!: () => void
    const firstReceived = new Promise<void>((resolve) => {
      clientGotFirst = resolve
    })
    const sent = createHash('sha256')
    upstream.route('/download', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const first = chunk(0)
      sent.update(first)
      res.write(first)
      within(firstReceived, 5000, 'the client to get the first chunk before the last was sent')
        .then(async () => {
          for (let i = 1; i < BIG / CHUNK; i++) {
            const data = chunk(i)
            sent.update(data)
            if (!res.write(data)) await new Promise((resolve) => res.once('drain', resolve))
          }
          res.end()
        })
        .catch(() => res.destroy())
    })
    const url = `${gw.url}/download`
    const headers = await dpop(client, 'GET', url)
    const received = await new Promise<{ status: number; length: number; sha256: string }>(
      (resolve, reject) => {
        const req = request(url, { agent: false, headers: Object.fromEntries(headers) }, (res) => {
          const hash = createHash('sha256')
          let length = 0
          res.on('data', (data: Buffer) => {
            if (length === 0) clientGotFirst()
            length += data.length
            hash.update(data)
          })
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, length, sha256: hash.digest('hex') }),
          )
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end()
      },
    )
    assert.equal(received.status, 200)
    assert.equal(received.length, BIG)
    assert.equal(received.sha256, sent.digest('hex'))
  })
})

/**
 * Writes 64 KiB chunks into `stream` until a write has waited 500 ms for `drain` (the reader
 * stopped and every buffer on the way is full), or `limit` bytes went in. Answers the bytes
 * accepted.
 */
async function writeUntilStalled(stream: Writable, limit: number): Promise<number> {
  const data = Buffer.alloc(CHUNK, 1)
  let written = 0
  while (written < limit) {
    written += data.length
    if (stream.write(data)) continue
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => stream.once('drain', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500)),
    ])
    if (!drained) break
  }
  return written
}

const LIMIT = 256 * 1024 * 1024
/** Loopback socket buffers on two hops hold a few MiB (9 MiB measured); a gateway that buffered would take all. */
const BOUND = 32 * 1024 * 1024

describe('gateway: backpressure, no buffering of whole bodies', () => {
  test('an upstream that stops reading stops the client after a few MiB', async () => {
    let upstreamSide: ServerResponse | undefined
    upstream.route('/stall', (req, res) => {
      upstreamSide = res
      req.once('data', () => req.pause())
    })
    const url = `${gw.url}/stall`
    const headers = Object.fromEntries(await dpop(client, 'PUT', url))
    const req = request(url, { method: 'PUT', agent: false, headers })
    req.on('error', () => {})
    const accepted = await writeUntilStalled(req, LIMIT)
    assert.ok(accepted < BOUND, `the client got ${accepted} bytes in before it was stopped`)
    upstreamSide?.destroy()
    req.destroy()
  })

  test('a client that stops reading stops the upstream after a few MiB', async () => {
    let sent!: (bytes: number) => void
    const upstreamSent = new Promise<number>((resolve) => {
      sent = resolve
    })
    let upstreamSide: ServerResponse | undefined
    upstream.route('/flood', (_req, res) => {
      upstreamSide = res
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      void writeUntilStalled(res, LIMIT).then(sent)
    })
    const url = `${gw.url}/flood`
    const headers = Object.fromEntries(await dpop(client, 'GET', url))
    const req = request(url, { agent: false, headers }, (res) => res.pause())
    req.on('error', () => {})
    req.end()
    const bytes = await within(upstreamSent, 20_000, 'the upstream to be stopped')
    assert.ok(bytes < BOUND, `the upstream got ${bytes} bytes out before it was stopped`)
    req.destroy()
    upstreamSide?.destroy()
  })
})

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

describe('gateway: upstream failures', () => {
  test('an upstream that is down: 502 with a fixed body; the cause is logged, not sent', async () => {
    const port = await closedPort()
    const down = await startGateway(as, { upstream: `http://127.0.0.1:${port}` })
    try {
      const url = `${down.url}/x`
      const res = await call(url, { headers: await dpop(client, 'GET', url) })
      assert.equal(res.status, 502)
      assert.equal(res.headers['content-type'], 'application/json')
      assert.equal(res.headers['cache-control'], 'no-store')
      assert.equal(
        res.body,
        '{"error":"bad_gateway","error_description":"the upstream service could not be reached"}',
      )
      const logged = down.logger.lines.find((line) => line.msg === 'upstream unreachable')
      assert.equal(logged?.code, 'ECONNREFUSED')
      assert.equal(logged?.level, 'error')
    } finally {
      await down.close()
    }
  })

  test('an upstream that does not answer in time: 504 with a fixed body', async () => {
    upstream.route('/slow', (req) => {
      req.resume() // never answers
    })
    const slow = await startGateway(as, {
      upstream: upstream.url,
      timeouts: { upstream: 0.3 },
    })
    try {
      const url = `${slow.url}/slow`
      const res = await call(url, { headers: await dpop(client, 'GET', url) })
      assert.equal(res.status, 504)
      assert.equal(
        res.body,
        '{"error":"gateway_timeout","error_description":"the upstream service did not answer in time"}',
      )
      const logged = slow.logger.lines.find((line) => line.msg === 'upstream timed out')
      assert.equal(logged?.code, 'UND_ERR_HEADERS_TIMEOUT')
    } finally {
      await slow.close()
    }
  })
})

describe('gateway: its own endpoints', () => {
  test('/metrics counts verified and refused requests and upstream answers; it is not proxied', async () => {
    const fresh = await startGateway(as, { upstream: upstream.url })
    try {
      const url = `${fresh.url}/m`
      const before = upstream.requests.length
      assert.equal((await call(url, { headers: await dpop(client, 'GET', url) })).status, 200)
      assert.equal((await call(url)).status, 401)
      const wrongHtu = await call(url, { headers: await dpop(client, 'GET', `${url}/other`) })
      assert.equal(wrongHtu.status, 401)
      const res = await call(`${fresh.url}/metrics`)
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
      const lines = res.body.split('\n')
      for (const line of [
        'keybound_resource_requests_total{outcome="verified",binding="dpop",reason="ok"} 1',
        'keybound_resource_requests_total{outcome="refused",binding="none",reason="missing_token"} 1',
        'keybound_resource_requests_total{outcome="refused",binding="dpop",reason="htu_mismatch"} 1',
        'keybound_gateway_upstream_responses_total{outcome="2xx"} 1',
      ]) {
        assert.ok(lines.includes(line), `${line} in:\n${res.body}`)
      }
      assert.ok(lines.some((line) => line.startsWith('process_cpu_user_seconds_total ')))
      assert.equal(upstream.requests.length, before + 1, '/metrics is answered by the gateway')
    } finally {
      await fresh.close()
    }
  })

  test('/healthz answers 200 to GET, 405 to POST, and needs no token', async () => {
    const before = upstream.requests.length
    const res = await call(`${gw.url}/healthz`)
    assert.equal(res.status, 200)
    assert.equal(res.body, '{"status":"ok"}')
    const post = await call(`${gw.url}/healthz`, { method: 'POST' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.allow, 'GET, HEAD')
    assert.equal(upstream.requests.length, before)
  })

  test('paths are configurable, and false turns one off (then it is proxied like any path)', async () => {
    const custom = await startGateway(as, {
      upstream: upstream.url,
      paths: { health: '/-/ready', metrics: false },
    })
    try {
      assert.equal((await call(`${custom.url}/-/ready`)).body, '{"status":"ok"}')
      const metrics = await call(`${custom.url}/metrics`)
      assert.equal(metrics.status, 401, 'a protected upstream path like any other')
    } finally {
      await custom.close()
    }
  })
})

describe('gateway: graceful shutdown', () => {
  test('close() lets the request in flight finish, then refuses new connections', async () => {
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let arrived!: () => void
    const inFlight = new Promise<void>((resolve) => {
      arrived = resolve
    })
    upstream.route('/held', (req, res) => {
      req.resume()
      arrived()
      void released.then(() => res.end('finished'))
    })
    const g = await startGateway(as, { upstream: upstream.url })
    const url = `${g.url}/held`
    const pending = call(url, { headers: await dpop(client, 'GET', url) })
    await within(inFlight, 5000, 'the request to reach the upstream')
    const closed = g.close()
    await new Promise((resolve) => setTimeout(resolve, 100))
    await assert.rejects(call(`${g.url}/healthz`), { code: 'ECONNREFUSED' })
    release()
    const res = await pending
    assert.equal(res.status, 200)
    assert.equal(res.body, 'finished')
    await within(closed, 5000, 'close() to resolve')
  })
})

describe('gateway: replay detection on Redis', () => {
  test('two gateways sharing Redis refuse a proof the other accepted', async () => {
    const shared = { upstream: upstream.url, publicUrl: AUDIENCE, audience: undefined }
    const a = await startGateway(as, { ...shared, replayCache: 'redis://127.0.0.1:6379' })
    const b = await startGateway(as, { ...shared, replayCache: 'redis://127.0.0.1:6379' })
    try {
      // Each Redis client connects in the background (503 until then: fail closed).
      for (const g of [a, b]) {
        let status = 503
        for (let i = 0; status === 503 && i < 100; i++) {
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50))
          const warm = await call(`${g.url}/shared`, {
            headers: await dpop(client, 'GET', `${AUDIENCE}/shared`),
          })
          status = warm.status
        }
        assert.equal(status, 200)
      }
      const headers = await dpop(client, 'GET', `${AUDIENCE}/shared`)
      assert.equal((await call(`${a.url}/shared`, { headers })).status, 200)
      const replay = await call(`${b.url}/shared`, { headers })
      assert.equal(replay.status, 401)
      assert.deepEqual(json(replay.body), {
        error: 'invalid_dpop_proof',
        error_description: 'DPoP proof has been used before',
      })
    } finally {
      await a.close()
      await b.close()
    }
  })
})
