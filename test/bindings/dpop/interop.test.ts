/**
 * Interoperability: proofs made by an independent implementation (oauth4webapi's DPoP handle,
 * WebCrypto keys with non-extractable private halves) are verified by `verifyProof` over real
 * HTTP, at a minimal token endpoint and a protected resource, including the nonce round trip of
 * RFC 9449 §8 and §9.
 */
import assert from 'node:assert/strict'
import { randomBytes, webcrypto } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import * as oauth from 'oauth4webapi'
import { DPoPProofError } from '../../../src/bindings/dpop/errors.js'
import { createNonceProvider, type NonceSource } from '../../../src/bindings/dpop/nonce.js'
import { type VerifiedProof, verifyProof } from '../../../src/bindings/dpop/verify.js'
import { createMemoryReplayCache } from '../../../src/replay/memory.js'

const CLIENT_ID = 'interop-client'
const CLIENT_SECRET = 'interop-secret'

/** What the server saw: every proof it accepted and every refusal, by path. */
interface Seen {
  readonly path: string
  readonly proof?: VerifiedProof
  readonly reason?: string
}

const state: {
  origin: string
  /** The nonce each endpoint demands, when it demands one. */
  tokenNonce: NonceSource | undefined
  apiNonce: NonceSource | undefined
  seen: Seen[]
  /** Anything but a DPoPProofError thrown while handling a request (a test failure). */
  unexpected: unknown[]
} = { origin: '', tokenNonce: undefined, apiNonce: undefined, seen: [], unexpected: [] }

/** Access token to the `jkt` it is bound to (`cnf.jkt`). */
const tokens = new Map<string, string>()
const replayCache = createMemoryReplayCache()

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** A minimal token endpoint: client credentials grant, DPoP-bound tokens (RFC 9449 §5). */
async function tokenEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') return send(res, 405, { error: 'invalid_request' })
  const params = new URLSearchParams(await readBody(req))
  if (params.get('grant_type') !== 'client_credentials' || params.get('client_id') !== CLIENT_ID) {
    return send(res, 400, { error: 'invalid_request' })
  }
  if (params.has('client_secret') && params.get('client_secret') !== CLIENT_SECRET) {
    return send(res, 401, { error: 'invalid_client' })
  }
  let proof: VerifiedProof
  try {
    proof = await verifyProof(req.headers.dpop, {
      htm: req.method,
      htu: `${state.origin}/token`,
      replayCache,
      ...(state.tokenNonce ? { nonce: state.tokenNonce } : {}),
    })
  } catch (err) {
    if (!(err instanceof DPoPProofError)) throw err
    state.seen.push({ path: '/token', reason: err.reason })
    return send(res, 400, err.toJSON(), err.nonce ? { 'dpop-nonce': err.nonce } : {})
  }
  state.seen.push({ path: '/token', proof })
  const accessToken = randomBytes(24).toString('base64url')
  tokens.set(accessToken, proof.jkt)
  return send(
    res,
    200,
    { access_token: accessToken, token_type: 'DPoP', expires_in: 60 },
    { 'cache-control': 'no-store' },
  )
}

/** A protected resource that accepts DPoP-bound tokens only (RFC 9449 §7). */
async function protectedResource(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const match = /^DPoP ([\w.~+/-]+=*)$/.exec(req.headers.authorization ?? '')
  const accessToken = match?.[1]
  const jkt = accessToken === undefined ? undefined : tokens.get(accessToken)
  if (accessToken === undefined || jkt === undefined) {
    return send(
      res,
      401,
      { error: 'invalid_token' },
      { 'www-authenticate': 'DPoP error="invalid_token"' },
    )
  }
  let proof: VerifiedProof
  try {
    proof = await verifyProof(req.headers.dpop, {
      htm: req.method ?? '',
      htu: `${state.origin}/api`,
      accessToken,
      expectedJkt: jkt,
      replayCache,
      ...(state.apiNonce ? { nonce: state.apiNonce } : {}),
    })
  } catch (err) {
    if (!(err instanceof DPoPProofError)) throw err
    state.seen.push({ path: '/api', reason: err.reason })
    return send(res, 401, err.toJSON(), {
      'www-authenticate': `DPoP error="${err.error}", error_description="${err.error_description}"`,
      ...(err.nonce ? { 'dpop-nonce': err.nonce } : {}),
    })
  }
  state.seen.push({ path: '/api', proof })
  return send(res, 200, { ok: true, jkt: proof.jkt })
}

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url ?? '/', state.origin)
  const handler =
    pathname === '/token' ? tokenEndpoint : pathname === '/api' ? protectedResource : undefined
  if (!handler) return send(res, 404, { error: 'not_found' })
  handler(req, res).catch((err: unknown) => {
    state.unexpected.push(err)
    if (!res.headersSent) send(res, 500, { error: 'server_error' })
  })
})

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve, reject) =>
    server.close((err) => (err ? reject(err) : resolve())),
  )
})

