/**
 * A restart on the same database (the SQLite file, or PostgreSQL with
 * KEYBOUND_TEST_DATABASE=postgres) keeps clients, users, refresh tokens and signing keys.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { authorizeInBrowser } from '../helpers/browser.js'
import { startServer, testDatabase } from '../helpers/server.js'

const CALLBACK = 'https://app.example/callback'
const config = {
  clients: [
    {
      client_id: 'spa',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [CALLBACK],
      first_party: true,
    },
  ],
  users: [{ username: 'alice', password: 'alice-password-1' }],
}

const database = await testDatabase()
after(() => database.drop())

async function token(issuer: string, fields: Record<string, string>, dpop: string) {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop },
    body: new URLSearchParams({ client_id: 'spa', ...fields }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, string> }
}

test('clients, users, refresh tokens and keys survive a restart', async () => {
  const key = await generateKeyPair('ES256')
  const first = await startServer(config, database.url)
  const verifier = oauth.generateRandomCodeVerifier()
  const callback = await authorizeInBrowser(
    first.issuer,
    {
      response_type: 'code',
      client_id: 'spa',
      redirect_uri: CALLBACK,
      scope: 'read',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    },
    { username: 'alice', password: 'alice-password-1' },
  )
  const issued = await token(
    first.issuer,
    {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') as string,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
    },
    await createProof({ key, htm: 'POST', htu: `${first.issuer}/token` }),
  )
  assert.equal(issued.status, 200, JSON.stringify(issued.body))
  const jwks = await (await fetch(`${first.issuer}/jwks`)).json()
  await first.server.close()

  // The same database, a new process state, a new port (so a new issuer URL: tokens are
  // checked against the keys, not the URL).
  const second = await startServer(config, database.url)
  try {
    assert.deepEqual(await (await fetch(`${second.issuer}/jwks`)).json(), jwks)
    const refreshed = await token(
      second.issuer,
      { grant_type: 'refresh_token', refresh_token: issued.body.refresh_token as string },
      await createProof({ key, htm: 'POST', htu: `${second.issuer}/token` }),
    )
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body))
    assert.equal(refreshed.body.token_type, 'DPoP')
    // The new token is signed with the key the first instance created.
    await jwtVerify(
      refreshed.body.access_token as string,
      createRemoteJWKSet(new URL(`${second.issuer}/jwks`)),
    )
    // The user still logs in.
    const again = await authorizeInBrowser(
      second.issuer,
      {
        response_type: 'code',
        client_id: 'spa',
        redirect_uri: CALLBACK,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      },
      { username: 'alice', password: 'alice-password-1' },
    )
    assert.ok(again.searchParams.get('code'))
  } finally {
    await second.server.close()
  }
})
