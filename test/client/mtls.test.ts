/**
 * The client side of mutual TLS (RFC 8705), over real TLS on loopback: certificates made by
 * `createClientCertificate`, certificate-bound tokens from a real keybound authorization server
 * through `createMtlsTokenSource` (its HTTPS listener, found by `mtls_endpoint_aliases`, §5), and
 * an API on node:https protected by keybound's verifier that accepts them only over a
 * connection made with their certificate (§3).
 */
import assert from 'node:assert/strict'
import { createHash, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import {
  AuthorizationServerError,
  createClientCertificate,
  createMtlsTokenSource,
  type MtlsTokenSource,
  mtlsAgent,
  mtlsFetch,
  type SelfSignedCertificate,
  UnexpectedResponseError,
} from '../../src/client/node.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'
import { protect } from '../../src/resource/adapters/node-http.js'
import { createVerifier } from '../../src/resource/verifier.js'
import { createCa, freePort, type TestCertificate } from '../helpers/certificates.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CC = ['client_credentials']
/** The API's resource identifier (RFC 8707), the `aud` of its tokens. */
const API = 'https://orders.api.test'
const DPOP_ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 EdDSA'

const dir = mkdtempSync(join(tmpdir(), 'keybound-client-mtls-'))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

let t: TestServer
/** https://127.0.0.1:TLS_PORT, the aliases' base. */
let mtlsBase: string
let serverCa: TestCertificate
let serverCert: TestCertificate
/** A certificate of a CA the authorization server trusts, for tls_client_auth. */
let pkiCert: TestCertificate
/** The ephemeral certificate registered by its key for self_signed_tls_client_auth. */
let registered: SelfSignedCertificate

const closers: Array<() => Promise<void>> = []
/** Closed after the tests: sources and dispatchers. */
function track<T extends { close(): Promise<void> }>(value: T): T {
  closers.push(() => value.close())
  return value
}

/** The base64url SHA-256 of a PEM certificate's DER, computed here, independently. */
const sha256OfDer = (pem: string) =>
  createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url')

interface Exchange {
  method: string
  url: string
  dispatcher: unknown
  body: string | undefined
  authorization: string | null
  status: number
  answer: Record<string, unknown>
}

/**
 * Records every call of the global `fetch` (which `mtlsFetch` sends with) during `run`: what was
 * sent, through which dispatcher, and the JSON answer.
 */
async function recordingFetch<T>(run: () => Promise<T>): Promise<{ result: T; log: Exchange[] }> {
  const original = globalThis.fetch
  const log: Exchange[] = []
  globalThis.fetch = async (input, init) => {
    const response = await original(input, init)
    log.push({
      method: init?.method ?? 'GET',
      url: String(input),
      dispatcher: (init as { dispatcher?: unknown } | undefined)?.dispatcher,
      body: init?.body === undefined ? undefined : String(init.body),
      authorization: new Headers(init?.headers).get('authorization'),
      status: response.status,
      answer: (await response.clone().json()) as Record<string, unknown>,
    })
    return response
  }
  try {
    return { result: await run(), log }
  } finally {
    globalThis.fetch = original
  }
}

async function introspect(token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${t.issuer}/introspect`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`rs:${SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  })
  assert.equal(res.status, 200)
  return (await res.json()) as Record<string, unknown>
}

