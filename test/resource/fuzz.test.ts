/**
 * Property-based tests of `verify()`: whatever the headers, it either accepts a genuine request
 * or throws a `ResourceError` with a status and challenge a server can answer with — never another
 * exception (which an adapter would turn into a 500), never an acceptance of a mutated request.
 * And replay detection shared through the real Redis: a proof used at one instance is refused at
 * another.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { createPopSignature } from '../../src/bindings/pop/sign.js'
import { jwkThumbprint, type PublicJwk } from '../../src/jose/jwk.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'
import { createRedisReplayCache } from '../../src/replay/redis.js'
import type { ReplayCache } from '../../src/replay/types.js'
import { ResourceError } from '../../src/resource/errors.js'
import { createVerifier } from '../../src/resource/verifier.js'
import { startIssuer, type TestIssuer } from '../helpers/issuer.js'

const API = 'https://api.example'
let issuer: TestIssuer
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jkt = jwkThumbprint(key.publicKey.export({ format: 'jwk' }) as PublicJwk)

before(async () => {
  issuer = await startIssuer(API)
})
after(() => issuer.close())

const newVerifier = (replayCache: ReplayCache = createMemoryReplayCache()) =>
  createVerifier({
    issuer: issuer.issuer,
    audience: API,
    replayCache,
    trustProxy: ['127.0.0.1'],
    allowBearer: true,
  })

async function genuine() {
  const token = issuer.token({ cnf: { jkt } })
  const dpop = await createProof({ key, htm: 'GET', htu: `${API}/a`, accessToken: token })
  return { token, dpop }
}

/** Mutates one character of `text` at a position, into another printable ASCII character. */
const mutate = (text: string, position: number, code: number) => {
  const i = position % text.length
  const replacement = String.fromCharCode(32 + (code % 95))
  return replacement === text[i]
    ? undefined
    : `${text.slice(0, i)}${replacement}${text.slice(i + 1)}`
}

describe('verify() under arbitrary input', () => {
  test('arbitrary header values: a ResourceError with a challenge, never another exception', async () => {
    const verifier = newVerifier()
    const headerValue = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        'DPoP ',
        'Bearer ',
        'DPoP a.b.c',
        'Bearer ===',
        'dpop x',
        'Basic abc',
        'PoP ',
        'PoP a.b.c',
        'pop e30.e30.e30',
        `PoP e30.${Buffer.from('{"at":"x","ts":1}').toString('base64url')}.e30`,
      ),
      fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            authorization: headerValue,
            dpop: headerValue,
            host: headerValue,
            forwarded: headerValue,
            'x-forwarded-host': headerValue,
            'x-forwarded-proto': headerValue,
          },
          { requiredKeys: [] },
        ),
        fc.string({ maxLength: 50 }),
        fc.constantFrom('GET', 'POST', '', 'get'),
        async (headers, url, method) => {
          try {
            await verifier.verify({ method, url, headers, remoteAddress: '127.0.0.1' })
            assert.fail('accepted')
          } catch (error) {
            assert.ok(error instanceof ResourceError, `not a ResourceError: ${String(error)}`)
            assert.ok([400, 401, 403, 503].includes(error.status))
            if (error.status !== 503) assert.ok(error.headers['www-authenticate'])
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  test('one character changed anywhere in the token or the proof: refused', async () => {
    const verifier = newVerifier()
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), fc.nat(), async (inToken, position, code) => {
        const { token, dpop } = await genuine()
        const mutated = mutate(inToken ? token : dpop, position, code)
        fc.pre(mutated !== undefined)
        const headers = {
          host: 'api.example',
          'x-forwarded-proto': 'https',
          authorization: `DPoP ${inToken ? mutated : token}`,
          dpop: inToken ? dpop : (mutated as string),
        }
        await assert.rejects(
          verifier.verify({ method: 'GET', url: '/a', headers, remoteAddress: '127.0.0.1' }),
          (error: unknown) => error instanceof ResourceError && error.status < 500,
        )
      }),
      { numRuns: 300 },
    )
  })
})

describe('signed requests (PoP) under arbitrary input', () => {
  test('one character changed anywhere in a genuine signed request: refused, never a 500', async () => {
    const verifier = newVerifier()
    const { d: _, ...jwk } = key.privateKey.export({ format: 'jwk' })
    const sign = async () => {
      const token = issuer.token({ cnf: { jwk: { ...jwk, alg: 'ES256' } } })
      return createPopSignature({
        key: key.privateKey,
        accessToken: token,
        sign: { method: 'GET', host: 'api.example', path: '/a', query: '?x=1' },
      })
    }
    const request = (jws: string) => ({
      method: 'GET',
      url: '/a?x=1',
      headers: { host: 'api.example', authorization: `PoP ${jws}` },
      remoteAddress: '127.0.0.1',
    })
    // The genuine one passes, so every refusal below is the mutation's doing.
    assert.equal((await verifier.verify(request(await sign()))).binding, 'pop')
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), async (position, code) => {
        const mutated = mutate(await sign(), position, code)
        fc.pre(mutated !== undefined)
        await assert.rejects(
          verifier.verify(request(mutated as string)),
          (error: unknown) => error instanceof ResourceError && error.status < 500,
        )
      }),
      { numRuns: 300 },
    )
  })
})

/** Resolves once `cache` answers: its Redis client connects in the background. */
async function connected(cache: ReplayCache): Promise<void> {
  for (const deadline = Date.now() + 5000; ; ) {
    try {
      await cache.firstUse(`warm-up-${randomUUID()}`, Date.now() + 1000)
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

describe('replay detection across instances', () => {
  test('a proof accepted by one instance is refused by another sharing Redis', async () => {
    const prefix = `keybound-test-${randomUUID()}:`
    const one = createRedisReplayCache({ url: 'redis://127.0.0.1:6379', prefix })
    const two = createRedisReplayCache({ url: 'redis://127.0.0.1:6379', prefix })
    try {
      // Each cache connects in the background and fails closed (503) until it is ready.
      await Promise.all([connected(one), connected(two)])
      const { token, dpop } = await genuine()
      const request = {
        method: 'GET',
        url: '/a',
        headers: {
          host: 'api.example',
          'x-forwarded-proto': 'https',
          authorization: `DPoP ${token}`,
          dpop,
        },
        remoteAddress: '127.0.0.1',
      }
      assert.equal((await newVerifier(one).verify(request)).binding, 'dpop')
      await assert.rejects(
        newVerifier(two).verify(request),
        (error: unknown) => error instanceof ResourceError && error.reason === 'replayed_jti',
      )
    } finally {
      await one.close?.()
      await two.close?.()
    }
  })
})
