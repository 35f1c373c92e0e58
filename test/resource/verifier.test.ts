/**
 * The resource verifier against a real keybound authorization server: tokens come from its
 * /token endpoint over HTTP, keys from its JWKS, opaque tokens from its introspection endpoint.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { createNonceProvider } from '../../src/bindings/dpop/nonce.js'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'
import { ResourceError } from '../../src/resource/errors.js'
import { createVerifierMetrics } from '../../src/resource/metrics.js'
import type { VerifierOptions } from '../../src/resource/options.js'
import { createVerifier, type ResourceRequest } from '../../src/resource/verifier.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const API = 'https://api.example'

let t: TestServer

before(async () => {
  t = await startServer({
    accessToken: { audience: API },
    clients: [
      {
        client_id: 'svc',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        scope: 'read write',
      },
      {
        client_id: 'ref',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        access_token_format: 'reference',
      },
      {
        client_id: 'rs',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        introspection: true,
      },
    ],
  })
})
after(() => t.close())

const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey

/** A token from the server's token endpoint: DPoP-bound to `key`, or a bearer token. */
async function getToken(client: string, key?: KeyObject, scope?: string): Promise<string> {
  const headers: Record<string, string> = {
    authorization: `Basic ${Buffer.from(`${client}:${SECRET}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  }
  if (key) headers.dpop = await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` })
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    ...(scope ? { scope } : {}),
  })
  const res = await fetch(`${t.issuer}/token`, { method: 'POST', headers, body })
  const json = (await res.json()) as { access_token: string; token_type: string }
  assert.equal(res.status, 200, JSON.stringify(json))
  assert.equal(json.token_type, key ? 'DPoP' : 'Bearer')
  return json.access_token
}

function verifierFor(options: Partial<VerifierOptions> = {}) {
  return createVerifier({
    issuer: t.issuer,
    audience: API,
    replayCache: createMemoryReplayCache(),
    publicUrl: 'https://api.example/v1',
    ...options,
  } as VerifierOptions)
}

/** A request to `https://api.example/v1{path}` as the application sees it, at `/path`. */
async function dpopRequest(
  token: string,
  key: KeyObject,
  init: { method?: string; path?: string; htu?: string; htm?: string; nonce?: string } = {},
): Promise<ResourceRequest> {
  const method = init.method ?? 'GET'
  const path = init.path ?? '/orders'
  const proof = await createProof({
    key,
    htm: init.htm ?? method,
    htu: init.htu ?? `https://api.example/v1${path}`,
    accessToken: token,
    ...(init.nonce ? { nonce: init.nonce } : {}),
  })
  return { method, url: `${path}?page=2`, headers: { authorization: `DPoP ${token}`, dpop: proof } }
}

async function refusal(promise: Promise<unknown>): Promise<ResourceError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof ResourceError, `expected a ResourceError, got ${String(error)}`)
    return error
  }
  assert.fail('the request was accepted')
}