// ---------------------------------------------------------------------------------------------
// The client side: oauth4webapi
// ---------------------------------------------------------------------------------------------

type CryptoKeyPair = webcrypto.CryptoKeyPair
type KeyParams = webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | { name: 'Ed25519' }

interface Case {
  readonly name: string
  readonly params: KeyParams
  /** The `alg` oauth4webapi puts in the proof. */
  readonly alg: string
  readonly options?: oauth.ModifyAssertionOptions
}

const CASES: readonly Case[] = [
  { name: 'ES256 (ECDSA P-256)', params: { name: 'ECDSA', namedCurve: 'P-256' }, alg: 'ES256' },
  {
    name: 'PS256 (RSA-PSS 2048)',
    params: {
      name: 'RSA-PSS',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    alg: 'PS256',
  },
  { name: 'Ed25519 (fully specified alg)', params: { name: 'Ed25519' }, alg: 'Ed25519' },
  {
    name: 'Ed25519 (alg remapped to EdDSA)',
    params: { name: 'Ed25519' },
    alg: 'EdDSA',
    options: {
      [oauth.modifyAssertion]: (header) => {
        if (header.alg === 'Ed25519') header.alg = 'EdDSA'
      },
    },
  },
]

/** A WebCrypto key pair whose private key cannot be exported, as oauth4webapi recommends. */
async function generateKeyPair(params: KeyParams): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(params, false, ['sign', 'verify'])) as CryptoKeyPair
}

const client: oauth.Client = { client_id: CLIENT_ID }
const insecure = { [oauth.allowInsecureRequests]: true } as const

function authorizationServer(): oauth.AuthorizationServer {
  return { issuer: state.origin, token_endpoint: `${state.origin}/token` }
}

async function getToken(
  DPoP: oauth.DPoPHandle,
  auth: oauth.ClientAuth = oauth.ClientSecretPost(CLIENT_SECRET),
): Promise<oauth.TokenEndpointResponse> {
  const as = authorizationServer()
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    auth,
    { scope: 'read' },
    { DPoP, ...insecure },
  )
  return oauth.processClientCredentialsResponse(as, client, response)
}

function callApi(DPoP: oauth.DPoPHandle, accessToken: string): Promise<Response> {
  return oauth.protectedResourceRequest(
    accessToken,
    'GET',
    new URL(`${state.origin}/api?page=1`),
    new Headers(),
    null,
    { DPoP, ...insecure },
  )
}

/** The last thing the server saw at `path`. */
function lastSeen(path: string): Seen {
  const seen = state.seen.filter((s) => s.path === path).at(-1)
  assert.ok(seen, `the server saw nothing at ${path}`)
  return seen
}

function reset(): void {
  state.tokenNonce = undefined
  state.apiNonce = undefined
  state.seen = []
}

