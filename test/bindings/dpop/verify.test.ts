import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { computeAth } from '../../../src/bindings/dpop/ath.js'
import { DPoPProofError } from '../../../src/bindings/dpop/errors.js'
import { createNonceProvider } from '../../../src/bindings/dpop/nonce.js'
import { verifyPresentedProof } from '../../../src/bindings/dpop/present.js'
import { createProof } from '../../../src/bindings/dpop/proof.js'
import { type VerifyProofOptions, verifyProof } from '../../../src/bindings/dpop/verify.js'
import type { AsymmetricAlg } from '../../../src/jose/algs.js'
import { jwkThumbprint, type PublicJwk } from '../../../src/jose/jwk.js'
import { createMemoryReplayCache } from '../../../src/replay/memory.js'
import type { ReplayCache } from '../../../src/replay/types.js'
import { b64u, rawProof, signWith, testKey } from '../../helpers/proofs.js'

const NOW = 1_800_000_000
const currentDate = new Date(NOW * 1000)
const es256 = testKey('ES256')

function options(overrides: Partial<VerifyProofOptions> = {}): VerifyProofOptions {
  return {
    htm: 'POST',
    htu: 'https://as.example/token',
    replayCache: null,
    currentDate,
    ...overrides,
  }
}

/** Asserts that verification fails with `reason` (and the RFC 9449 error code it implies). */
async function refused(
  proof: string | readonly string[] | undefined,
  reason: string,
  overrides: Partial<VerifyProofOptions> = {},
) {
  await assert.rejects(verifyProof(proof, options(overrides)), (err: unknown) => {
    assert.ok(err instanceof DPoPProofError, `expected DPoPProofError, got ${String(err)}`)
    assert.equal(err.reason, reason)
    const nonce = reason === 'nonce_missing' || reason === 'nonce_invalid'
    assert.equal(err.error, nonce ? 'use_dpop_nonce' : 'invalid_dpop_proof')
    assert.equal(err.status, 400)
    return true
  })
}

const claims = (extra: Record<string, unknown> = {}) => ({
  jti: 'a-jti',
  htm: 'POST',
  htu: 'https://as.example/token',
  iat: NOW,
  ...extra,
})
const withClaims = (extra: Record<string, unknown>, key = es256) =>
  rawProof(key, NOW, { payload: claims(extra) })
const withHeader = (header: Record<string, unknown> | string, key = es256) =>
  rawProof(key, NOW, { header })

describe('verifyProof accepts', () => {
  const algs: Array<[AsymmetricAlg, 'Ed448'?]> = [
    ['ES256'],
    ['ES384'],
    ['ES512'],
    ['PS256'],
    ['PS384'],
    ['PS512'],
    ['RS256'],
    ['RS384'],
    ['RS512'],
    ['EdDSA'],
    ['Ed25519'],
  ]
  for (const [alg, curve] of algs) {
    test(`${alg}${curve ? ` (${curve})` : ''} proofs made by createProof`, async () => {
      const key = testKey(alg, curve)
      const proof = await createProof({
        key: key.privateKey,
        alg,
        htm: 'GET',
        htu: 'https://rs.example/api?q=1#f',
        accessToken: 'token-1',
        iat: NOW,
      })
      const result = await verifyProof(
        proof,
        options({ htm: 'GET', htu: 'https://rs.example/api?other', accessToken: 'token-1' }),
      )
      assert.equal(result.alg, alg)
      assert.equal(result.jkt, jwkThumbprint(key.jwk as unknown as PublicJwk))
      assert.equal(result.claims.htu, 'https://rs.example/api')
      assert.equal(result.claims.ath, computeAth('token-1'))
      assert.equal(result.expiresAt, (NOW + 60 + 5) * 1000)
    })
  }

  test('EdDSA proofs with an Ed448 key (signed by node:crypto: WebCrypto has no Ed448)', async () => {
    const key = testKey('EdDSA', 'Ed448')
    const result = await verifyProof(rawProof(key, NOW), options())
    assert.equal(result.jwk.crv, 'Ed448')
  })

  test('proofs signed with a non-extractable WebCrypto key', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])
    const proof = await createProof({ key: pair, htm: 'POST', htu: 'https://as.example/token' })
    const result = await verifyProof(proof, options({ currentDate: undefined }))
    assert.equal(result.alg, 'ES256')
  })

  test('an htu equal after RFC 3986 normalisation', async () => {
    const proof = withClaims({ htu: 'HTTPS://AS.Example:443/%7Euser/a%2fb' })
    await verifyProof(proof, options({ htu: 'https://as.example/~user/a%2Fb' }))
    const root = withClaims({ htu: 'https://as.example' })
    await verifyProof(root, options({ htu: 'https://as.example/' }))
    const port = withClaims({ htu: 'http://as.example:80/token' })
    await verifyProof(port, options({ htu: 'http://as.example/token' }))
  })

  test('an iat inside the clock tolerance in the future, and at the edge of the window', async () => {
    await verifyProof(withClaims({ iat: NOW + 5 }), options())
    await verifyProof(withClaims({ iat: NOW - 65 }), options())
    await verifyProof(withClaims({ iat: NOW - 200 }), options({ maxAge: 300 }))
  })

  test('a proof with a valid server nonce, current or previous step', async () => {
    const nonces = createNonceProvider({ secret: new Uint8Array(32).fill(7), step: 60 })
    const current = nonces.current(NOW * 1000)
    await verifyProof(withClaims({ nonce: current }), options({ nonce: nonces }))
    const previous = nonces.current((NOW - 60) * 1000)
    await verifyProof(withClaims({ nonce: previous }), options({ nonce: nonces }))
  })

  test('with server nonces, a valid nonce stands in for iat: a wrong clock recovers in one retry', async () => {
    const nonces = createNonceProvider({ secret: new Uint8Array(32).fill(3), step: 60 })
    const replayCache = createMemoryReplayCache()
    // Without a nonce, an hour-old iat is answered with use_dpop_nonce, not a hard failure.
    const err = await verifyProof(
      withClaims({ iat: NOW - 3600 }),
      options({ nonce: nonces }),
    ).catch((e) => e)
    assert.equal(err.error, 'use_dpop_nonce')
    const retry = withClaims({ iat: NOW - 3600, nonce: err.nonce, jti: 'clock-skewed' })
    const result = await verifyProof(retry, options({ nonce: nonces, replayCache }))
    assert.equal(result.expiresAt, (NOW + 120) * 1000)
    await refused(retry, 'replayed_jti', { nonce: nonces, replayCache })
  })

  test('a single-element header array (headersDistinct)', async () => {
    await verifyProof([withClaims({})], options())
  })
})