describe('DPoP-bound JWT access tokens (RFC 9449 §7.1)', () => {
  test('a proof made with the bound key for this request is accepted', async () => {
    const key = ecKey()
    const token = await getToken('svc', key, 'read')
    const verified = await verifierFor().verify(await dpopRequest(token, key), { scope: 'read' })
    assert.equal(verified.binding, 'dpop')
    assert.equal(verified.subject, 'svc')
    assert.equal(verified.clientId, 'svc')
    assert.deepEqual(verified.scopes, ['read'])
    assert.equal(verified.proof?.jkt, (verified.claims.cnf as { jkt: string }).jkt)
    assert.deepEqual(verified.headers, {})
  })

  test('no credentials: 401 with bare challenges and no error code (RFC 6750 §3.1)', async () => {
    const verifier = verifierFor({ allowBearer: true, realm: 'orders' })
    const error = await refusal(verifier.verify({ method: 'GET', url: '/orders', headers: {} }))
    assert.equal(error.status, 401)
    assert.equal(
      error.headers['www-authenticate'],
      'DPoP realm="orders", algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA", Bearer realm="orders"',
    )
    assert.equal(error.body(), undefined)
    assert.equal(verifier.challenge, error.headers['www-authenticate'])
  })

  test('a DPoP-bound token sent as Bearer is refused (RFC 9449 §7.2)', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const verifier = verifierFor({ allowBearer: true, dpop: { algs: ['ES256'] } })
    const error = await refusal(
      verifier.verify({
        method: 'GET',
        url: '/orders',
        headers: { authorization: `Bearer ${token}` },
      }),
    )
    assert.equal(error.status, 401)
    assert.equal(error.error, 'invalid_token')
    assert.equal(error.reason, 'dpop_bound_as_bearer')
    assert.equal(
      error.headers['www-authenticate'],
      'DPoP algs="ES256", error="invalid_token", error_description="a DPoP-bound access token requires the DPoP scheme", Bearer',
    )
    assert.deepEqual(JSON.parse(error.body() as string), {
      error: 'invalid_token',
      error_description: 'a DPoP-bound access token requires the DPoP scheme',
    })
  })

  test('a DPoP proof with the Bearer scheme is refused as a malformed request', async () => {
    const key = ecKey()
    const token = await getToken('svc')
    const request = await dpopRequest(token, key)
    request.headers = { ...request.headers, authorization: `Bearer ${token}` }
    const error = await refusal(verifierFor({ allowBearer: true }).verify(request))
    assert.equal(error.status, 400)
    assert.equal(error.error, 'invalid_request')
    assert.equal(error.reason, 'dpop_with_bearer')
  })

  test('an unbound token with the DPoP scheme fails the key binding', async () => {
    const key = ecKey()
    const token = await getToken('svc')
    const error = await refusal(verifierFor().verify(await dpopRequest(token, key)))
    assert.equal(error.status, 401)
    assert.equal(error.error, 'invalid_token')
    assert.equal(error.reason, 'token_not_dpop_bound')
    assert.match(
      error.headers['www-authenticate'] as string,
      /^DPoP algs="[^"]+", error="invalid_token", error_description="Invalid DPoP key binding"/,
    )
  })

  test('a proof made with another key: invalid_token "Invalid DPoP key binding", thumbprints logged', async () => {
    const logs: Record<string, unknown>[] = []
    const token = await getToken('svc', ecKey())
    const error = await refusal(
      verifierFor({ logger: { warn: (o) => logs.push(o) } }).verify(
        await dpopRequest(token, ecKey()),
      ),
    )
    assert.equal(error.error, 'invalid_token')
    assert.equal(error.reason, 'jkt_mismatch')
    assert.equal(error.error_description, 'Invalid DPoP key binding')
    assert.match(String(logs[0]?.detail), /^jkt=\S+ expected=\S+$/)
  })

  test('a proof for another URL or method is refused, the expected htu only in the log', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const logs: Record<string, unknown>[] = []
    const verifier = verifierFor({ logger: { warn: (o) => logs.push(o) } })
    const url = await refusal(
      verifier.verify(await dpopRequest(token, key, { htu: 'https://api.example/v1/other' })),
    )
    assert.equal(url.status, 401)
    assert.equal(url.error, 'invalid_dpop_proof')
    assert.equal(url.reason, 'htu_mismatch')
    assert.equal(
      url.headers['www-authenticate'],
      `DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA", error="invalid_dpop_proof", error_description="DPoP proof 'htu' does not match the request"`,
    )
    assert.equal(
      logs[0]?.detail,
      'htu=https://api.example/v1/other expected=https://api.example/v1/orders',
    )
    assert.ok(!url.body()?.includes('/v1/orders'))
    const method = await refusal(verifier.verify(await dpopRequest(token, key, { htm: 'POST' })))
    assert.equal(method.reason, 'htm_mismatch')
  })

  test('a proof for another token (ath) is refused', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const other = await getToken('svc', key)
    const request = await dpopRequest(other, key)
    request.headers = { ...request.headers, authorization: `DPoP ${token}` }
    const error = await refusal(verifierFor().verify(request))
    assert.equal(error.reason, 'ath_mismatch')
  })

  test('a replayed proof is refused (RFC 9449 §11.1)', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const verifier = verifierFor()
    const request = await dpopRequest(token, key)
    await verifier.verify(request)
    const error = await refusal(verifier.verify(request))
    assert.equal(error.error, 'invalid_dpop_proof')
    assert.equal(error.reason, 'replayed_jti')
  })

  test('a resource server nonce: use_dpop_nonce with DPoP-Nonce, then accepted (RFC 9449 §9)', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const nonce = createNonceProvider({ secret: randomBytes(32) })
    const verifier = verifierFor({ dpop: { nonce } })
    const first = await refusal(verifier.verify(await dpopRequest(token, key)))
    assert.equal(first.status, 401)
    assert.equal(first.error, 'use_dpop_nonce')
    const fresh = first.headers['dpop-nonce'] as string
    assert.equal(fresh, nonce.current())
    assert.match(
      first.headers['www-authenticate'] as string,
      /^DPoP algs="[^"]+", error="use_dpop_nonce"/,
    )
    const verified = await verifier.verify(await dpopRequest(token, key, { nonce: fresh }))
    assert.equal(verified.proof?.claims.nonce, fresh)
    const stale = await refusal(verifier.verify(await dpopRequest(token, key, { nonce: 'bogus' })))
    assert.equal(stale.reason, 'nonce_invalid')
    assert.equal(stale.headers['dpop-nonce'], fresh)
  })

  test('insufficient scope: 403 with the scope in the challenge (RFC 6750 §3.1)', async () => {
    const key = ecKey()
    const token = await getToken('svc', key, 'read')
    const error = await refusal(
      verifierFor().verify(await dpopRequest(token, key), { scope: ['read', 'write'] }),
    )
    assert.equal(error.status, 403)
    assert.equal(error.error, 'insufficient_scope')
    assert.match(
      error.headers['www-authenticate'] as string,
      /error="insufficient_scope", error_description="[^"]+", scope="read write"$/,
    )
  })

  test('authorize(): a further route requirement on an accepted request, without a second proof', async () => {
    const key = ecKey()
    const token = await getToken('svc', key, 'read')
    const verifier = verifierFor()
    const verified = await verifier.verify(await dpopRequest(token, key))
    verifier.authorize(verified, { scope: 'read', audience: API })
    try {
      verifier.authorize(verified, { scope: 'write' }, { method: 'GET', url: '/orders' })
      assert.fail('authorized')
    } catch (error) {
      assert.ok(error instanceof ResourceError)
      assert.equal(error.status, 403)
      assert.match(
        error.headers['www-authenticate'] as string,
        /^DPoP algs="[^"]+", error="insufficient_scope", error_description="[^"]+", scope="write"$/,
      )
    }
  })

  test('a route audience the token does not name is refused', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const error = await refusal(
      verifierFor().verify(await dpopRequest(token, key), { audience: 'https://billing.example' }),
    )
    assert.equal(error.reason, 'aud_mismatch')
    assert.equal(error.status, 401)
  })

  test('a token for another audience or from another issuer is refused', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const aud = await refusal(
      verifierFor({ audience: 'https://other.example' }).verify(await dpopRequest(token, key)),
    )
    assert.equal(aud.reason, 'aud_mismatch')
  })
})