for (const c of CASES) {
  describe(`interop with oauth4webapi: ${c.name}`, () => {
    let keyPair: CryptoKeyPair

    before(async () => {
      keyPair = await generateKeyPair(c.params)
      assert.equal(keyPair.privateKey.extractable, false)
    })

    test('token request and two resource requests, bound to the client key', async () => {
      reset()
      const DPoP = oauth.DPoP(client, keyPair, c.options)
      const jkt = await DPoP.calculateThumbprint()

      const token = await getToken(DPoP)
      assert.equal(token.token_type, 'dpop')
      const issued = lastSeen('/token').proof
      assert.ok(issued, 'the token request was refused')
      assert.equal(issued.jkt, jkt)
      assert.equal(issued.alg, c.alg)
      assert.equal(issued.claims.htm, 'POST')
      assert.equal(issued.claims.htu, `${state.origin}/token`)
      assert.equal(tokens.get(token.access_token), jkt)

      const jtis = new Set<string>([issued.claims.jti])
      for (let i = 0; i < 2; i++) {
        const response = await callApi(DPoP, token.access_token)
        assert.equal(response.status, 200)
        assert.deepEqual(await response.json(), { ok: true, jkt })
        const used = lastSeen('/api').proof
        assert.ok(used)
        assert.equal(used.jkt, jkt)
        assert.equal(used.claims.htm, 'GET')
        assert.equal(used.claims.htu, `${state.origin}/api`)
        assert.equal(typeof used.claims.ath, 'string')
        assert.ok(!jtis.has(used.claims.jti), 'a jti was reused')
        jtis.add(used.claims.jti)
      }
      assert.deepEqual(state.unexpected, [])
    })

    test('nonce demanded by the token endpoint, then by the resource: one retry each', async () => {
      reset()
      // Separate secrets: the resource's nonces are not the authorization server's.
      state.tokenNonce = createNonceProvider({ secret: randomBytes(32) })
      state.apiNonce = createNonceProvider({ secret: randomBytes(32) })
      const DPoP = oauth.DPoP(client, keyPair, c.options)
      const jkt = await DPoP.calculateThumbprint()

      // Token endpoint (RFC 9449 §8): 400 use_dpop_nonce with a DPoP-Nonce header.
      const error = await getToken(DPoP, oauth.None()).then(
        () => assert.fail('the token request without a nonce was accepted'),
        (err: unknown) => err,
      )
      assert.ok(oauth.isDPoPNonceError(error), `not a nonce error: ${String(error)}`)
      assert.ok(error instanceof oauth.ResponseBodyError)
      assert.equal(error.status, 400)
      const tokenNonce = error.response.headers.get('dpop-nonce')
      assert.ok(tokenNonce && state.tokenNonce.verify(tokenNonce), 'no valid DPoP-Nonce header')
      assert.equal(lastSeen('/token').reason, 'nonce_missing')

      const token = await getToken(DPoP, oauth.None())
      const issued = lastSeen('/token').proof
      assert.ok(issued, 'the retry was refused')
      assert.equal(issued.jkt, jkt)
      assert.equal(issued.claims.nonce, tokenNonce)

      // Resource (RFC 9449 §9): the handle sends the nonce it holds for this origin, which the
      // resource does not accept: 401 with a WWW-Authenticate challenge and a fresh nonce.
      const challenge = await callApi(DPoP, token.access_token).then(
        () => assert.fail('the resource request with a foreign nonce was accepted'),
        (err: unknown) => err,
      )
      assert.ok(oauth.isDPoPNonceError(challenge), `not a nonce error: ${String(challenge)}`)
      assert.ok(challenge instanceof oauth.WWWAuthenticateChallengeError)
      assert.equal(challenge.status, 401)
      const apiNonce = challenge.response.headers.get('dpop-nonce')
      assert.ok(apiNonce && state.apiNonce.verify(apiNonce), 'no valid DPoP-Nonce header')
      assert.notEqual(apiNonce, tokenNonce)
      assert.equal(lastSeen('/api').reason, 'nonce_invalid')

      const response = await callApi(DPoP, token.access_token)
      assert.equal(response.status, 200)
      assert.equal(lastSeen('/api').proof?.claims.nonce, apiNonce)
      assert.deepEqual(state.unexpected, [])
    })

    test('a replayed proof and a proof by another key are refused', async () => {
      reset()
      const DPoP = oauth.DPoP(client, keyPair, c.options)
      // Capture the proof oauth4webapi sends, then send it again.
      let captured: Record<string, string> | undefined
      const as = authorizationServer()
      const response = await oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretPost(CLIENT_SECRET),
        {},
        {
          DPoP,
          ...insecure,
          [oauth.customFetch]: (url, options) => {
            captured = options.headers
            return fetch(url, options)
          },
        },
      )
      const token = await oauth.processClientCredentialsResponse(as, client, response)
      assert.ok(captured?.dpop)
      const replay = await fetch(`${state.origin}/token`, {
        method: 'POST',
        headers: captured,
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
        }),
      })
      assert.equal(replay.status, 400)
      assert.equal(((await replay.json()) as { error?: unknown }).error, 'invalid_dpop_proof')
      assert.equal(lastSeen('/token').reason, 'replayed_jti')

      // The token is bound to the first key: a proof by another key of the same type fails.
      const other = oauth.DPoP(client, await generateKeyPair(c.params), c.options)
      const error = await callApi(other, token.access_token).then(
        () => assert.fail('a proof by another key was accepted'),
        (err: unknown) => err,
      )
      assert.ok(error instanceof oauth.WWWAuthenticateChallengeError)
      assert.equal(oauth.isDPoPNonceError(error), false)
      assert.equal(error.cause[0]?.scheme, 'dpop')
      assert.equal(error.cause[0]?.parameters.error, 'invalid_dpop_proof')
      assert.equal(lastSeen('/api').reason, 'jkt_mismatch')
      assert.deepEqual(state.unexpected, [])
    })
  })
}