before(async () => {
  serverCa = await createCa('CN=client mtls server CA')
  const clientCa = await createCa('CN=client mtls client CA')
  serverCert = await serverCa.issue({ subject: 'CN=localhost', ip: ['127.0.0.1'], server: true })
  pkiCert = await clientCa.issue({ subject: 'O=keybound tests, CN=billing' })
  registered = await createClientCertificate({ subject: 'CN=edge-device' })
  const tlsPort = await freePort()
  mtlsBase = `https://127.0.0.1:${tlsPort}`
  t = await startServer({
    tls: {
      port: tlsPort,
      cert: file('server.pem', serverCert.pem),
      key: file('server.key', serverCert.key),
      ca: file('client-ca.pem', clientCa.pem),
    },
    clients: [
      {
        client_id: 'edge',
        token_endpoint_auth_method: 'self_signed_tls_client_auth',
        jwks: { keys: [registered.publicJwk] },
        grant_types: CC,
        token_binding: 'mtls',
        scope: 'read write',
      },
      {
        client_id: 'billing',
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: 'CN=billing,O=keybound tests',
        grant_types: CC,
        token_binding: 'mtls',
      },
      { client_id: 'worker', client_secret: SECRET, grant_types: CC, token_binding: 'mtls' },
      {
        client_id: 'worker-post',
        client_secret: SECRET,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: CC,
        token_binding: 'mtls',
      },
      // No binding asked for: a certificate does not bind its tokens (no alwaysEmitConfirmation).
      { client_id: 'unbound', client_secret: SECRET, grant_types: CC },
      { client_id: 'rs', client_secret: SECRET, grant_types: CC, introspection: true },
    ],
  })
})