describe('plain bearer tokens', () => {
  test('refused unless allowBearer; then accepted with binding "bearer"', async () => {
    const token = await getToken('svc')
    const request = { method: 'GET', url: '/x', headers: { authorization: `Bearer ${token}` } }
    const refused = await refusal(verifierFor().verify(request))
    assert.equal(refused.reason, 'unbound_token')
    assert.equal(refused.status, 401)
    const verified = await verifierFor({ allowBearer: true }).verify(request)
    assert.equal(verified.binding, 'bearer')
  })

  test('requireBinding drops the Bearer challenge and cannot be combined with allowBearer', async () => {
    const error = await refusal(
      verifierFor({ requireBinding: true }).verify({ method: 'GET', url: '/', headers: {} }),
    )
    assert.equal(
      error.headers['www-authenticate'],
      'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"',
    )
    assert.throws(
      () => verifierFor({ requireBinding: true, allowBearer: true }),
      /"allowBearer" must be false/,
    )
  })

  test('a malformed or repeated Authorization field is invalid_request (400)', async () => {
    const verifier = verifierFor({ allowBearer: true })
    const malformed = await refusal(
      verifier.verify({ method: 'GET', url: '/', headers: { authorization: 'Bearer a b' } }),
    )
    assert.equal(malformed.status, 400)
    assert.equal(malformed.reason, 'malformed_authorization')
    const repeated = await refusal(
      verifier.verify({
        method: 'GET',
        url: '/',
        headers: { authorization: ['Bearer a', 'Bearer b'] },
      }),
    )
    assert.equal(repeated.reason, 'multiple_authorization')
  })
})