describe('verifyProof refuses (RFC 9449 §4.3)', () => {
  test('no DPoP header', () => refused(undefined, 'missing_proof'))
  test('an empty DPoP header', () => refused('', 'missing_proof'))
  test('two DPoP headers', () => refused([withClaims({}), withClaims({})], 'multiple_proofs'))
  test('two DPoP headers joined by node:http', () =>
    refused(`${withClaims({})}, ${withClaims({})}`, 'multiple_proofs'))
  test('an oversized proof', () =>
    refused(withClaims({ pad: 'x'.repeat(8192) }), 'proof_too_large'))
  test('two parts', () => refused(withClaims({}).split('.').slice(0, 2).join('.'), 'malformed_jws'))
  test('four parts', () => refused(`${withClaims({})}.e30`, 'malformed_jws'))
  test('padded base64url', () => {
    const [h, p, s] = withClaims({}).split('.')
    return refused(`${h}.${p}=.${s}`, 'bad_base64url')
  })
  test('base64 (not url) characters', () => {
    const [h, , s] = withClaims({}).split('.')
    const p = Buffer.from(JSON.stringify(claims({ x: '>>>???' }))).toString('base64')
    assert.match(p, /[+/]/)
    return refused(`${h}.${p}.${s}`, 'bad_base64url')
  })
  test('non-canonical base64url (unused bits set in the last character)', () => {
    const proof = withClaims({})
    const [h, p, s] = proof.split('.') as [string, string, string]
    // A 64-byte signature is 86 characters; the last carries 4 unused bits.
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const i = last.indexOf(s.at(-1) as string)
    const tweaked = `${s.slice(0, -1)}${last[i | 1]}`
    assert.deepEqual(Buffer.from(tweaked, 'base64url'), Buffer.from(s, 'base64url'))
    return refused(`${h}.${p}.${tweaked}`, 'bad_base64url')
  })
  test('a header that is not JSON', () => refused(withHeader('{"typ":'), 'bad_json'))
  test('a payload that is not UTF-8', () => {
    const h = b64u(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: es256.jwk }))
    const p = b64u(Buffer.from([0x7b, 0xff, 0x7d]))
    return refused(
      `${h}.${p}.${b64u(signWith('ES256', es256.privateKey, `${h}.${p}`))}`,
      'bad_json',
    )
  })
  test('a payload that is an array', () =>
    refused(rawProof(es256, NOW, { payload: '[1,2]' }), 'not_object'))
  test('a payload that is a string', () =>
    refused(rawProof(es256, NOW, { payload: '"jti"' }), 'not_object'))
  test('duplicate members in the payload', () => {
    const payload = `{"jti":"a","htm":"GET","htm":"POST","htu":"https://as.example/token","iat":${NOW}}`
    return refused(rawProof(es256, NOW, { payload }), 'duplicate_member')
  })
  test('duplicate members in the header, one of them escaped', () => {
    const header = `{"typ":"dpop+jwt","alg":"ES256","\\u0061lg":"none","jwk":${JSON.stringify(es256.jwk)}}`
    return refused(withHeader(header), 'duplicate_member')
  })
  test('a missing typ', () => refused(withHeader({ alg: 'ES256', jwk: es256.jwk }), 'bad_typ'))
  test('typ JWT', () =>
    refused(withHeader({ typ: 'JWT', alg: 'ES256', jwk: es256.jwk }), 'bad_typ'))
  test('alg none', async () => {
    const h = b64u(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: es256.jwk }))
    const p = b64u(JSON.stringify(claims()))
    await refused(`${h}.${p}.`, 'alg_not_allowed')
  })
  test('HS256 with an oct jwk', async () => {
    const { createHmac } = await import('node:crypto')
    const secret = Buffer.alloc(32, 1)
    const h = b64u(
      JSON.stringify({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: b64u(secret) } }),
    )
    const p = b64u(JSON.stringify(claims()))
    const s = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')
    await refused(`${h}.${p}.${s}`, 'alg_not_allowed')
  })
  test('an alg not on the allow-list', () =>
    refused(rawProof(testKey('ES384'), NOW), 'alg_not_allowed', { algs: ['ES256'] }))
  test('a missing alg', () =>
    refused(withHeader({ typ: 'dpop+jwt', jwk: es256.jwk }), 'alg_not_allowed'))
  test('a missing jwk', () => refused(withHeader({ typ: 'dpop+jwt', alg: 'ES256' }), 'jwk_missing'))
  test('a jwk with the private d', () => {
    const jwk = es256.privateKey.export({ format: 'jwk' })
    return refused(withHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }), 'jwk_private')
  })
  test('an RSA jwk with private members', () => {
    const rsa = testKey('PS256')
    const jwk = rsa.privateKey.export({ format: 'jwk' })
    return refused(withHeader({ typ: 'dpop+jwt', alg: 'PS256', jwk }, rsa), 'jwk_private')
  })
  test('a jwk whose kty does not fit alg', () => {
    const rsa = testKey('RS256')
    return refused(withHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: rsa.jwk }), 'jwk_alg_mismatch')
  })
  test('a jwk whose crv does not fit alg', () => {
    const p384 = testKey('ES384')
    return refused(withHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: p384.jwk }), 'jwk_alg_mismatch')
  })
  test('an RSA key under 2048 bits', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const key = {
      alg: 'RS256' as const,
      publicKey,
      privateKey,
      jwk: publicKey.export({ format: 'jwk' }),
    }
    return refused(rawProof(key, NOW), 'jwk_alg_mismatch')
  })
  test('a jwk with a short coordinate', () =>
    refused(
      withHeader({
        typ: 'dpop+jwt',
        alg: 'ES256',
        jwk: { ...es256.jwk, x: b64u(Buffer.alloc(31, 1)) },
      }),
      'jwk_invalid',
    ))
  test('a jwk whose point is not on the curve', () =>
    refused(
      withHeader({
        typ: 'dpop+jwt',
        alg: 'ES256',
        jwk: {
          kty: 'EC',
          crv: 'P-256',
          x: b64u(Buffer.alloc(32, 1)),
          y: b64u(Buffer.alloc(32, 2)),
        },
      }),
      'jwk_invalid',
    ))
  test('crit', () =>
    refused(
      withHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: es256.jwk, crit: ['exp'], exp: 1 }),
      'crit_unsupported',
    ))
  test('b64: false', () =>
    refused(
      withHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: es256.jwk, b64: false }),
      'b64_unsupported',
    ))
  test('a signature by another key', () => {
    const other = testKey('ES256')
    const [h, p] = withClaims({}).split('.')
    return refused(
      `${h}.${p}.${b64u(signWith('ES256', other.privateKey, `${h}.${p}`))}`,
      'bad_signature',
    )
  })
  test('an ECDSA signature with r = s = 0 (CVE-2022-21449)', () => {
    const [h, p] = withClaims({}).split('.')
    return refused(`${h}.${p}.${b64u(Buffer.alloc(64))}`, 'bad_signature')
  })
  test('an ECDSA signature in DER form', async () => {
    const { sign } = await import('node:crypto')
    const [h, p] = withClaims({}).split('.')
    const der = sign('sha256', Buffer.from(`${h}.${p}`), es256.privateKey)
    await refused(`${h}.${p}.${b64u(der)}`, 'bad_signature')
  })
  test('an EdDSA proof whose signature was made over other bytes', () => {
    const ed = testKey('EdDSA')
    const [h, p] = rawProof(ed, NOW).split('.')
    return refused(
      `${h}.${p}.${b64u(signWith('EdDSA', ed.privateKey, `${h}.e30`))}`,
      'bad_signature',
    )
  })
  test('a missing jti', () => refused(withClaims({ jti: undefined }), 'jti_invalid'))
  test('a jti that is not a string', () => refused(withClaims({ jti: 42 }), 'jti_invalid'))
  test('an oversized jti', () => refused(withClaims({ jti: 'j'.repeat(257) }), 'jti_too_long'))
  test('a missing htm', () => refused(withClaims({ htm: undefined }), 'htm_invalid'))
  test('a lower-case htm', () => refused(withClaims({ htm: 'post' }), 'htm_mismatch'))
  test('another htm', () => refused(withClaims({ htm: 'GET' }), 'htm_mismatch'))
  test('a missing htu', () => refused(withClaims({ htu: undefined }), 'htu_invalid'))
  test('an htu that is not a URI', () => refused(withClaims({ htu: 'token' }), 'htu_invalid'))
  test('an htu with user info', () =>
    refused(withClaims({ htu: 'https://user@as.example/token' }), 'htu_invalid'))
  test('an htu with another scheme', () =>
    refused(withClaims({ htu: 'http://as.example/token' }), 'htu_mismatch'))
  test('an htu with another host', () =>
    refused(withClaims({ htu: 'https://evil.example/token' }), 'htu_mismatch'))
  test('an htu with another port', () =>
    refused(withClaims({ htu: 'https://as.example:8443/token' }), 'htu_mismatch'))
  test('an htu with another path', () =>
    refused(withClaims({ htu: 'https://as.example/token/x' }), 'htu_mismatch'))
  test('an htu whose path differs only by an encoded slash', () =>
    refused(withClaims({ htu: 'https://as.example/a%2Fb' }), 'htu_mismatch', {
      htu: 'https://as.example/a/b',
    }))
  test('an iat too old', () => refused(withClaims({ iat: NOW - 66 }), 'iat_too_old'))
  test('an iat in the future', () => refused(withClaims({ iat: NOW + 6 }), 'iat_in_future'))
  test('an iat that is a string', () => refused(withClaims({ iat: String(NOW) }), 'iat_invalid'))
  test('an iat that is huge', () =>
    refused(
      rawProof(es256, NOW, { payload: JSON.stringify(claims()).replace(String(NOW), '1e400') }),
      'iat_invalid',
    ))
  test('a missing ath when a token is presented', () =>
    refused(withClaims({}), 'ath_missing', { accessToken: 'token' }))
  test('an ath of another token', () =>
    refused(withClaims({ ath: computeAth('other') }), 'ath_mismatch', { accessToken: 'token' }))
  test('a key other than the bound one', () =>
    refused(withClaims({}), 'jkt_mismatch', {
      expectedJkt: jwkThumbprint(testKey('ES256').jwk as unknown as PublicJwk),
    }))

  test('a missing nonce, with the fresh nonce to send', async () => {
    const nonces = createNonceProvider({ secret: new Uint8Array(32).fill(1) })
    await refused(withClaims({}), 'nonce_missing', { nonce: nonces })
    const err = await verifyProof(withClaims({}), options({ nonce: nonces })).catch((e) => e)
    assert.equal(err.nonce, nonces.current(NOW * 1000))
  })
  test('a stale nonce', async () => {
    const nonces = createNonceProvider({ secret: new Uint8Array(32).fill(1), step: 60 })
    const stale = nonces.current((NOW - 120) * 1000)
    await refused(withClaims({ nonce: stale }), 'nonce_invalid', { nonce: nonces })
  })
  test('a nonce from another deployment', async () => {
    const ours = createNonceProvider({ secret: new Uint8Array(32).fill(1) })
    const theirs = createNonceProvider({ secret: new Uint8Array(32).fill(2) })
    await refused(withClaims({ nonce: theirs.current(NOW * 1000) }), 'nonce_invalid', {
      nonce: ours,
    })
  })
  test('a nonce other than the one expected', () =>
    refused(withClaims({ nonce: 'abc' }), 'nonce_invalid', { nonce: 'def' }))

  test('a replayed jti (memory replay cache)', async () => {
    const replayCache = createMemoryReplayCache()
    const proof = withClaims({ jti: 'once' })
    await verifyProof(proof, options({ replayCache }))
    await refused(proof, 'replayed_jti', { replayCache })
  })

  test('a replayed jti (a replay cache that answers later, as Redis does)', async () => {
    const seen = new Set<string>()
    const later: ReplayCache = {
      firstUse: (key) =>
        new Promise((resolve) =>
          setImmediate(() => resolve(seen.has(key) ? false : Boolean(seen.add(key)))),
        ),
    }
    const proof = withClaims({ jti: 'once-later' })
    const verified = await verifyProof(proof, options({ replayCache: later }))
    assert.equal(verified.claims.jti, 'once-later')
    await refused(proof, 'replayed_jti', { replayCache: later })
  })

  test('a replay cache that cannot answer: rejected, never thrown', async () => {
    const full = createMemoryReplayCache({ maxEntries: 1 })
    await verifyProof(withClaims({ jti: 'first' }), options({ replayCache: full }))
    // The in-memory cache answers synchronously inside verifyProof; its error still arrives
    // as a rejection of the returned promise.
    let pending: Promise<unknown> | undefined
    assert.doesNotThrow(() => {
      pending = verifyProof(withClaims({ jti: 'second' }), options({ replayCache: full }))
    })
    await assert.rejects(pending as Promise<unknown>, { name: 'ReplayCacheFullError' })
  })

  test('a refused proof does not use up its jti', async () => {
    const replayCache = createMemoryReplayCache()
    const proof = withClaims({ jti: 'kept' })
    await refused(proof, 'htm_mismatch', { replayCache, htm: 'GET' })
    await verifyProof(proof, options({ replayCache }))
  })
})