after(async () => {
  for (const close of closers) await close()
  await t?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('createMtlsTokenSource against keybound', () => {
  test('(a) self_signed_tls_client_auth with an ephemeral certificate: metadata, then the alias', async () => {
    const agent = track(mtlsAgent({ ...registered, ca: serverCa.pem }))
    const source = createMtlsTokenSource({
      issuer: t.issuer,
      clientId: 'edge',
      clientAuthentication: 'self_signed_tls_client_auth',
      grant: 'client_credentials',
      scope: 'read',
      mtls: { cert: registered.cert, dispatcher: agent },
    })
    const { result: token, log } = await recordingFetch(() => source.getAccessToken())
    const [metadata, exchange] = log
    assert.equal(log.length, 2)
    assert.deepEqual(
      { ...metadata, answer: undefined },
      {
        method: 'GET',
        url: `${t.issuer}/.well-known/oauth-authorization-server`,
        dispatcher: agent,
        body: undefined,
        authorization: null,
        status: 200,
        answer: undefined,
      },
    )
    assert.deepEqual(metadata?.answer.mtls_endpoint_aliases, {
      token_endpoint: `${mtlsBase}/token`,
      pushed_authorization_request_endpoint: `${mtlsBase}/par`,
      introspection_endpoint: `${mtlsBase}/introspect`,
      revocation_endpoint: `${mtlsBase}/revoke`,
    })
    // RFC 8705 §5: the alias; §2: only client_id in the body, no Authorization header.
    assert.deepEqual(
      { ...exchange, answer: undefined },
      {
        method: 'POST',
        url: `${mtlsBase}/token`,
        dispatcher: agent,
        body: 'grant_type=client_credentials&scope=read&client_id=edge',
        authorization: null,
        status: 200,
        answer: undefined,
      },
    )
    assert.equal(exchange?.answer.token_type, 'Bearer')
    assert.equal(exchange?.answer.access_token, token)
    assert.equal(exchange?.answer.scope, 'read')

    // The thumbprint by three definitions: the source's, the server's, and SHA-256 of the DER.
    assert.equal(source.thumbprint, registered.thumbprint)
    assert.equal(registered.thumbprint, sha256OfDer(registered.cert))
    assert.equal(registered.thumbprint, certificateThumbprint(new X509Certificate(registered.cert)))
    const claims = decodeJwt(token)
    assert.deepEqual(claims.cnf, { 'x5t#S256': registered.thumbprint })
    assert.equal(claims.client_id, 'edge')
    const introspection = await introspect(token)
    assert.equal(introspection.active, true)
    assert.equal(introspection.token_type, 'Bearer')
    assert.deepEqual(introspection.cnf, { 'x5t#S256': registered.thumbprint })

    // Kept: the next call sends nothing; after invalidate, only the token request is sent again.
    const again = await recordingFetch(async () => {
      assert.equal(await source.getAccessToken(), token)
      source.invalidate(token)
      return source.getAccessToken()
    })
    assert.notEqual(again.result, token)
    assert.deepEqual(
      again.log.map((entry) => `${entry.method} ${entry.url}`),
      [`POST ${mtlsBase}/token`],
    )
    // A given dispatcher is the caller's to close.
    await source.close()
    assert.equal(agent.closed, false)
  })

  test('tls_client_auth (the default without a secret) with a CA-issued certificate', async () => {
    const source = track(
      createMtlsTokenSource({
        issuer: t.issuer,
        clientId: 'billing',
        grant: 'client_credentials',
        mtls: { cert: pkiCert.pem, key: pkiCert.key, ca: serverCa.pem },
      }),
    )
    const token = await source.getAccessToken()
    assert.deepEqual(decodeJwt(token).cnf, { 'x5t#S256': sha256OfDer(pkiCert.pem) })
  })

  for (const clientId of ['worker', 'worker-post']) {
    test(`(b) a secret client (${clientId}, token_binding mtls) presenting an ephemeral certificate`, async () => {
      const ephemeral = await createClientCertificate({ subject: `CN=${clientId}`, alg: 'EdDSA' })
      const source = track(
        createMtlsTokenSource({
          issuer: t.issuer,
          clientId,
          clientSecret: SECRET,
          ...(clientId === 'worker-post' ? { clientAuthentication: 'client_secret_post' } : {}),
          grant: 'client_credentials',
          mtls: { ...ephemeral, ca: serverCa.pem },
        }),
      )
      const token = await source.getAccessToken()
      assert.equal(source.thumbprint, sha256OfDer(ephemeral.cert))
      assert.deepEqual(decodeJwt(token).cnf, { 'x5t#S256': source.thumbprint })
      const introspection = await introspect(token)
      assert.equal(introspection.client_id, clientId)
      assert.equal(introspection.token_type, 'Bearer')
      assert.deepEqual(introspection.cnf, { 'x5t#S256': source.thumbprint })
    })
  }

  test('a wrong secret is the server refusal, as AuthorizationServerError', async () => {
    const source = track(
      createMtlsTokenSource({
        issuer: t.issuer,
        clientId: 'worker',
        clientSecret: 'not-the-secret-0123456789-abcdefgh',
        grant: 'client_credentials',
        mtls: { ...(await createClientCertificate()), ca: serverCa.pem },
      }),
    )
    await assert.rejects(source.getAccessToken(), (err) => {
      assert.ok(err instanceof AuthorizationServerError)
      assert.equal(err.status, 401)
      assert.equal(err.error, 'invalid_client')
      return true
    })
  })

  test('self_signed_tls_client_auth with a certificate of a key not in the jwks: invalid_client', async () => {
    const stranger = await createClientCertificate({ subject: 'CN=edge-device' })
    const source = track(
      createMtlsTokenSource({
        issuer: t.issuer,
        clientId: 'edge',
        clientAuthentication: 'self_signed_tls_client_auth',
        grant: 'client_credentials',
        mtls: { ...stranger, ca: serverCa.pem },
      }),
    )
    await assert.rejects(source.getAccessToken(), (err) => {
      assert.ok(err instanceof AuthorizationServerError)
      assert.equal(err.status, 401)
      assert.equal(err.error, 'invalid_client')
      return true
    })
  })

  test('a fresh certificate of the registered key passes self_signed_tls_client_auth', async () => {
    const renewed = await createClientCertificate({
      subject: 'CN=edge-device',
      privateKey: registered.key,
    })
    assert.notEqual(renewed.thumbprint, registered.thumbprint)
    assert.deepEqual(renewed.publicJwk, registered.publicJwk)
    const source = track(
      createMtlsTokenSource({
        issuer: t.issuer,
        clientId: 'edge',
        grant: 'client_credentials',
        mtls: { ...renewed, ca: serverCa.pem },
      }),
    )
    assert.deepEqual(decodeJwt(await source.getAccessToken()).cnf, {
      'x5t#S256': renewed.thumbprint,
    })
  })
})

describe('(d) answers the mTLS token source refuses', () => {
  test('a token bound to another certificate than the one named (x5t_mismatch)', async () => {
    const presented = await createClientCertificate({ subject: 'CN=presented' })
    const named = await createClientCertificate({ subject: 'CN=named' })
    const agent = track(mtlsAgent({ ...presented, ca: serverCa.pem }))
    const source = createMtlsTokenSource({
      issuer: t.issuer,
      clientId: 'worker',
      clientSecret: SECRET,
      grant: 'client_credentials',
      mtls: { cert: named.cert, dispatcher: agent },
    })
    await assert.rejects(source.getAccessToken(), (err) => {
      assert.ok(err instanceof UnexpectedResponseError)
      assert.equal(err.reason, 'x5t_mismatch')
      assert.equal(err.status, 200)
      assert.equal(
        err.message,
        `the access token is bound to the certificate ${presented.thumbprint}, not to the one presented (${named.thumbprint})`,
      )
      return true
    })
  })

  test('an unbound token (not_certificate_bound)', async () => {
    const source = track(
      createMtlsTokenSource({
        issuer: t.issuer,
        clientId: 'unbound',
        clientSecret: SECRET,
        grant: 'client_credentials',
        mtls: { ...(await createClientCertificate()), ca: serverCa.pem },
      }),
    )
    await assert.rejects(source.getAccessToken(), (err) => {
      assert.ok(err instanceof UnexpectedResponseError)
      assert.equal(err.reason, 'not_certificate_bound')
      return true
    })
  })

  describe('from a fake token endpoint', () => {
    let fake: Server
    let fakeUrl: string
    let answer: Record<string, unknown> = {}
    const forms: string[] = []
    const ephemeral = createClientCertificate({ subject: 'CN=fake-client' })

    before(async () => {
      fake = createHttpsServer(
        { cert: serverCert.pem, key: serverCert.key, requestCert: true, rejectUnauthorized: false },
        (req, res) => {
          let body = ''
          req.on('data', (chunk: Buffer) => {
            body += chunk
          })
          req.on('end', () => {
            forms.push(body)
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
          })
        },
      )
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
      fakeUrl = `https://127.0.0.1:${(fake.address() as AddressInfo).port}/token`
    })
    after(async () => {
      fake.closeAllConnections()
      await new Promise((resolve) => fake.close(resolve))
    })

    const jwt = (claims: Record<string, unknown>) =>
      [{ alg: 'ES256', typ: 'at+jwt' }, claims, 'sig']
        .map((part) => Buffer.from(typeof part === 'string' ? part : JSON.stringify(part)))
        .map((bytes) => bytes.toString('base64url'))
        .join('.')

    const source = async (grant: 'client_credentials' | 'refresh_token' = 'client_credentials') =>
      track(
        createMtlsTokenSource({
          tokenEndpoint: fakeUrl,
          clientId: 'fake',
          grant,
          ...(grant === 'refresh_token' ? { refreshToken: 'rt-1' } : {}),
          mtls: { ...(await ephemeral), ca: serverCa.pem },
        }),
      )

    test('token_type DPoP (token_type_not_bearer)', async () => {
      answer = { access_token: 'opaque-token', token_type: 'DPoP', expires_in: 60 }
      await assert.rejects((await source()).getAccessToken(), (err) => {
        assert.ok(err instanceof UnexpectedResponseError)
        assert.equal(err.reason, 'token_type_not_bearer')
        return true
      })
    })

    test('a JWT whose cnf is a jkt (DPoP), not an x5t#S256', async () => {
      answer = { access_token: jwt({ cnf: { jkt: 'abc' } }), token_type: 'Bearer' }
      await assert.rejects((await source()).getAccessToken(), (err) => {
        assert.ok(err instanceof UnexpectedResponseError)
        assert.equal(err.reason, 'not_certificate_bound')
        return true
      })
    })

    test('the rotated refresh token is kept even when the access token is refused', async () => {
      answer = {
        access_token: jwt({ cnf: { 'x5t#S256': 'another-certificate' } }),
        token_type: 'Bearer',
        refresh_token: 'rt-2',
      }
      const refreshing = await source('refresh_token')
      forms.length = 0
      await assert.rejects(refreshing.getAccessToken(), (err) => {
        assert.ok(err instanceof UnexpectedResponseError)
        assert.equal(err.reason, 'x5t_mismatch')
        return true
      })
      assert.deepEqual(forms, ['grant_type=refresh_token&refresh_token=rt-1&client_id=fake'])
      // The server spent rt-1 when it rotated it: rt-2 is the one to use next.
      assert.equal(refreshing.refreshToken, 'rt-2')
    })

    test('an opaque Bearer token cannot be checked, and is accepted; bearer compared case-insensitively', async () => {
      answer = { access_token: 'opaque-token', token_type: 'bearer', expires_in: 60 }
      assert.equal(await (await source()).getAccessToken(), 'opaque-token')
      const bound = jwt({ cnf: { 'x5t#S256': (await ephemeral).thumbprint } })
      answer = { access_token: bound, token_type: 'Bearer' }
      assert.equal(await (await source()).getAccessToken(), bound)
    })
  })
})

describe('(c) calling an API that accepts certificate-bound tokens', () => {
  let api: Server
  let apiUrl: string
  let certificate: SelfSignedCertificate
  let source: MtlsTokenSource
  let token: string

  before(async () => {
    const verifier = createVerifier({
      issuer: t.issuer,
      audience: API,
      replayCache: createMemoryReplayCache(),
      allowBearer: false,
    })
    api = createHttpsServer(
      { cert: serverCert.pem, key: serverCert.key, requestCert: true, rejectUnauthorized: false },
      protect(verifier, (req, res) => {
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({
            binding: req.keybound.binding,
            clientId: req.keybound.clientId,
            scopes: req.keybound.scopes,
          }),
        )
      }),
    )
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
    apiUrl = `https://127.0.0.1:${(api.address() as AddressInfo).port}/orders?status=open`
    certificate = await createClientCertificate({ subject: 'CN=worker' })
    source = track(
      createMtlsTokenSource({
        issuer: t.issuer,
        clientId: 'worker',
        clientSecret: SECRET,
        grant: 'client_credentials',
        scope: 'read',
        resource: API,
        mtls: { ...certificate, ca: serverCa.pem },
      }),
    )
    token = await source.getAccessToken()
  })
  after(async () => {
    api.closeAllConnections()
    await new Promise((resolve) => api.close(resolve))
  })

  const refusal = 'the access token is bound to another certificate'
  const missing = 'the access token requires the client certificate it is bound to'

  test('with the same certificate (the source fetch, a bearer token): 200', async () => {
    assert.deepEqual(decodeJwt(token).aud, API)
    const res = await source.fetch(apiUrl, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('www-authenticate'), null)
    assert.deepEqual(await res.json(), { binding: 'mtls', clientId: 'worker', scopes: ['read'] })
  })

  test('with the same certificate through a new mtlsFetch, and a Request object: 200', async () => {
    const send = mtlsFetch({ ...certificate, ca: serverCa.pem })
    track(send.dispatcher)
    const res = await send(new Request(apiUrl, { headers: { authorization: `Bearer ${token}` } }))
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { binding: 'mtls', clientId: 'worker', scopes: ['read'] })
  })

  test('with another certificate: 401 invalid_token', async () => {
    const other = await createClientCertificate({ subject: 'CN=worker' })
    const send = mtlsFetch({ ...other, ca: serverCa.pem })
    track(send.dispatcher)
    const res = await send(apiUrl, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 401)
    assert.equal(
      res.headers.get('www-authenticate'),
      `Bearer error="invalid_token", error_description="${refusal}", DPoP algs="${DPOP_ALGS}"`,
    )
    assert.deepEqual(await res.json(), { error: 'invalid_token', error_description: refusal })
  })

  test('with no certificate: 401 invalid_token', async () => {
    const agent = track(new Agent({ connect: { ca: serverCa.pem } }))
    const res = await undiciFetch(apiUrl, {
      headers: { authorization: `Bearer ${token}` },
      dispatcher: agent,
    })
    assert.equal(res.status, 401)
    assert.equal(
      res.headers.get('www-authenticate'),
      `Bearer error="invalid_token", error_description="${missing}", DPoP algs="${DPOP_ALGS}"`,
    )
    assert.deepEqual(await res.json(), { error: 'invalid_token', error_description: missing })
  })
})
