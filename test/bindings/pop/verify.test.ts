import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { test } from 'node:test'
import { PopSignatureError } from '../../../src/bindings/pop/errors.js'
import { createPopSignature, type PopSignParts } from '../../../src/bindings/pop/sign.js'
import {
  type PopPart,
  type PopPolicy,
  type PopRequest,
  verifyPopSignature,
} from '../../../src/bindings/pop/verify.js'
import { encodeBase64url } from '../../../src/jose/base64url.js'
import type { ReplayCache } from '../../../src/replay/types.js'
import { EXAMPLE_JWS, EXAMPLE_PRIVATE_JWK } from './fixtures.js'

const TS = 1459512000
const NOW = TS * 1000
const AT = '8b1e2f0c6a5d4e3f9a7b6c5d4e3f2a1b'
const { d, p, q, dp, dq, qi, ...EXAMPLE_PUBLIC } = EXAMPLE_PRIVATE_JWK
const EXAMPLE_CNF = { ...EXAMPLE_PUBLIC, alg: 'RS256', kid: 'popkey1' }

const REQUEST: PopRequest = {
  method: 'POST',
  host: 'api.example.com',
  path: '/orders/42',
  query: 'y=5&x=1&z=skip&y=3',
  headers: {
    'x-tenant': 'contoso',
    'x-request-id': 'abc123',
    'content-type': 'application/json; charset=utf-8',
  },
  body: '{"item":"book","qty":2}',
}

const SIGN_ALL: PopSignParts = {
  method: 'POST',
  host: 'api.example.com',
  path: '/orders/42',
  query: [
    ['y', '5'],
    ['x', '1'],
    ['y', '3'],
  ],
  headers: [
    ['x-tenant', 'contoso'],
    ['x-request-id', 'abc123'],
  ],
  body: '{"item":"book","qty":2}',
}

async function reason(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof PopSignatureError, String(error))
    assert.equal(error.error, 'invalid_token')
    assert.equal(error.status, 401)
    return error.reason
  }
  assert.fail('accepted')
}

function memoryCache(): ReplayCache {
  const seen = new Set<string>()
  return {
    async firstUse(key) {
      if (seen.has(key)) return false
      seen.add(key)
      return true
    },
  }
}

test('the worked example (§4.2) is reproduced byte for byte', async () => {
  const jws = await createPopSignature({
    key: EXAMPLE_PRIVATE_JWK,
    accessToken: AT,
    ts: TS,
    sign: SIGN_ALL,
  })
  assert.equal(jws, EXAMPLE_JWS)
  const [header] = jws.split('.')
  assert.equal(Buffer.from(header as string, 'base64url').toString(), '{"alg":"RS256","typ":"JWT"}')
})

test('the worked example verifies, with the default policy and IdentityModel compatibility', async () => {
  const ok = await verifyPopSignature(EXAMPLE_JWS, {
    cnfJwk: EXAMPLE_CNF,
    request: REQUEST,
    accessToken: AT,
    now: NOW,
  })
  assert.deepEqual(ok.covered, ['m', 'u', 'p', 'q', 'h', 'b'])
  const compat: PopPolicy = {
    compat: true,
    required: ['m', 'u', 'p', 'q', 'h', 'b'],
    queryNames: ['x', 'y'],
    headerNames: ['x-request-id', 'x-tenant'],
  }
  await verifyPopSignature(EXAMPLE_JWS, {
    cnfJwk: EXAMPLE_CNF,
    request: { ...REQUEST, host: 'api.example.com:443' },
    accessToken: AT,
    now: NOW,
    policy: compat,
  })
  // Default mode compares `u` with the Host header, port included.
  assert.equal(
    await reason(
      verifyPopSignature(EXAMPLE_JWS, {
        cnfJwk: EXAMPLE_CNF,
        request: { ...REQUEST, host: 'api.example.com:8443' },
        accessToken: AT,
        now: NOW,
      }),
    ),
    'u_mismatch',
  )
  // The default payload only ({at, ts}) is what a .NET client sends by default.
  const minimal = await createPopSignature({ key: EXAMPLE_PRIVATE_JWK, accessToken: AT, ts: TS })
  await verifyPopSignature(minimal, {
    cnfJwk: EXAMPLE_CNF,
    request: REQUEST,
    accessToken: AT,
    now: NOW,
    policy: { compat: true },
  })
})