describe('verifyProof misuse', () => {
  test('replayCache must be given or explicitly null', async () => {
    await assert.rejects(
      verifyProof(withClaims({}), {
        htm: 'POST',
        htu: 'https://as.example/token',
      } as VerifyProofOptions),
      { code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' },
    )
  })
  test('algs must be asymmetric algs keybound supports', async () => {
    await assert.rejects(
      verifyProof(withClaims({}), options({ algs: ['HS256' as AsymmetricAlg] })),
      { code: 'ERR_INVALID_ARG_VALUE' },
    )
  })
  test('a proof error carries a reason and a safe description, not values', async () => {
    const err = await verifyProof(withClaims({ htu: 'https://evil.example/x' }), options()).catch(
      (e) => e,
    )
    assert.ok(err instanceof DPoPProofError)
    assert.equal(err.error_description, 'DPoP proof "htu" does not match the request')
    assert.deepEqual(err.toJSON(), {
      error: 'invalid_dpop_proof',
      error_description: 'DPoP proof "htu" does not match the request',
    })
    assert.match(err.detail ?? '', /evil\.example/)
  })
})

describe('verifyPresentedProof (the presenting side, RFC 9449 §7.1)', () => {
  const token = 'an-access-token'
  const jkt = jwkThumbprint(es256.jwk as PublicJwk)
  const policy = { replayCache: createMemoryReplayCache(), currentDate }
  const presentation = { htm: 'POST', htu: 'https://as.example/token', accessToken: token, jkt }
  const bound = () => withClaims({ jti: randomUUID(), ath: computeAth(token) })

  test('a proof for the token, by the key it is bound to', async () => {
    const proof = await verifyPresentedProof(bound(), presentation, policy)
    assert.equal(proof.jkt, jkt)
    assert.equal(proof.claims.ath, computeAth(token))
  })

  test('each failure with its reason: no ath, another token, another key, a replay', async () => {
    const reasonOf = (promise: Promise<unknown>) =>
      promise.then(
        () => 'accepted',
        (error: DPoPProofError) => error.reason,
      )
    const cases: [string, string, Partial<typeof presentation>][] = [
      [withClaims({ jti: randomUUID() }), 'ath_missing', {}],
      [bound(), 'ath_mismatch', { accessToken: 'another-token' }],
      [bound(), 'jkt_mismatch', { jkt: jwkThumbprint(testKey('ES256').jwk as PublicJwk) }],
      ['', 'missing_proof', {}],
    ]
    for (const [proof, reason, change] of cases) {
      const presented = verifyPresentedProof(proof, { ...presentation, ...change }, policy)
      assert.equal(await reasonOf(presented), reason)
    }
    const once = bound()
    assert.equal(await reasonOf(verifyPresentedProof(once, presentation, policy)), 'accepted')
    assert.equal(await reasonOf(verifyPresentedProof(once, presentation, policy)), 'replayed_jti')
  })
})
