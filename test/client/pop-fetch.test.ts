/**
 * popFetch against a real node:http server on a loopback port that captures each request and
 * verifies its `Authorization: PoP` signature with the binding's verifyPopSignature
 * (pop-wire-format.md §2, §3), with a policy requiring exactly the parts the client covers.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type webcrypto } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { PopSignatureError } from '../../src/bindings/pop/errors.js'
import { type PopPart, type PopPolicy, verifyPopSignature } from '../../src/bindings/pop/verify.js'
import {
  type AccessTokenSource,
  createPopSignature,
  type PopFetchSign,
  popFetch,
} from '../../src/client/index.js'
import { EXAMPLE_JWS, EXAMPLE_PRIVATE_JWK } from '../bindings/pop/fixtures.js'

const AT = 'a-pop-access-token'
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const { d, p, q, dp, dq, qi, ...EXAMPLE_PUBLIC } = EXAMPLE_PRIVATE_JWK
const RSA_CNF = { ...rsa.publicKey.export({ format: 'jwk' }), alg: 'RS256' }

/** One request as the server saw it, and what verifyPopSignature said. */
interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
  covered?: readonly PopPart[]
  payload?: Record<string, unknown>
  reason?: string
}

let server: Server
let origin: string
const seen: Seen[] = []
/** What the server verifies the next requests against. */
let expected: { cnfJwk: unknown; policy: PopPolicy; accessToken: string; refuse?: string } = {
  cnfJwk: RSA_CNF,
  policy: {},
  accessToken: AT,
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const body = Buffer.concat(chunks)
      const entry: Seen = {
        method: req.method as string,
        url: req.url as string,
        headers: req.headers,
        body,
      }
      seen.push(entry)
      const jws = /^PoP (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
      const at = (() => {
        try {
          return JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString()).at
        } catch {
          return undefined
        }
      })()
      if (expected.refuse !== undefined && at === expected.refuse) {
        entry.reason = 'refused token'
        res.writeHead(401, { 'www-authenticate': 'PoP error="invalid_token"' }).end()
        return
      }
      try {
        const verified = await verifyPopSignature(jws, {
          cnfJwk: expected.cnfJwk,
          accessToken: expected.accessToken,
          policy: expected.policy,
          request: {
            method: req.method as string,
            host: req.headers.host as string,
            path: url.pathname,
            query: url.search,
            headers: req.headers,
            ...(body.length > 0 || req.headers['content-length'] !== undefined ? { body } : {}),
          },
        })
        entry.covered = verified.covered
        entry.payload = verified.payload
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
      } catch (err) {
        entry.reason = err instanceof PopSignatureError ? err.reason : String(err)
        res.writeHead(401, { 'www-authenticate': 'PoP error="invalid_token"' }).end()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

/** Sends one request through popFetch and returns what the server saw. */
async function call(
  options: Partial<Parameters<typeof popFetch>[0]>,
  path: string,
  init: RequestInit,
  policy: PopPolicy,
): Promise<{ status: number; seen: Seen }> {
  expected = { ...expected, policy }
  const api = popFetch({ key: rsa.privateKey, accessToken: AT, ...options })
  const before = seen.length
  const response = await api(`${origin}${path}`, init)
  await response.arrayBuffer()
  assert.equal(seen.length, before + 1)
  return { status: response.status, seen: seen.at(-1) as Seen }
}

const PART_SIGN: Record<PopPart, PopFetchSign> = {
  m: { method: true },
  u: { host: true },
  p: { path: true },
  q: { query: true },
  h: { headers: ['x-tenant', 'x-request-id'] },
  b: { body: true },
}

describe('popFetch: every combination of covered parts verifies', () => {
  test('m, u, p, q, h, b on and off (64 requests), with the parts taken from the request', async () => {
    const parts = Object.keys(PART_SIGN) as PopPart[]
    for (let mask = 0; mask < 1 << parts.length; mask++) {
      const chosen = parts.filter((_, i) => mask & (1 << i))
      const sign = Object.assign({}, ...chosen.map((part) => PART_SIGN[part])) as PopFetchSign
      const { status, seen: s } = await call(
        { sign },
        '/orders/42?y=5&x=1&z=a+b&y=3',
        {
          method: 'post',
          headers: { 'X-Tenant': 'contoso', 'x-request-id': 'abc123' },
          body: '{"item":"book","qty":2}',
        },
        { required: chosen, headerNames: ['x-tenant', 'x-request-id'] },
      )
      assert.equal(status, 200, `${chosen.join(',')}: ${s.reason}`)
      assert.deepEqual(s.covered, chosen)
      const payload = s.payload as Record<string, unknown>
      assert.equal(payload.at, AT)
      assert.ok(Number.isInteger(payload.ts))
      assert.ok(Math.abs((payload.ts as number) - Date.now() / 1000) < 5)
      if (chosen.includes('m')) assert.equal(payload.m, 'POST')
      if (chosen.includes('u')) assert.equal(payload.u, new URL(origin).host)
      if (chosen.includes('p')) assert.equal(payload.p, '/orders/42')
      if (chosen.includes('q')) assert.deepEqual((payload.q as unknown[])[0], ['x', 'y', 'y', 'z'])
      if (chosen.includes('h')) {
        assert.deepEqual((payload.h as unknown[])[0], ['x-request-id', 'x-tenant'])
      }
      if (!chosen.includes('b')) assert.equal(payload.b, undefined)
    }
  })
})

describe('popFetch: bodies', () => {
  const all: PopFetchSign = { method: true, host: true, path: true, query: true, body: true }
  const required: PopPart[] = ['m', 'u', 'p', 'b']

  test('a string, bytes (Uint8Array, ArrayBuffer, a DataView), URLSearchParams and a Blob', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255, 10, 13])
    const form = new URLSearchParams({ a: 'b c', é: '&=' })
    const bodies: Array<[NonNullable<RequestInit['body']>, Buffer]> = [
      ['héllo', Buffer.from('héllo')],
      [bytes, Buffer.from(bytes)],
      [bytes.buffer.slice(0), Buffer.from(bytes)],
      [new DataView(bytes.buffer, 2, 3), Buffer.from(bytes.subarray(2, 5))],
      [form, Buffer.from(form.toString())],
      [new Blob(['blob ', bytes]), Buffer.concat([Buffer.from('blob '), bytes])],
      ['', Buffer.alloc(0)],
    ]
    for (const [body, sent] of bodies) {
      const { status, seen: s } = await call(
        { sign: all },
        '/upload',
        { method: 'PUT', body },
        {
          required,
        },
      )
      assert.equal(status, 200, `${String(body)}: ${s.reason}`)
      assert.deepEqual(s.body, sent)
      assert.deepEqual(s.covered, ['m', 'u', 'p', 'b'])
      const b = (s.payload as { b: string }).b
      assert.equal(
        b,
        Buffer.from(await crypto.subtle.digest('SHA-256', sent)).toString('base64url'),
      )
    }
  })

  test('a stream body with sign.body is a TypeError, and nothing is sent', async () => {
    const before = seen.length
    const api = popFetch({ key: rsa.privateKey, accessToken: AT, sign: { body: true } })
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('chunk'))
        controller.close()
      },
    })
    await assert.rejects(
      api(`${origin}/upload`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit),
      (err: Error) => err instanceof TypeError && /not a stream/.test(err.message),
    )
    await assert.rejects(
      api(new Request(`${origin}/upload`, { method: 'POST', body: 'in a Request' })),
      TypeError,
    )
    assert.equal(seen.length, before)
    // Without sign.body, a stream goes out (unhashed).
    const { status, seen: s } = await call(
      { sign: { method: true } },
      '/upload',
      {
        method: 'POST',
        body: new Blob(['streamed']).stream(),
        duplex: 'half',
      } as RequestInit,
      { required: ['m'] },
    )
    assert.equal(status, 200, s.reason)
    assert.equal(s.body.toString(), 'streamed')
  })

  test('a GET has no b (as .NET clients); a required b is met without a body', async () => {
    const { status, seen: s } = await call({ sign: all }, '/orders', {}, { required })
    assert.equal(status, 200, s.reason)
    assert.deepEqual(s.covered, ['m', 'u', 'p'])
  })
})