const keys: Array<[string, KeyObject, Record<string, unknown>]> = []
for (const [alg, options] of [
  ['RS256', { type: 'rsa', modulusLength: 2048 }],
  ['PS384', { type: 'rsa', modulusLength: 2048 }],
  ['ES256', { type: 'ec', namedCurve: 'P-256' }],
  ['ES512', { type: 'ec', namedCurve: 'P-521' }],
] as const) {
  const pair =
    options.type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: options.modulusLength })
      : generateKeyPairSync('ec', { namedCurve: options.namedCurve })
  keys.push([alg, pair.privateKey, { ...pair.publicKey.export({ format: 'jwk' }), alg }])
}

const PART_SIGN: Record<PopPart, Partial<PopSignParts>> = {
  m: { method: 'POST' },
  u: { host: 'api.example.com' },
  p: { path: '/orders/42' },
  q: { query: 'y=5&x=1&z=skip&y=3' },
  h: { headers: { 'x-tenant': 'contoso', 'x-request-id': 'abc123' } },
  b: { body: '{"item":"book","qty":2}' },
}

test('create → verify for every combination of covered parts, RSA, PS and EC', async () => {
  const parts = Object.keys(PART_SIGN) as PopPart[]
  for (const [alg, privateKey, cnfJwk] of keys) {
    for (let mask = 0; mask < 1 << parts.length; mask++) {
      const chosen = parts.filter((_, i) => mask & (1 << i))
      const sign = Object.assign({}, ...chosen.map((part) => PART_SIGN[part])) as PopSignParts
      const jws = await createPopSignature({
        key: privateKey,
        alg: alg as 'RS256',
        accessToken: AT,
        sign,
      })
      const ok = await verifyPopSignature(jws, {
        cnfJwk,
        request: REQUEST,
        accessToken: AT,
        policy: { required: chosen },
        replayCache: memoryCache(),
      })
      assert.deepEqual(ok.covered, chosen, `${alg} ${chosen}`)
      assert.equal(ok.alg, alg)
      // Exact-presence semantics: the same parts required pass, one more required fails.
      const compatRequest = { ...REQUEST, host: 'api.example.com:443' }
      await verifyPopSignature(jws, {
        cnfJwk,
        request: compatRequest,
        accessToken: AT,
        policy: {
          compat: true,
          required: chosen,
          queryNames: ['x', 'y', 'z'],
          headerNames: ['x-tenant', 'x-request-id'],
        },
      })
      const missing = parts.find((part) => !chosen.includes(part))
      if (missing !== undefined) {
        assert.equal(
          await reason(
            verifyPopSignature(jws, {
              cnfJwk,
              request: REQUEST,
              accessToken: AT,
              policy: { required: [...chosen, missing], headerNames: ['x-tenant'] },
            }),
          ),
          'part_missing',
        )
      }
      const extra = chosen[0]
      if (extra !== undefined) {
        assert.equal(
          await reason(
            verifyPopSignature(jws, {
              cnfJwk,
              request: compatRequest,
              accessToken: AT,
              policy: {
                compat: true,
                required: chosen.slice(1),
                queryNames: ['x', 'y', 'z'],
                headerNames: ['x-tenant', 'x-request-id'],
              },
            }),
          ),
          'part_unexpected',
        )
      }
    }
  }
})

