/**
 * dpopFetch against resource servers (test/client/resource-server.ts) that verify every proof
 * with the binding's verifyProof, over real HTTP on loopback ports.
 */
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { computeAth } from '../../src/bindings/dpop/ath.js'
import { dpopFetch } from '../../src/client/index.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { jwkThumbprint } from '../../src/jose/jwk.js'
import { type KeyPair, publicJwkOf } from '../../src/jose/keys.js'
import { type ResourceServer, startResourceServer } from './resource-server.js'

const TOKEN = 'an-access-token.bound-to-the-test-key'

type BodyInit = NonNullable<RequestInit['body']>

let key: KeyPair
let jkt: string

before(async () => {
  key = await generateKeyPair('ES256')
  jkt = jwkThumbprint(await publicJwkOf(key.publicKey))
})

/** A resource server accepting TOKEN, bound to the test key. */
async function resourceServer(nonce: Parameters<typeof startResourceServer>[0]['nonce']) {
  return startResourceServer({ nonce, tokenJkt: (token) => (token === TOKEN ? jkt : undefined) })
}

const challengeError = (wwwAuthenticate: string | null | undefined) =>
  /error="([^"]+)"/.exec(wwwAuthenticate ?? '')?.[1]

describe('a resource server that demands nonces (RFC 9449 §9)', () => {
  let rs: ResourceServer
  before(async () => {
    rs = await resourceServer('required')
  })
  after(() => rs.close())

  test('one retry with the nonce of the 401; the next request uses it at once', async () => {
    const api = dpopFetch({ key, accessToken: TOKEN })
    const response = await api(`${rs.origin}/orders/7?expand=lines#top`)
    assert.equal(response.status, 200)
    assert.equal(((await response.json()) as { verified: { htm: string } }).verified.htm, 'GET')
    const [first, second] = rs.seen
    assert.equal(rs.seen.length, 2)
    // The first proof: no nonce, refused with use_dpop_nonce and a nonce to use.
    assert.equal(first?.status, 401)
    assert.match(first?.wwwAuthenticate ?? '', /^DPoP error="use_dpop_nonce"/)
    assert.ok(first?.nonce)
    assert.equal(first?.claims?.nonce, undefined)
    // The retry: a new proof with the nonce.
    assert.equal(second?.status, 200)
    assert.equal(second?.claims?.nonce, first?.nonce)
    assert.notEqual(second?.claims?.jti, first?.claims?.jti)
    for (const seen of rs.seen) {
      assert.equal(seen.headers.authorization, `DPoP ${TOKEN}`)
      assert.equal(seen.claims?.htm, 'GET')
      // RFC 9449 §4.2: htu without query and fragment; ath the token's hash.
      assert.equal(seen.claims?.htu, `${rs.origin}/orders/7`)
      assert.equal(seen.claims?.ath, computeAth(TOKEN))
    }

    const again = await api(`${rs.origin}/orders/8`)
    assert.equal(again.status, 200)
    assert.equal(rs.seen.length, 3)
    assert.equal(rs.seen[2]?.claims?.nonce, first?.nonce)
  })

  test('every replayable body is sent again, the same, with the retry', async () => {
    const form = new FormData()
    form.set('field', 'form-data value')
    const bodies: Array<[string, BodyInit, string]> = [
      ['string', 'a string body', 'a string body'],
      ['Uint8Array', new TextEncoder().encode('bytes body'), 'bytes body'],
      ['ArrayBuffer', new TextEncoder().encode('buffer body').buffer, 'buffer body'],
      ['URLSearchParams', new URLSearchParams({ a: '1', b: 'two' }), 'a=1&b=two'],
      ['Blob', new Blob(['blob body']), 'blob body'],
      ['FormData', form, 'form-data value'],
    ]
    for (const [kind, body, text] of bodies) {
      const before = rs.seen.length
      // A new dpopFetch knows no nonce yet: its first proof is refused.
      const response = await dpopFetch({ key, accessToken: TOKEN })(`${rs.origin}/upload`, {
        method: 'post',
        body,
      })
      assert.equal(response.status, 200, kind)
      const attempts = rs.seen.slice(before)
      assert.deepEqual(
        attempts.map((seen) => seen.status),
        [401, 200],
        kind,
      )
      for (const seen of attempts) {
        assert.ok(seen.body.includes(text), `${kind}: ${seen.body}`)
        // `post` is sent as POST (the Fetch standard normalises it): so is the proof's htm.
        assert.equal(seen.method, 'POST')
        assert.equal(seen.claims?.htm, 'POST')
      }
    }
  })

  test('a stream body is not sent twice: the first answer is returned', async () => {
    const streams: Array<[string, () => BodyInit]> = [
      ['ReadableStream', () => new Blob(['stream body']).stream()],
      ['Node Readable', () => Readable.from(['stream ', 'body']) as unknown as BodyInit],
      [
        'async iterable',
        () =>
          (async function* () {
            yield new TextEncoder().encode('stream body')
          })() as unknown as BodyInit,
      ],
    ]
    for (const [kind, body] of streams) {
      const api = dpopFetch({ key, accessToken: TOKEN })
      const before = rs.seen.length
      const init = { method: 'PUT', body: body(), duplex: 'half' } as RequestInit
      const response = await api(`${rs.origin}/upload`, init)
      assert.equal(rs.seen.length, before + 1, kind)
      assert.equal(rs.seen[before]?.body, 'stream body', kind)
      // The caller sees the server's demand as it is, nonce included...
      assert.equal(response.status, 401, kind)
      assert.equal(challengeError(response.headers.get('www-authenticate')), 'use_dpop_nonce')
      assert.equal(response.headers.get('dpop-nonce'), rs.seen[before]?.nonce)
      // ...and the nonce is remembered: sending the stream again succeeds at once.
      const retry = await api(`${rs.origin}/upload`, { ...init, body: body() })
      assert.equal(retry.status, 200, kind)
      assert.equal(rs.seen.length, before + 2, kind)
    }
  })

  test('a Request: its headers are kept, and a body-less one is retried', async () => {
    const api = dpopFetch({ key, accessToken: TOKEN })
    const before = rs.seen.length
    const response = await api(
      new Request(`${rs.origin}/orders`, { method: 'DELETE', headers: { 'x-trace': 'abc' } }),
    )
    assert.equal(response.status, 200)
    const attempts = rs.seen.slice(before)
    assert.deepEqual(
      attempts.map((seen) => [seen.method, seen.claims?.htm, seen.headers['x-trace'], seen.status]),
      [
        ['DELETE', 'DELETE', 'abc', 401],
        ['DELETE', 'DELETE', 'abc', 200],
      ],
    )
  })

  test('a token in the caller’s own Authorization: DPoP header is hashed into ath', async () => {
    const api = dpopFetch({ key })
    const response = await api(`${rs.origin}/orders`, {
      headers: { Authorization: `DPoP ${TOKEN}` },
    })
    assert.equal(response.status, 200)
    assert.equal(rs.seen.at(-1)?.claims?.ath, computeAth(TOKEN))
  })

  test('a static token refused with invalid_token is not retried', async () => {
    const api = dpopFetch({ key, accessToken: 'a-token-the-server-refuses' })
    const before = rs.seen.length
    const response = await api(`${rs.origin}/orders`)
    assert.equal(response.status, 401)
    assert.equal(challengeError(response.headers.get('www-authenticate')), 'invalid_token')
    assert.equal(rs.seen.length, before + 1)
  })
})

