/**
 * Reading servers' answers: WWW-Authenticate challenges (RFC 9110 §11.6.1) and use_dpop_nonce
 * (RFC 9449 §8, §9), on `Response` objects as `fetch` returns them.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseChallenges, useDPoPNonce } from '../../src/client/index.js'

describe('parseChallenges (RFC 9110 §11.6.1)', () => {
  test('the RFC 9449 §9 example', () => {
    assert.deepEqual(
      parseChallenges(
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
      ),
      [
        {
          scheme: 'dpop',
          params: {
            error: 'use_dpop_nonce',
            error_description: 'Resource server requires nonce in DPoP proof',
          },
        },
      ],
    )
  })

  test('the RFC 9110 §11.6.1 example: two challenges, escapes, a token value', () => {
    assert.deepEqual(
      parseChallenges(
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
      ),
      [
        { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
        { scheme: 'basic', params: { realm: 'simple' } },
      ],
    )
  })

  test('a scheme without parameters, a token68, case-insensitive names', () => {
    assert.deepEqual(parseChallenges('Bearer, Negotiate abc+/=, DPOP ERROR=invalid_token ,'), [
      { scheme: 'bearer', params: {} },
      { scheme: 'negotiate', params: {}, token68: 'abc+/=' },
      { scheme: 'dpop', params: { error: 'invalid_token' } },
    ])
  })

  test('stops at what is not a challenge; the first of a repeated parameter counts', () => {
    assert.deepEqual(parseChallenges(''), [])
    assert.deepEqual(parseChallenges('"quoted"'), [])
    assert.deepEqual(parseChallenges('DPoP error="a", error="b"'), [
      { scheme: 'dpop', params: { error: 'a' } },
    ])
    assert.deepEqual(parseChallenges('DPoP error="unterminated'), [{ scheme: 'dpop', params: {} }])
  })
})

describe('useDPoPNonce', () => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    })

  test('an authorization server’s 400 use_dpop_nonce with DPoP-Nonce (RFC 9449 §8)', async () => {
    const response = json(400, { error: 'use_dpop_nonce' }, { 'DPoP-Nonce': 'n-1' })
    assert.equal(await useDPoPNonce(response), 'n-1')
    // The body is still there for the caller.
    assert.deepEqual(await response.json(), { error: 'use_dpop_nonce' })
  })

  test('a resource server’s 401 DPoP challenge with DPoP-Nonce (RFC 9449 §9)', async () => {
    const response = new Response(null, {
      status: 401,
      headers: {
        'www-authenticate': 'Bearer realm="api", DPoP error="use_dpop_nonce", algs="ES256"',
        'dpop-nonce': 'n-2',
      },
    })
    assert.equal(await useDPoPNonce(response), 'n-2')
  })

  test('anything else is not a demand for a nonce', async () => {
    const answers = [
      // No DPoP-Nonce: nothing to retry with.
      json(400, { error: 'use_dpop_nonce' }),
      new Response(null, {
        status: 401,
        headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"' },
      }),
      // Another error, with a nonce (which dpopFetch still remembers).
      json(400, { error: 'invalid_dpop_proof' }, { 'dpop-nonce': 'n' }),
      new Response(null, {
        status: 401,
        headers: { 'www-authenticate': 'DPoP error="invalid_token"', 'dpop-nonce': 'n' },
      }),
      // The error in another scheme's challenge, or in the wrong status, or not JSON.
      new Response(null, {
        status: 401,
        headers: { 'www-authenticate': 'Bearer error="use_dpop_nonce"', 'dpop-nonce': 'n' },
      }),
      json(401, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'n' }),
      json(200, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'n' }),
      new Response('error=use_dpop_nonce', { status: 400, headers: { 'dpop-nonce': 'n' } }),
    ]
    for (const [i, response] of answers.entries()) {
      assert.equal(await useDPoPNonce(response), undefined, `answer ${i}`)
    }
  })
})