test('each tampered part is refused with its reason, even when not required', async () => {
  const [, key, cnfJwk] = keys[2] as (typeof keys)[number]
  const jws = await createPopSignature({ key, accessToken: AT, sign: SIGN_ALL })
  const cases: Array<[Partial<PopRequest>, string]> = [
    [{ method: 'PUT' }, 'm_mismatch'],
    [{ host: 'evil.example.com' }, 'u_mismatch'],
    [{ path: '/orders/43' }, 'p_mismatch'],
    [{ query: 'y=5&x=2&z=skip&y=3' }, 'q_mismatch'],
    [{ query: 'y=5&z=skip&y=3' }, 'q_mismatch'],
    [{ headers: { ...REQUEST.headers, 'x-tenant': 'fabrikam' } }, 'h_mismatch'],
    [{ body: '{"item":"book","qty":3}' }, 'b_mismatch'],
    [{ body: undefined }, 'b_mismatch'],
  ]
  for (const [change, expected] of cases) {
    const request = { ...REQUEST, ...change }
    assert.equal(
      await reason(verifyPopSignature(jws, { cnfJwk, request, accessToken: AT })),
      expected,
      expected,
    )
  }
  // A required q covers every parameter: the worked example leaves `z` out.
  assert.equal(
    await reason(
      verifyPopSignature(jws, {
        cnfJwk,
        request: REQUEST,
        accessToken: AT,
        policy: { required: ['q'] },
      }),
    ),
    'q_mismatch',
  )
})

