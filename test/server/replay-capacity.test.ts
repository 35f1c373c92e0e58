// replayCacheMaxEntries: the in-memory replay cache's ceiling is the configuration's, and a full
// cache answers 503 temporarily_unavailable (RFC 6749 §5.2 JSON) instead of forgetting a proof
// that is still inside its window (RFC 9449 §11.1).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CAPACITY = 3

let t: TestServer

before(async () => {
  t = await startServer({
    replayCacheMaxEntries: CAPACITY,
    clients: [{ client_id: 'service', client_secret: SECRET, grant_types: ['client_credentials'] }],
  })
})
after(() => t.close())

async function tokenRequest(dpop?: string) {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`service:${SECRET}`).toString('base64')}`,
      ...(dpop ? { dpop } : {}),
    },
    body: 'grant_type=client_credentials',
  })
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  }
}

test('a full in-memory replay cache refuses new proofs with 503 and keeps the ones it holds', async () => {
  const key = await generateKeyPair('ES256')
  const proofs: string[] = []
  for (let i = 0; i <= CAPACITY; i++) {
    proofs.push(await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` }))
  }
  for (const dpop of proofs.slice(0, CAPACITY)) {
    const r = await tokenRequest(dpop)
    assert.equal(r.status, 200)
    assert.equal(r.body.token_type, 'DPoP')
  }

  const full = await tokenRequest(proofs[CAPACITY])
  assert.equal(full.status, 503)
  assert.equal(full.body.error, 'temporarily_unavailable')
  assert.equal(full.headers.get('cache-control'), 'no-store')
  assert.doesNotMatch(JSON.stringify(full.body), /at .*\.ts:\d+/)

  // The proofs already seen are still remembered: a replay is refused as a replay.
  const replay = await tokenRequest(proofs[0])
  assert.equal(replay.status, 400)
  assert.equal(replay.body.error, 'invalid_dpop_proof')

  // A request without a proof does not need the cache.
  const bearer = await tokenRequest()
  assert.equal(bearer.status, 200)
  assert.equal(bearer.body.token_type, 'Bearer')
})