describe('opaque tokens through introspection (RFC 7662)', () => {
  test('resolved, cached by hash, and bound by the cnf the server returns', async () => {
    const key = ecKey()
    const token = await getToken('ref', key)
    assert.ok(!token.includes('.'))
    let calls = 0
    const counting: typeof fetch = (input, init) => {
      if (String(input).endsWith('/introspect')) calls++
      return fetch(input, init)
    }
    const verifier = verifierFor({
      introspection: { clientId: 'rs', clientSecret: SECRET },
      fetch: counting,
    })
    const first = await verifier.verify(await dpopRequest(token, key))
    assert.equal(first.binding, 'dpop')
    assert.equal(first.subject, 'ref')
    await verifier.verify(await dpopRequest(token, key))
    assert.equal(calls, 1)
    const replayed = await refusal(verifier.verify(await dpopRequest(token, ecKey())))
    assert.equal(replayed.reason, 'jkt_mismatch')
  })

  test('a revoked or unknown token is inactive', async () => {
    const key = ecKey()
    const token = await getToken('ref', key)
    const res = await fetch(`${t.issuer}/revoke`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`ref:${SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    })
    assert.equal(res.status, 200)
    const verifier = verifierFor({ introspection: { clientId: 'rs', clientSecret: SECRET } })
    const error = await refusal(verifier.verify(await dpopRequest(token, key)))
    assert.equal(error.reason, 'token_inactive')
    assert.equal(error.status, 401)
  })

  test('without introspection an opaque token is invalid_token; with a wrong secret, 503', async () => {
    const key = ecKey()
    const token = await getToken('ref', key)
    const off = await refusal(verifierFor().verify(await dpopRequest(token, key)))
    assert.equal(off.reason, 'opaque_token')
    const wrong = await refusal(
      verifierFor({ introspection: { clientId: 'rs', clientSecret: 'wrong' } }).verify(
        await dpopRequest(token, key),
      ),
    )
    assert.equal(wrong.status, 503)
    assert.equal(wrong.error, 'temporarily_unavailable')
  })
})

describe('the URL a proof must name', () => {
  test('behind a trusted proxy, X-Forwarded-* give the URL; from anyone else they are ignored', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const verifier = verifierFor({
      publicUrl: undefined,
      trustProxy: ['10.0.0.0/8'],
    } as Partial<VerifierOptions>)
    const forwarded = async (remoteAddress: string) => {
      const request = await dpopRequest(token, key, { htu: 'https://api.example/v1/orders' })
      return {
        ...request,
        remoteAddress,
        headers: {
          ...request.headers,
          host: 'app:3000',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'api.example',
          'x-forwarded-prefix': '/v1',
        },
      }
    }
    const ok = await verifier.verify(await forwarded('::ffff:10.1.2.3'))
    assert.equal(ok.binding, 'dpop')
    const error = await refusal(verifier.verify(await forwarded('192.0.2.7')))
    assert.equal(error.reason, 'htu_mismatch')
    assert.equal(error.detail, 'htu=https://api.example/v1/orders expected=http://app:3000/orders')
  })

  test('Forwarded (RFC 7239) from a chain of trusted proxies', async () => {
    const key = ecKey()
    const token = await getToken('svc', key)
    const verifier = verifierFor({
      publicUrl: undefined,
      trustProxy: '10.0.0.1, 10.0.0.2',
    } as Partial<VerifierOptions>)
    const request = await dpopRequest(token, key, {
      htu: 'https://api.example/v1/orders',
      path: '/v1/orders',
    })
    const verified = await verifier.verify({
      ...request,
      remoteAddress: '10.0.0.2',
      headers: {
        ...request.headers,
        host: 'app',
        forwarded:
          'for=198.51.100.9;proto=http;host=evil.example, for=203.0.113.5;proto=https;host=api.example, for=10.0.0.1;proto=http;host=edge',
      },
    })
    assert.equal(verified.binding, 'dpop')
  })

  test('a bad trustProxy or publicUrl is named when the verifier is created', () => {
    assert.throws(
      () =>
        verifierFor({
          publicUrl: undefined,
          trustProxy: ['10.0.0.0/99'],
        } as Partial<VerifierOptions>),
      /"trustProxy" must list IP addresses or CIDR ranges/,
    )
    assert.throws(
      () => verifierFor({ publicUrl: 'not a url' }),
      /"publicUrl" must be an absolute URL/,
    )
    assert.throws(
      () => verifierFor({ replayCache: undefined } as Partial<VerifierOptions>),
      /"replayCache"/,
    )
  })
})

describe('metrics', () => {
  test('verified and refused requests by binding and reason', async () => {
    const metrics = createVerifierMetrics()
    const verifier = verifierFor({ metrics })
    const key = ecKey()
    const token = await getToken('svc', key)
    await verifier.verify(await dpopRequest(token, key))
    await refusal(verifier.verify(await dpopRequest(token, key, { htu: 'https://x.example/' })))
    await refusal(verifier.verify({ method: 'GET', url: '/', headers: {} }))
    const text = await metrics.registry.metrics()
    assert.match(
      text,
      /keybound_resource_requests_total\{outcome="refused",binding="none",reason="missing_token"\} 1/,
    )
    assert.match(
      text,
      /keybound_resource_requests_total\{outcome="verified",binding="dpop",reason="ok"\} 1/,
    )
    assert.match(
      text,
      /keybound_resource_requests_total\{outcome="refused",binding="dpop",reason="htu_mismatch"\} 1/,
    )
  })
})
