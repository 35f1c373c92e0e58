/**
 * Property-based tests of the token endpoint over real HTTP: thousands of mutated requests,
 * never a 5xx, never a stack trace, never a token for a request that should fail.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import type { KeyPair } from '../../src/jose/keys.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
let t: TestServer
let key: KeyPair
let port: number

before(async () => {
  t = await startServer({
    clients: [
      {
        client_id: 'svc',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        scope: 'read write',
      },
      {
        client_id: 'bound',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        token_binding: 'dpop',
      },
    ],
  })
  port = Number(new URL(t.issuer).port)
  key = await generateKeyPair('ES256')
})
after(() => t.close())

interface RawResponse {
  status: number
  contentType: string
  body: string
}

/** Sends bytes exactly as given (fetch would normalise methods, headers and encodings). */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, 'content-length': String(body.length) },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

function assertWellFormedAnswer(r: RawResponse) {
  assert.ok(r.status < 500, `status ${r.status}: ${r.body}`)
  assert.doesNotMatch(r.body, /\n\s+at |node:internal|\.ts:\d+/, 'no stack trace')
  if (r.status >= 400) {
    assert.match(r.contentType, /^application\/json/)
    const body = JSON.parse(r.body) as { error?: unknown }
    assert.equal(typeof body.error, 'string')
  }
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

/** Mutations of a valid request, each known to break it or not. */
type Mutation =
  | { kind: 'wrong_secret' }
  | { kind: 'no_auth' }
  | { kind: 'method'; method: string }
  | { kind: 'content_type'; value: string }
  | { kind: 'grant_type'; value: string }
  | { kind: 'repeat_param' }
  | { kind: 'flip_proof'; at: number; char: string }
  | { kind: 'proof_for_get' }
  | { kind: 'extra_param'; name: string; value: string }
  | { kind: 'extra_header'; name: string; value: string }

const BREAKING = new Set([
  'wrong_secret',
  'no_auth',
  'method',
  'content_type',
  'grant_type',
  'repeat_param',
  'flip_proof',
  'proof_for_get',
])

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: 'wrong_secret' as const }),
  fc.constant({ kind: 'no_auth' as const }),
  fc.record({
    kind: fc.constant('method' as const),
    method: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH'),
  }),
  fc.record({
    kind: fc.constant('content_type' as const),
    value: fc.constantFrom(
      'application/json',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/xml',
    ),
  }),
  fc.record({
    kind: fc.constant('grant_type' as const),
    value: fc.constantFrom(
      'password',
      'implicit',
      'CLIENT_CREDENTIALS',
      'client_credentials ',
      'refresh_token',
    ),
  }),
  fc.constant({ kind: 'repeat_param' as const }),
  fc.record({
    kind: fc.constant('flip_proof' as const),
    at: fc.nat(),
    char: fc.constantFrom('A', 'b', '-', '_', '.', '='),
  }),
  fc.constant({ kind: 'proof_for_get' as const }),
  fc.record({
    kind: fc.constant('extra_param' as const),
    name: fc.stringMatching(/^x_[a-z]{1,8}$/),
    value: fc.string({ minLength: 1, maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant('extra_header' as const),
    name: fc.stringMatching(/^x-[a-z]{1,8}$/),
    value: fc.stringMatching(/^[ -~]{0,40}$/),
  }),
)

test('mutations of a valid DPoP token request: a token only when no mutation breaks it', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('svc', 'bound'),
      fc.array(mutation, { maxLength: 3 }),
      async (client, mutations) => {
        let method = 'POST'
        let proof = await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` })
        const params = new URLSearchParams({ grant_type: 'client_credentials' })
        const headers: Record<string, string> = {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(client, SECRET),
        }
        let repeat = false
        // Whether a mutation that must make the request fail actually changed it.
        let broken = false
        for (const m of mutations) {
          if (BREAKING.has(m.kind) && m.kind !== 'flip_proof') broken = true
          if (m.kind === 'wrong_secret') headers.authorization = basic(client, `${SECRET}x`)
          else if (m.kind === 'no_auth') delete headers.authorization
          else if (m.kind === 'method') method = m.method
          else if (m.kind === 'content_type') headers['content-type'] = m.value
          else if (m.kind === 'grant_type') params.set('grant_type', m.value)
          else if (m.kind === 'repeat_param') repeat = true
          else if (m.kind === 'flip_proof') {
            const i = m.at % proof.length
            const flipped = `${proof.slice(0, i)}${m.char}${proof.slice(i + 1)}`
            // A flip to the same character is no mutation at all.
            if (flipped !== proof) broken = true
            proof = flipped
          } else if (m.kind === 'proof_for_get') {
            proof = await createProof({ key, htm: 'GET', htu: `${t.issuer}/token` })
          } else if (m.kind === 'extra_param') params.set(m.name, m.value)
          else headers[m.name] = m.value
        }
        headers.dpop = proof
        let body = params.toString()
        if (repeat) body += '&grant_type=client_credentials'
        const r = await send(method, '/token', headers, Buffer.from(body))
        assertWellFormedAnswer(r)
        if (broken) {
          assert.doesNotMatch(r.body, /access_token/, `a token for ${JSON.stringify(mutations)}`)
          assert.ok(r.status >= 400)
        } else {
          assert.equal(r.status, 200, `${JSON.stringify(mutations)} -> ${r.body}`)
          assert.match(r.body, /"token_type":"DPoP"/)
        }
      },
    ),
    { numRuns: 600 },
  )
})

test('arbitrary requests to the server: never a 5xx, never a stack trace', async () => {
  const header = fc.stringMatching(/^[!-~][ -~]{0,60}$/)
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      fc.constantFrom(
        '/token',
        '/jwks',
        '/.well-known/oauth-authorization-server',
        '/healthz',
        '/nope',
        '/token/../jwks',
        '/%ZZ',
        '/token?x=%00',
      ),
      fc.record(
        {
          'content-type': fc.constantFrom(
            'application/x-www-form-urlencoded',
            'application/x-www-form-urlencoded; charset=utf-8',
            'application/json',
            'text/plain',
            'application/x-www-form-urlencoded; charset=latin1',
          ),
          authorization: fc.oneof(
            header,
            fc.constant(basic('svc', SECRET)),
            fc.constant('Basic !!!'),
          ),
          dpop: header,
        },
        { requiredKeys: [] },
      ),
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
        fc
          .dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 30 }))
          .map((d) => Buffer.from(new URLSearchParams(d).toString())),
        fc.constant(Buffer.from('{"grant_type":"client_credentials"}')),
        fc.constant(
          Buffer.from('grant_type=client_credentials&client_id=svc&client_secret=%E0%A4%A'),
        ),
      ),
      async (method, path, headers, body) => {
        const r = await send(
          method,
          path,
          method === 'GET' || method === 'HEAD' ? {} : headers,
          method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : body,
        )
        if (method === 'HEAD') {
          assert.ok(r.status < 500)
          return
        }
        assertWellFormedAnswer(r)
        if (r.status === 200 && path.startsWith('/token')) {
          // Only the one valid combination may give a token: Basic svc + form + client_credentials.
          assert.equal(headers.authorization, basic('svc', SECRET))
        }
      },
    ),
    { numRuns: 1500 },
  )
})