test('no loop: a second use_dpop_nonce is returned to the caller', {
  timeout: 10_000,
}, async () => {
  const rs = await resourceServer('never-satisfied')
  try {
    const response = await dpopFetch({ key, accessToken: TOKEN })(`${rs.origin}/orders`)
    assert.equal(rs.seen.length, 2)
    assert.equal(rs.seen[1]?.claims?.nonce, rs.seen[0]?.nonce)
    assert.equal(response.status, 401)
    assert.equal(challengeError(response.headers.get('www-authenticate')), 'use_dpop_nonce')
    assert.equal(response.headers.get('dpop-nonce'), rs.seen[1]?.nonce)
  } finally {
    await rs.close()
  }
})

test('a nonce provided with a 200 is used in the next proof (RFC 9449 §8.2)', async () => {
  const rs = await resourceServer('advertise')
  try {
    const api = dpopFetch({ key, accessToken: TOKEN })
    const first = await api(`${rs.origin}/a`)
    assert.equal(first.status, 200)
    const nonce = first.headers.get('dpop-nonce')
    assert.ok(nonce)
    assert.equal(rs.seen[0]?.claims?.nonce, undefined)
    assert.equal((await api(`${rs.origin}/b`)).status, 200)
    assert.equal(rs.seen.length, 2)
    assert.equal(rs.seen[1]?.claims?.nonce, nonce)
  } finally {
    await rs.close()
  }
})

test('options are checked at once', () => {
  assert.throws(
    () => dpopFetch({ key, accessToken: TOKEN, tokenSource: { getAccessToken: async () => '' } }),
    { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' },
  )
  assert.throws(() => dpopFetch({ key: {} as KeyPair }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
  })
})