describe('popFetch: query names, headers, tokens and keys', () => {
  test('query names select the parameters; a required q must cover every one', async () => {
    const path = '/search?tag=b&tag=A&other=1&q=caf%C3%A9'
    const named = await call({ sign: { query: ['tag', 'q'] } }, path, {}, {})
    assert.equal(named.status, 200, named.seen.reason)
    assert.deepEqual((named.seen.payload as { q: unknown[] }).q[0], ['tag', 'tag', 'q'])
    const strict = await call({ sign: { query: ['tag', 'q'] } }, path, {}, { required: ['q'] })
    assert.equal(strict.status, 401)
    assert.equal(strict.seen.reason, 'q_mismatch')
    const none = await call({ sign: { query: ['absent'] } }, path, {}, {})
    assert.equal(none.status, 200)
    assert.equal(none.seen.payload?.q, undefined)
  })

  test('headers: content-type is covered as fetch sends it; absent names are left out', async () => {
    const sign: PopFetchSign = { headers: ['Content-Type', 'x-absent', 'accept'] }
    const policy: PopPolicy = { required: ['h'], headerNames: ['content-type', 'accept'] }
    const text = await call(
      { sign },
      '/h',
      { method: 'POST', body: 'x', headers: { accept: '*/*' } },
      policy,
    )
    assert.equal(text.status, 200, text.seen.reason)
    assert.equal(text.seen.headers['content-type'], 'text/plain;charset=UTF-8')
    assert.deepEqual((text.seen.payload as { h: unknown[] }).h[0], ['accept', 'content-type'])
    const form = await call(
      { sign },
      '/h',
      { method: 'POST', body: new URLSearchParams('a=1'), headers: { accept: '*/*' } },
      policy,
    )
    assert.equal(form.status, 200, form.seen.reason)
    assert.equal(
      form.seen.headers['content-type'],
      'application/x-www-form-urlencoded;charset=UTF-8',
    )
    const own = await call(
      { sign },
      '/h',
      {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
      },
      policy,
    )
    assert.equal(own.status, 200, own.seen.reason)
    assert.equal(own.seen.headers['content-type'], 'application/json')
  })

  test('keys: private JWK (the worked example reproduced), CryptoKey pair, lone CryptoKey, EC', async () => {
    // The signer behind popFetch reproduces §4.2 byte for byte.
    assert.equal(
      await createPopSignature({
        key: EXAMPLE_PRIVATE_JWK,
        accessToken: '8b1e2f0c6a5d4e3f9a7b6c5d4e3f2a1b',
        ts: 1459512000,
        sign: {
          method: 'POST',
          host: 'api.example.com',
          path: '/orders/42',
          query: [
            ['y', '5'],
            ['x', '1'],
            ['y', '3'],
          ],
          headers: { 'x-tenant': 'contoso', 'x-request-id': 'abc123' },
          body: '{"item":"book","qty":2}',
        },
      }),
      EXAMPLE_JWS,
    )
    const sign: PopFetchSign = { method: true, path: true }
    const policy: PopPolicy = { required: ['m', 'p'] }
    expected.cnfJwk = { ...EXAMPLE_PUBLIC, alg: 'RS256' }
    const jwk = await call({ key: EXAMPLE_PRIVATE_JWK, sign }, '/k', {}, policy)
    assert.equal(jwk.status, 200, jwk.seen.reason)
    assert.equal(
      Buffer.from(
        jwk.seen.headers.authorization?.slice(4).split('.')[0] ?? '',
        'base64url',
      ).toString(),
      '{"alg":"RS256","typ":"JWT"}',
    )
    const pair = (await crypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      false,
      ['sign', 'verify'],
    )) as webcrypto.CryptoKeyPair
    const { kty, n, e } = (await crypto.subtle.exportKey(
      'jwk',
      pair.publicKey,
    )) as webcrypto.JsonWebKey
    expected.cnfJwk = { kty, n, e, alg: 'RS256' }
    for (const key of [pair, pair.privateKey]) {
      const r = await call({ key, sign }, '/k', {}, policy)
      assert.equal(r.status, 200, r.seen.reason)
    }
    const ec = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair
    const ecJwk = (await crypto.subtle.exportKey('jwk', ec.publicKey)) as webcrypto.JsonWebKey
    expected.cnfJwk = { kty: ecJwk.kty, crv: ecJwk.crv, x: ecJwk.x, y: ecJwk.y }
    const r = await call({ key: ec, sign }, '/k', {}, policy)
    assert.equal(r.status, 200, r.seen.reason)
    assert.equal(
      JSON.parse(
        Buffer.from(
          r.seen.headers.authorization?.slice(4).split('.')[0] ?? '',
          'base64url',
        ).toString(),
      ).alg,
      'ES384',
    )
    expected.cnfJwk = RSA_CNF
    // A public key cannot sign.
    await assert.rejects(
      popFetch({ key: pair.publicKey, accessToken: AT })(`${origin}/k`),
      /private key/,
    )
  })

  test('the token: from an Authorization: PoP header; none is a TypeError', async () => {
    expected.policy = { required: ['m'] }
    const api = popFetch({ key: rsa.privateKey, sign: { method: true } })
    const before = seen.length
    const response = await api(`${origin}/t`, { headers: { authorization: `PoP ${AT}` } })
    assert.equal(response.status, 200, seen.at(-1)?.reason)
    assert.equal(seen.at(-1)?.payload?.at, AT)
    await assert.rejects(
      api(`${origin}/t`),
      (err: Error) => err instanceof TypeError && /no access token/.test(err.message),
    )
    assert.equal(seen.length, before + 1)
    assert.throws(
      () =>
        popFetch({
          key: rsa.privateKey,
          accessToken: AT,
          tokenSource: { getAccessToken: async () => AT },
        }),
      TypeError,
    )
  })

  test('a token source: a 401 PoP invalid_token is retried once with a fresh token', async () => {
    let current = 'old-token'
    const invalidated: string[] = []
    const tokenSource: AccessTokenSource = {
      getAccessToken: async () => current,
      invalidate: (token) => {
        invalidated.push(token)
        current = AT
      },
    }
    expected.refuse = 'old-token'
    expected.policy = { required: ['b'] }
    try {
      const before = seen.length
      const api = popFetch({ key: rsa.privateKey, tokenSource, sign: { body: true } })
      const response = await api(`${origin}/r`, { method: 'POST', body: 'again' })
      assert.equal(response.status, 200, seen.at(-1)?.reason)
      assert.deepEqual(invalidated, ['old-token'])
      assert.equal(seen.length, before + 2)
      assert.equal(seen.at(-1)?.body.toString(), 'again')
      assert.equal(seen.at(-1)?.payload?.at, AT)
    } finally {
      delete expected.refuse
    }
  })
})