test('ts: stale, future, non-integer, string; window bounds inclusive', async () => {
  const [, key, cnfJwk] = keys[0] as (typeof keys)[number]
  const at = (ts: number) => createPopSignature({ key, accessToken: AT, ts })
  const check = (jws: string) =>
    verifyPopSignature(jws, { cnfJwk, request: REQUEST, accessToken: AT, now: NOW })
  await check(await at(TS - 300))
  await check(await at(TS + 300))
  assert.equal(await reason(check(await at(TS - 301))), 'ts_too_old')
  assert.equal(await reason(check(await at(TS + 301))), 'ts_in_future')
  const forge = async (payload: Record<string, unknown>) => {
    const raw = await createPopSignature({ key, accessToken: AT, ts: TS })
    // Re-sign a hand-made payload with the same key through the signer's header.
    const [h] = raw.split('.')
    const input = `${h}.${encodeBase64url(JSON.stringify(payload))}`
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`
  }
  assert.equal(await reason(check(await forge({ at: AT, ts: TS + 0.5 }))), 'ts_invalid')
  assert.equal(await reason(check(await forge({ at: AT, ts: String(TS) }))), 'ts_invalid')
  assert.equal(await reason(check(await forge({ at: AT }))), 'ts_invalid')
  assert.equal(await reason(check(await forge({ ts: TS }))), 'at_invalid')
  assert.equal(
    await reason(check(await forge({ at: AT, ts: TS, q: ['x', 'y'] }))),
    'member_invalid',
  )
  assert.equal(await reason(check(await forge({ at: AT, ts: TS, m: 1 }))), 'member_invalid')
  await check(await forge({ at: AT, ts: TS }))
})

test('another key, another token, another alg, a broken JWS', async () => {
  const [, key, cnfJwk] = keys[0] as (typeof keys)[number]
  const [, otherKey] = keys[1] as (typeof keys)[number]
  const [, ecKey, ecJwk] = keys[2] as (typeof keys)[number]
  const check = (jws: string, jwk: unknown = cnfJwk, accessToken = AT) =>
    verifyPopSignature(jws, { cnfJwk: jwk, request: REQUEST, accessToken })
  const good = await createPopSignature({ key, accessToken: AT })
  await check(good)
  assert.equal(
    await reason(check(await createPopSignature({ key: otherKey, alg: 'RS256', accessToken: AT }))),
    'bad_signature',
  )
  assert.equal(await reason(check(good, cnfJwk, 'another-token')), 'at_mismatch')
  // The JWS alg must fit the key and equal its alg member.
  assert.equal(
    await reason(check(await createPopSignature({ key: ecKey, accessToken: AT }))),
    'jwk_alg_mismatch',
  )
  assert.equal(await reason(check(good, { ...cnfJwk, alg: 'RS512' })), 'jwk_alg_mismatch')
  assert.equal(await reason(check(good, ecJwk)), 'jwk_alg_mismatch')
  assert.equal(await reason(check(good, { ...cnfJwk, d: 'AAAA' })), 'jwk_private')
  assert.equal(await reason(check(good, null)), 'jwk_missing')
  const [h, p, s] = good.split('.') as [string, string, string]
  const none = `${encodeBase64url('{"alg":"none"}')}.${p}.`
  assert.equal(await reason(check(none)), 'bad_base64url')
  assert.equal(
    await reason(check(`${encodeBase64url('{"alg":"none"}')}.${p}.${s}`)),
    'alg_not_allowed',
  )
  assert.equal(
    await reason(check(`${encodeBase64url('{"alg":"HS256"}')}.${p}.${s}`)),
    'alg_not_allowed',
  )
  assert.equal(await reason(check(`${h}.${p}`)), 'malformed_jws')
  assert.equal(await reason(check(`${h}.${p}=.${s}`)), 'bad_base64url')
  assert.equal(
    await reason(check(`${encodeBase64url('{"alg":"RS256","alg":"RS256"}')}.${p}.${s}`)),
    'duplicate_member',
  )
})

test('a replayed signed request is refused', async () => {
  const [, key, cnfJwk] = keys[3] as (typeof keys)[number]
  const replayCache = memoryCache()
  const jws = await createPopSignature({ key, accessToken: AT, sign: SIGN_ALL })
  const options = { cnfJwk, request: REQUEST, accessToken: AT, replayCache }
  await verifyPopSignature(jws, options)
  assert.equal(await reason(verifyPopSignature(jws, options)), 'replayed_signature')
  // A new signature of the same request is a new request.
  await verifyPopSignature(
    await createPopSignature({ key, accessToken: AT, sign: SIGN_ALL }),
    options,
  )
})

test('decoded, non-ASCII and repeated query values; required headers; a custom window', async () => {
  const [, key, cnfJwk] = keys[0] as (typeof keys)[number]
  const request: PopRequest = {
    method: 'GET',
    host: 'api.example.com:8443',
    path: '/search',
    query: '?q=caf%C3%A9+au+lait&tag=b&tag=A&tag=_',
    headers: { 'X-Tenant': 'contoso', accept: ['application/json', 'text/plain'] },
  }
  const jws = await createPopSignature({
    key,
    accessToken: AT,
    ts: TS,
    sign: {
      host: 'api.example.com:8443',
      query: request.query,
      headers: { 'x-tenant': 'contoso', accept: ['application/json', 'text/plain'] },
    },
  })
  const [, payload] = jws.split('.')
  const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString())
  // OrdinalIgnoreCase: "A" < "b" < "café…" < "_".
  assert.deepEqual(claims.q[0], ['tag', 'tag', 'q', 'tag'])
  // By value: application/json < contoso < text/plain.
  assert.deepEqual(claims.h[0], ['accept', 'x-tenant', 'accept'])
  const options = { cnfJwk, request, accessToken: AT, now: NOW }
  await verifyPopSignature(jws, {
    ...options,
    policy: { required: ['u', 'q', 'h'], headerNames: ['x-tenant', 'accept'] },
  })
  assert.equal(
    await reason(
      verifyPopSignature(jws, {
        ...options,
        policy: { required: ['h'], headerNames: ['x-tenant', 'x-request-id'] },
      }),
    ),
    'h_mismatch',
  )
  assert.equal(
    await reason(
      verifyPopSignature(jws, {
        ...options,
        request: { ...request, query: 'q=cafe+au+lait&tag=b&tag=A&tag=_' },
      }),
    ),
    'q_mismatch',
  )
  assert.equal(
    await reason(
      verifyPopSignature(jws, { ...options, now: NOW + 61_000, policy: { window: 60 } }),
    ),
    'ts_too_old',
  )
  await verifyPopSignature(jws, { ...options, now: NOW + 60_000, policy: { window: 60 } })
  // Compatibility mode compares u with the host without its port.
  assert.equal(
    await reason(
      verifyPopSignature(jws, {
        ...options,
        policy: {
          compat: true,
          required: ['u', 'q', 'h'],
          queryNames: ['q', 'tag'],
          headerNames: ['x-tenant', 'accept'],
        },
      }),
    ),
    'u_mismatch',
  )
})
