/**
 * JWT access token validation (RFC 9068 §4) and the issuer's keys, with a hand-rolled issuer that
 * signs whatever a test needs; and the "any authorization server" promise with node-oidc-provider.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import Provider from 'oidc-provider'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import { jwkThumbprint, type PublicJwk } from '../../src/jose/jwk.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'
import { ResourceError } from '../../src/resource/errors.js'
import type { VerifierOptions } from '../../src/resource/options.js'
import { createVerifier } from '../../src/resource/verifier.js'
import { startIssuer, type TestIssuer } from '../helpers/issuer.js'

const API = 'https://api.example'
let issuer: TestIssuer

before(async () => {
  issuer = await startIssuer(API)
})
after(() => issuer.close())

const verifierFor = (options: Partial<VerifierOptions> = {}) =>
  createVerifier({
    issuer: issuer.issuer,
    audience: API,
    replayCache: createMemoryReplayCache(),
    publicUrl: API,
    allowBearer: true,
    ...options,
  } as VerifierOptions)

const bearer = (token: string) => ({
  method: 'GET',
  url: '/r',
  headers: { authorization: `Bearer ${token}` },
})

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof ResourceError, String(error))
    return `${error.status} ${error.error} ${error.reason}`
  }
  return 'accepted'
}

describe('RFC 9068 §4 checks', () => {
  const now = () => Math.floor(Date.now() / 1000)
  const cases: [string, () => string, string][] = [
    ['a valid token', () => issuer.token(), 'accepted'],
    ['typ JWT is tolerated', () => issuer.token({}, { typ: 'JWT' }), 'accepted'],
    ['no typ is tolerated', () => issuer.token({}, { typ: undefined }), 'accepted'],
    [
      'typ dpop+jwt (another kind of JWT)',
      () => issuer.token({}, { typ: 'dpop+jwt' }),
      '401 invalid_token bad_typ',
    ],
    [
      'another issuer',
      () => issuer.token({ iss: 'https://evil.example' }),
      '401 invalid_token iss_mismatch',
    ],
    [
      'another audience',
      () => issuer.token({ aud: 'https://other.example' }),
      '401 invalid_token aud_mismatch',
    ],
    ['the audience in a list', () => issuer.token({ aud: ['https://x.example', API] }), 'accepted'],
    ['no exp', () => issuer.token({ exp: undefined }), '401 invalid_token malformed_token'],
    [
      'expired beyond the tolerance',
      () => issuer.token({ exp: now() - 10 }),
      '401 invalid_token token_expired',
    ],
    ['expired within the tolerance', () => issuer.token({ exp: now() - 2 }), 'accepted'],
    [
      'nbf in the future',
      () => issuer.token({ nbf: now() + 60 }),
      '401 invalid_token token_not_yet_valid',
    ],
    [
      'alg none',
      () =>
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`,
      '401 invalid_token alg_not_allowed',
    ],
    ['HS256', () => issuer.token({}, { alg: 'HS256' }), '401 invalid_token alg_not_allowed'],
    ['an unknown kid', () => issuer.token({}, { kid: 'nope' }), '401 invalid_token unknown_key'],
    [
      'a tampered payload',
      () => {
        const [h, , s] = issuer.token().split('.')
        return `${h}.${Buffer.from(JSON.stringify({ iss: issuer.issuer, aud: API, exp: now() + 60, sub: 'mallory' })).toString('base64url')}.${s}`
      },
      '401 invalid_token bad_signature',
    ],
    ['crit', () => issuer.token({}, { crit: ['exp'] }), '401 invalid_token malformed_token'],
    [
      'a cnf this resource cannot check (RFC 7800 kid)',
      () => issuer.token({ cnf: { kid: 'key-1' } }),
      '401 invalid_token unsupported_cnf',
    ],
    ['not a JWS', () => 'a.b', '401 invalid_token opaque_token'],
  ]
  for (const [name, make, expected] of cases) {
    test(name, async () => {
      assert.equal(await reason(verifierFor().verify(bearer(make()))), expected)
    })
  }

  test('requireAtJwtTyp refuses typ JWT', async () => {
    const verifier = verifierFor({ requireAtJwtTyp: true })
    assert.equal(
      await reason(verifier.verify(bearer(issuer.token({}, { typ: 'JWT' })))),
      '401 invalid_token bad_typ',
    )
    assert.equal(
      await reason(verifier.verify(bearer(issuer.token({}, { typ: 'application/at+jwt' })))),
      'accepted',
    )
  })

  test('a token accepted once is cached until its exp, never past it', async () => {
    const verifier = verifierFor({ clockTolerance: 0 })
    const token = issuer.token({ exp: now() + 2 })
    assert.equal(await reason(verifier.verify(bearer(token))), 'accepted')
    await new Promise((resolve) => setTimeout(resolve, 2100))
    assert.equal(await reason(verifier.verify(bearer(token))), '401 invalid_token token_expired')
  })
})

describe('a DPoP-bound token and its proof: which failure is reported', () => {
  // The verifier checks the token's signature and the proof's back to back (PresentedProof);
  // the answer must still be the first failure in the order of RFC 9068 §4, then RFC 9449 §4.3.
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jkt = jwkThumbprint(key.publicKey.export({ format: 'jwk' }) as PublicJwk)
  const now = () => Math.floor(Date.now() / 1000)
  const htu = `${API}/r`
  /** Another canonical signature segment: its first character changed. */
  const tamper = (jws: string) => {
    const at = jws.lastIndexOf('.') + 1
    return `${jws.slice(0, at)}${jws[at] === 'A' ? 'B' : 'A'}${jws.slice(at + 1)}`
  }
  const dpop = (token: string, proof: string) => ({
    method: 'GET',
    url: '/r',
    headers: { authorization: `DPoP ${token}`, dpop: proof },
  })
  const proofFor = (token: string, options: { htu?: string; typ?: string } = {}) =>
    options.typ === undefined
      ? createProof({ key, htm: 'GET', htu: options.htu ?? htu, accessToken: token })
      : tamperTyp(createProof({ key, htm: 'GET', htu, accessToken: token }))
  /** The same proof with `typ: JWT`: its signature no longer matters, the header fails first. */
  const tamperTyp = async (proof: Promise<string>) => {
    const [h, p, sig] = (await proof).split('.') as [string, string, string]
    const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), typ: 'JWT' }
    return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${sig}`
  }

  const cases: [string, () => Promise<[string, string]>, string][] = [
    [
      'a forged token with a forged proof: the token',
      async () => {
        const token = issuer.token({ cnf: { jkt } })
        return [tamper(token), tamper(await proofFor(token))]
      },
      '401 invalid_token bad_signature',
    ],
    [
      'an expired token with a malformed proof: the token',
      async () => [issuer.token({ cnf: { jkt }, exp: now() - 60 }), 'not-a-proof'],
      '401 invalid_token token_expired',
    ],
    [
      'a token not bound by DPoP with a malformed proof: the binding',
      async () => [issuer.token(), 'not-a-proof'],
      '401 invalid_token token_not_dpop_bound',
    ],
    [
      'a good token with a forged proof',
      async () => {
        const token = issuer.token({ cnf: { jkt } })
        return [token, tamper(await proofFor(token))]
      },
      '401 invalid_dpop_proof bad_signature',
    ],
    [
      'a forged proof for another URL: the signature (step 6 before step 9)',
      async () => {
        const token = issuer.token({ cnf: { jkt } })
        return [token, tamper(await proofFor(token, { htu: `${API}/other` }))]
      },
      '401 invalid_dpop_proof bad_signature',
    ],
    [
      'a proof with typ JWT: the header (step 4 before step 6)',
      async () => {
        const token = issuer.token({ cnf: { jkt } })
        return [token, await proofFor(token, { typ: 'JWT' })]
      },
      '401 invalid_dpop_proof bad_typ',
    ],
    [
      'a proof for another URL',
      async () => {
        const token = issuer.token({ cnf: { jkt } })
        return [token, await proofFor(token, { htu: `${API}/other` })]
      },
      '401 invalid_dpop_proof htu_mismatch',
    ],
    [
      'a good token with its proof',
      async () => {
        const token = issuer.token({ cnf: { jkt } })
        return [token, await proofFor(token)]
      },
      'accepted',
    ],
  ]
  for (const [name, make, expected] of cases) {
    test(name, async () => {
      const [token, proof] = await make()
      const request = dpop(token, proof)
      assert.equal(await reason(verifierFor({ tokenCacheSize: 0 }).verify(request)), expected)
      // With the token cache on, the second time the token is not read again (a cache hit), and
      // the proof alone is checked: same answer, unless the first was accepted (then a replay).
      const cached = verifierFor({ tokenCacheSize: 100 })
      assert.equal(await reason(cached.verify(request)), expected)
      if (expected !== 'accepted') assert.equal(await reason(cached.verify(request)), expected)
    })
  }
})

describe('the issuer’s keys', () => {
  test('metadata is discovered once; a rotated key is fetched on its unknown kid', async () => {
    const verifier = verifierFor({ jwksCooldown: 1 })
    const before = { ...issuer.hits }
    assert.equal(await reason(verifier.verify(bearer(issuer.token()))), 'accepted')
    issuer.rotate()
    // Within the cooldown the new kid is unknown; after it, the set is fetched again.
    assert.equal(
      await reason(verifier.verify(bearer(issuer.token()))),
      '401 invalid_token unknown_key',
    )
    await new Promise((resolve) => setTimeout(resolve, 1100))
    assert.equal(await reason(verifier.verify(bearer(issuer.token()))), 'accepted')
    const fetched = (path: string) => (issuer.hits[path] ?? 0) - (before[path] ?? 0)
    assert.equal(fetched('/.well-known/oauth-authorization-server'), 1)
    assert.equal(fetched('/jwks'), 2)
  })

  test('unknown kids refetch at most once per cooldown', async () => {
    const verifier = verifierFor()
    assert.equal(await reason(verifier.verify(bearer(issuer.token()))), 'accepted')
    const before = issuer.hits['/jwks'] ?? 0
    for (let i = 0; i < 20; i++) {
      assert.equal(
        await reason(verifier.verify(bearer(issuer.token({}, { kid: `forged-${i}` })))),
        '401 invalid_token unknown_key',
      )
    }
    assert.ok((issuer.hits['/jwks'] ?? 0) - before <= 1)
  })

  test('keys never fetched: 503 temporarily_unavailable, not a 500', async () => {
    issuer.failJwks(500)
    try {
      const error = await reason(verifierFor().verify(bearer(issuer.token())))
      assert.equal(error, '503 temporarily_unavailable jwks_unavailable')
    } finally {
      issuer.failJwks(undefined)
    }
  })

  test('an explicit jwksUri skips discovery', async () => {
    const before = issuer.hits['/.well-known/oauth-authorization-server'] ?? 0
    const verifier = verifierFor({ jwksUri: `${issuer.issuer}/jwks` })
    assert.equal(await reason(verifier.verify(bearer(issuer.token()))), 'accepted')
    assert.equal(issuer.hits['/.well-known/oauth-authorization-server'] ?? 0, before)
  })
})

describe('certificate-bound tokens (RFC 8705 §3)', () => {
  let certificate: X509Certificate
  let other: X509Certificate
  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'keybound-cert-'))
    const make = (name: string) => {
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
      return new X509Certificate(readFileSync(join(dir, `${name}.pem`)))
    }
    certificate = make('client')
    other = make('other')
    rmSync(dir, { recursive: true, force: true })
  })

  test('accepted with the bound certificate; refused without it or with another', async () => {
    const token = issuer.token({ cnf: { 'x5t#S256': certificateThumbprint(certificate) } })
    const verifier = verifierFor({ allowBearer: false })
    const ok = await verifier.verify({ ...bearer(token), clientCertificate: certificate })
    assert.equal(ok.binding, 'mtls')
    assert.equal(
      await reason(verifier.verify(bearer(token))),
      '401 invalid_token certificate_missing',
    )
    try {
      await verifier.verify({ ...bearer(token), clientCertificate: other })
      assert.fail('accepted')
    } catch (error) {
      assert.ok(error instanceof ResourceError)
      assert.equal(error.reason, 'x5t_mismatch')
      assert.equal(
        error.headers['www-authenticate'],
        'Bearer error="invalid_token", error_description="the access token is bound to another certificate", DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"',
      )
    }
  })
})

describe('certificates forwarded by a TLS-terminating proxy (certificateHeader)', () => {
  let certificate: X509Certificate
  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'keybound-cert-'))
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
        '/CN=fwd',
        '-days',
        '1',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    )
    certificate = new X509Certificate(readFileSync(join(dir, 'c.pem')))
    rmSync(dir, { recursive: true, force: true })
  })
  const forwarded = (token: string, remoteAddress: string, value: string) => ({
    ...bearer(token),
    headers: { ...bearer(token).headers, 'client-cert': value },
    remoteAddress,
  })

  test('read from a trusted proxy (RFC 9440 Client-Cert), ignored from anyone else', async () => {
    const logs: Record<string, unknown>[] = []
    const verifier = verifierFor({
      allowBearer: false,
      trustProxy: ['10.0.0.1'],
      certificateHeader: { format: 'rfc9440' },
      logger: { warn: (o) => logs.push(o) },
    })
    const token = issuer.token({ cnf: { 'x5t#S256': certificateThumbprint(certificate) } })
    const value = `:${certificate.raw.toString('base64')}:`
    const ok = await verifier.verify(forwarded(token, '10.0.0.1', value))
    assert.equal(ok.binding, 'mtls')
    assert.equal(
      await reason(verifier.verify(forwarded(token, '192.0.2.1', value))),
      '401 invalid_token certificate_missing',
    )
    assert.equal(logs[0]?.header, 'client-cert')
    assert.equal(
      await reason(verifier.verify(forwarded(token, '10.0.0.1', ':bm90IGEgY2VydA==:'))),
      '400 invalid_request certificate_unparsable',
    )
  })

  test('a header without trustProxy is a configuration mistake named at creation', () => {
    assert.throws(
      () => verifierFor({ certificateHeader: { format: 'nginx' } }),
      /"trustProxy" must be set with "certificateHeader"/,
    )
    assert.throws(
      () => verifierFor({ trustProxy: true, certificateHeader: { format: 'bogus' } } as never),
      /"certificateHeader.format" must be one of rfc9440/,
    )
  })
})

describe('any authorization server: node-oidc-provider with DPoP', () => {
  let provider: { issuer: string; close: () => Promise<void> }
  before(async () => {
    const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'jwk',
    })
    const { createServer } = await import('node:http')
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const url = `http://127.0.0.1:${port}`
    const oidc = new Provider(url, {
      clients: [
        {
          client_id: 'api-client',
          client_secret: 'a-secret-of-enough-length',
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          id_token_signed_response_alg: 'ES256',
          scope: 'read',
        },
      ],
      jwks: { keys: [{ ...signing, alg: 'ES256', use: 'sig', kid: 'k1' }] },
      scopes: ['read'],
      features: {
        clientCredentials: { enabled: true },
        dPoP: { enabled: true },
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => API,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: 'read',
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } },
          }),
        },
      },
      enabledJWA: { dPoPSigningAlgValues: ['ES256'] },
    })
    server.on('request', oidc.callback())
    provider = { issuer: url, close: () => new Promise((resolve) => server.close(() => resolve())) }
  })
  after(() => provider.close())

  test('its DPoP-bound JWT is verified: discovery through openid-configuration, cnf.jkt, ath', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    const res = await fetch(`${provider.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('api-client:a-secret-of-enough-length').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        dpop: await createProof({ key, htm: 'POST', htu: `${provider.issuer}/token` }),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }),
    })
    const json = (await res.json()) as { access_token: string; token_type: string }
    assert.equal(res.status, 200, JSON.stringify(json))
    assert.equal(json.token_type, 'DPoP')
    const verifier = createVerifier({
      issuer: provider.issuer,
      audience: API,
      replayCache: createMemoryReplayCache(),
      publicUrl: API,
      requireAtJwtTyp: true,
    })
    const request = async (k = key) => ({
      method: 'GET',
      url: '/orders',
      headers: {
        authorization: `DPoP ${json.access_token}`,
        dpop: await createProof({
          key: k,
          htm: 'GET',
          htu: `${API}/orders`,
          accessToken: json.access_token,
        }),
      },
    })
    const verified = await verifier.verify(await request(), { scope: 'read' })
    assert.equal(verified.binding, 'dpop')
    assert.equal(verified.clientId, 'api-client')
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    assert.equal(
      await reason(verifier.verify(await request(other))),
      '401 invalid_token jkt_mismatch',
    )
  })
})
