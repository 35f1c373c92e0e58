/**
 * Mutual TLS at the authorization server (RFC 8705), over real TLS on loopback: the HTTPS
 * listener asks for client certificates made in this run by a throw-away CA, and the same
 * endpoints answer on both listeners.
 */
import assert from 'node:assert/strict'
import { hash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { epoch } from '../../src/server/context.js'
import { createCa, freePort, selfSigned, type TestCertificate } from '../helpers/certificates.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CALLBACK = 'https://app.example/callback'
const CC = ['client_credentials']

const dir = mkdtempSync(join(tmpdir(), 'keybound-mtls-'))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** The PKI of the test: the server's certificate, and a CA for client certificates. */
let serverCa: TestCertificate
let clientCa: TestCertificate
/** Client certificates, by name. */
const certs: Record<string, TestCertificate> = {}

const agents: Agent[] = []
/** An undici dispatcher that trusts the server and presents `cert` (or no certificate). */
function agentFor(cert?: TestCertificate): Agent {
  const agent = new Agent({
    connect: { ca: serverCa.pem, ...(cert ? { cert: cert.pem, key: cert.key } : {}) },
  })
  agents.push(agent)
  return agent
}

interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

async function post(
  url: string,
  fields: Record<string, string>,
  options: { cert?: TestCertificate; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await undiciFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    body: new URLSearchParams(fields).toString(),
    dispatcher: url.startsWith('https:') ? agentFor(options.cert) : undefined,
  })
  const text = await res.text()
  return {
    status: res.status,
    headers: res.headers as unknown as Headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  }
}

const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`

let t: TestServer
/** https://127.0.0.1:TLS_PORT: the mTLS aliases' base. */
let mtlsBase: string
let selfSignedCert: TestCertificate

before(async () => {
  serverCa = await createCa('CN=keybound test server CA')
  clientCa = await createCa('CN=keybound test client CA')
  const server = await serverCa.issue({
    subject: 'CN=localhost',
    dns: ['localhost'],
    ip: ['127.0.0.1'],
    server: true,
  })
  certs.dn = await clientCa.issue({ subject: 'O=keybound tests, CN=svc-dn' })
  certs.dns = await clientCa.issue({ subject: 'CN=svc', dns: ['svc.example.com'] })
  certs.uri = await clientCa.issue({ subject: 'CN=svc', uri: ['spiffe://keybound.test/svc'] })
  certs.ip = await clientCa.issue({ subject: 'CN=svc', ip: ['10.9.8.7'] })
  certs.email = await clientCa.issue({ subject: 'CN=svc', email: ['svc@example.com'] })
  certs.nobody = await clientCa.issue({
    subject: 'CN=nobody',
    dns: ['nobody.example.com'],
    uri: ['spiffe://keybound.test/nobody'],
    ip: ['10.9.8.6'],
    email: ['nobody@example.com'],
  })
  // Same names as certs.dn, but from a CA the server does not trust.
  certs.untrusted = await (await createCa('CN=rogue CA')).issue({
    subject: 'O=keybound tests, CN=svc-dn',
  })
  selfSignedCert = await selfSigned({ subject: 'CN=self-signed client' })
  const tlsPort = await freePort()
  mtlsBase = `https://127.0.0.1:${tlsPort}`
  const tlsClient = (client_id: string, name: string, value: string, extra = {}) => ({
    client_id,
    token_endpoint_auth_method: 'tls_client_auth',
    [name]: value,
    grant_types: CC,
    ...extra,
  })
  t = await startServer({
    tls: {
      port: tlsPort,
      cert: file('server.pem', server.pem),
      key: file('server.key', server.key),
      ca: file('client-ca.pem', clientCa.pem),
    },
    clients: [
      tlsClient('tls-dn', 'tls_client_auth_subject_dn', 'CN=svc-dn,O=keybound tests', {
        token_binding: 'mtls',
        access_token_format: 'reference',
      }),
      tlsClient('tls-dns', 'tls_client_auth_san_dns', 'svc.example.com'),
      tlsClient('tls-uri', 'tls_client_auth_san_uri', 'spiffe://keybound.test/svc'),
      tlsClient('tls-ip', 'tls_client_auth_san_ip', '10.9.8.7'),
      tlsClient('tls-email', 'tls_client_auth_san_email', 'svc@example.com'),
      {
        client_id: 'self-signed',
        token_endpoint_auth_method: 'self_signed_tls_client_auth',
        jwks: { keys: [selfSignedCert.jwk] },
        grant_types: CC,
        token_binding: 'mtls',
      },
      { client_id: 'secret-mtls', client_secret: SECRET, grant_types: CC, token_binding: 'mtls' },
      { client_id: 'secret', client_secret: SECRET, grant_types: CC },
      { client_id: 'rs', client_secret: SECRET, grant_types: CC, introspection: true },
      { client_id: 'dpop', client_secret: SECRET, grant_types: CC, token_binding: 'dpop' },
      {
        client_id: 'public-mtls',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [CALLBACK],
        token_binding: 'mtls',
      },
    ],
    registration: { enabled: true },
  })
})

after(async () => {
  await t?.close()
  await Promise.all(agents.map((agent) => agent.close()))
  rmSync(dir, { recursive: true, force: true })
})

const clientCredentials = (clientId: string, cert?: TestCertificate, base = mtlsBase) =>
  post(`${base}/token`, { grant_type: 'client_credentials', client_id: clientId }, { cert })

describe('metadata (RFC 8705 §3.3, §5)', () => {
  test('mtls_endpoint_aliases on the HTTPS listener, bound tokens, the certificate methods', async () => {
    const res = await fetch(`${t.issuer}/.well-known/oauth-authorization-server`)
    const metadata = (await res.json()) as Record<string, unknown>
    assert.deepEqual(metadata.mtls_endpoint_aliases, {
      token_endpoint: `${mtlsBase}/token`,
      pushed_authorization_request_endpoint: `${mtlsBase}/par`,
      introspection_endpoint: `${mtlsBase}/introspect`,
      revocation_endpoint: `${mtlsBase}/revoke`,
    })
    assert.equal(metadata.tls_client_certificate_bound_access_tokens, true)
    for (const name of [
      'token_endpoint_auth_methods_supported',
      'introspection_endpoint_auth_methods_supported',
      'revocation_endpoint_auth_methods_supported',
    ]) {
      const methods = metadata[name] as string[]
      assert.ok(methods.includes('tls_client_auth'), name)
      assert.ok(methods.includes('self_signed_tls_client_auth'), name)
    }
  })

  test('the same metadata is served on the HTTPS listener', async () => {
    const res = await undiciFetch(`${mtlsBase}/.well-known/oauth-authorization-server`, {
      dispatcher: agentFor(),
    })
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { issuer: string }).issuer, t.issuer)
  })
})

describe('tls_client_auth (RFC 8705 §2.1)', () => {
  for (const kind of ['dns', 'uri', 'ip', 'email'] as const) {
    test(`san_${kind}: the matching certificate authenticates; another does not`, async () => {
      const ok = await clientCredentials(`tls-${kind}`, certs[kind])
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      // token_binding "none": a bearer token, even with a certificate.
      assert.equal(ok.body.token_type, 'Bearer')
      assert.equal(decodeJwt(ok.body.access_token as string).cnf, undefined)
      const wrong = await clientCredentials(`tls-${kind}`, certs.nobody)
      assert.equal(wrong.status, 401)
      assert.equal(wrong.body.error, 'invalid_client')
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic /)
    })
  }

  test('subject_dn (RFC 4514): matches by name; the token is certificate-bound', async () => {
    const ok = await clientCredentials('tls-dn', certs.dn)
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(ok.body.token_type, 'Bearer')
    const wrong = await clientCredentials('tls-dn', certs.dns)
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.error, 'invalid_client')
  })

  test('a certificate with the right name from an untrusted CA is refused', async () => {
    const res = await clientCredentials('tls-dn', certs.untrusted)
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_client')
    assert.match(res.body.error_description as string, /trusted CA/)
  })

  test('without a certificate: invalid_client, on either listener', async () => {
    const none = await clientCredentials('tls-dns')
    assert.equal(none.status, 401)
    assert.equal(none.body.error, 'invalid_client')
    assert.match(none.body.error_description as string, /certificate is required/)
    const plain = await clientCredentials('tls-dns', undefined, t.issuer)
    assert.equal(plain.status, 401)
    assert.equal(plain.body.error, 'invalid_client')
  })

  test('a certificate client cannot authenticate with a secret instead', async () => {
    const res = await post(
      `${mtlsBase}/token`,
      { grant_type: 'client_credentials' },
      { cert: certs.dns, headers: { authorization: basic('tls-dns') } },
    )
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_client')
  })
})

describe('self_signed_tls_client_auth (RFC 8705 §2.2)', () => {
  test('a certificate of a key in the client’s jwks authenticates, and binds the token', async () => {
    const res = await clientCredentials('self-signed', selfSignedCert)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(decodeJwt(res.body.access_token as string).cnf, {
      'x5t#S256': certificateThumbprint(selfSignedCert.der),
    })
  })

  test('a fresh self-signed certificate of the same key works too', async () => {
    const fresh = await selfSignedCert.resign({ subject: 'CN=renewed' })
    const res = await clientCredentials('self-signed', fresh)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(decodeJwt(res.body.access_token as string).cnf, {
      'x5t#S256': certificateThumbprint(fresh.der),
    })
  })

  test('a self-signed certificate of a key not in the jwks is refused', async () => {
    const other = await selfSigned({ subject: 'CN=self-signed client' })
    const res = await clientCredentials('self-signed', other)
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_client')
  })

  test('a CA-issued certificate of another key is refused', async () => {
    const res = await clientCredentials('self-signed', certs.dns)
    assert.equal(res.status, 401)
  })
})

describe('certificate-bound access tokens (RFC 8705 §3)', () => {
  test('a secret client presenting an ephemeral self-signed certificate gets cnf.x5t#S256', async () => {
    const ephemeral = await selfSigned({ subject: 'CN=ephemeral' })
    const res = await post(
      `${mtlsBase}/token`,
      { grant_type: 'client_credentials' },
      { cert: ephemeral, headers: { authorization: basic('secret-mtls') } },
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    // RFC 8705 §3: still a bearer token, bound without a new token type.
    assert.equal(res.body.token_type, 'Bearer')
    const claims = decodeJwt(res.body.access_token as string)
    assert.deepEqual(claims.cnf, { 'x5t#S256': certificateThumbprint(ephemeral.der) })
    // The thumbprint is the SHA-256 of the DER (RFC 8705 §3.1).
    assert.equal(
      (claims.cnf as Record<string, string>)['x5t#S256'],
      hash('sha256', ephemeral.der, 'base64url'),
    )
  })

  test('a token_binding mtls client without a certificate is refused, on either listener', async () => {
    for (const base of [mtlsBase, t.issuer]) {
      const res = await post(
        `${base}/token`,
        { grant_type: 'client_credentials' },
        { headers: { authorization: basic('secret-mtls') } },
      )
      assert.equal(res.status, 400, base)
      assert.equal(res.body.error, 'invalid_request')
      assert.match(res.body.error_description as string, /client certificate is required/)
    }
  })

  test('a client with token_binding none gets a bearer token despite its certificate', async () => {
    const res = await post(
      `${mtlsBase}/token`,
      { grant_type: 'client_credentials' },
      { cert: certs.dns, headers: { authorization: basic('secret') } },
    )
    assert.equal(res.status, 200)
    assert.equal(decodeJwt(res.body.access_token as string).cnf, undefined)
  })

  test('introspection returns the cnf of a JWT and of a reference token (RFC 8705 §3.2)', async () => {
    const ephemeral = await selfSigned({ subject: 'CN=ephemeral' })
    const jwt = await post(
      `${mtlsBase}/token`,
      { grant_type: 'client_credentials' },
      { cert: ephemeral, headers: { authorization: basic('secret-mtls') } },
    )
    const reference = await clientCredentials('tls-dn', certs.dn)
    assert.equal(reference.status, 200)
    assert.equal((reference.body.access_token as string).split('.').length, 1)
    for (const [token, cert] of [
      [jwt.body.access_token, ephemeral],
      [reference.body.access_token, certs.dn],
    ] as const) {
      const res = await post(
        `${t.issuer}/introspect`,
        { token: token as string },
        { headers: { authorization: basic('rs') } },
      )
      assert.equal(res.status, 200)
      assert.equal(res.body.active, true)
      assert.equal(res.body.token_type, 'Bearer')
      assert.deepEqual(res.body.cnf, {
        'x5t#S256': certificateThumbprint((cert as TestCertificate).der),
      })
    }
  })

  test('introspection on the alias, authenticated with tls_client_auth', async () => {
    const token = await clientCredentials('tls-dns', certs.dns)
    const res = await post(
      `${mtlsBase}/introspect`,
      { client_id: 'tls-dns', token: token.body.access_token as string },
      { cert: certs.dns },
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.active, true)
  })
})

describe('DPoP and the aliases', () => {
  test('a proof sent to the alias names the alias as htu', async () => {
    const key = await generateKeyPair('ES256')
    const send = async (htu: string) =>
      post(
        `${mtlsBase}/token`,
        { grant_type: 'client_credentials' },
        {
          cert: certs.dns,
          headers: {
            authorization: basic('dpop'),
            dpop: await createProof({ key, htm: 'POST', htu }),
          },
        },
      )
    const ok = await send(`${mtlsBase}/token`)
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(ok.body.token_type, 'DPoP')
    // A token has one binding: for a dpop client the proof wins over the certificate.
    assert.ok((decodeJwt(ok.body.access_token as string).cnf as { jkt?: string }).jkt)
    const wrong = await send(`${t.issuer}/token`)
    assert.equal(wrong.status, 400)
    assert.equal(wrong.body.error, 'invalid_dpop_proof')
  })
})

describe('refresh tokens of public clients are bound to the certificate (RFC 8705 §4)', () => {
  /** A code for `public-mtls`, put in the store as /authorize would. */
  async function code(): Promise<{ code: string; verifier: string }> {
    const value = randomBytes(32).toString('base64url')
    const verifier = randomBytes(32).toString('base64url')
    await t.server.context.store.insertCode({
      id: hash('sha256', value, 'base64url'),
      grant_id: randomUUID(),
      client_id: 'public-mtls',
      sub: 'alice',
      redirect_uri: CALLBACK,
      scope: 'read',
      code_challenge: hash('sha256', verifier, 'base64url'),
      code_challenge_method: 'S256',
      dpop_jkt: null,
      auth_time: epoch(),
      expires_at: epoch() + 60,
      consumed_at: null,
    })
    return { code: value, verifier }
  }

  test('refreshing with another certificate or none is invalid_grant; with it, a new bound token', async () => {
    const mine = await selfSigned({ subject: 'CN=public app' })
    const theirs = await selfSigned({ subject: 'CN=public app' })
    const { code: value, verifier } = await code()
    const tokens = await post(
      `${mtlsBase}/token`,
      {
        grant_type: 'authorization_code',
        client_id: 'public-mtls',
        code: value,
        redirect_uri: CALLBACK,
        code_verifier: verifier,
      },
      { cert: mine },
    )
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body))
    const x5t = certificateThumbprint(mine.der)
    assert.deepEqual(decodeJwt(tokens.body.access_token as string).cnf, { 'x5t#S256': x5t })
    const stored = await t.server.context.store.getRefreshToken(
      hash('sha256', tokens.body.refresh_token as string, 'base64url'),
    )
    assert.deepEqual(stored?.cnf, { 'x5t#S256': x5t })

    const refresh = (cert?: TestCertificate, base = mtlsBase) =>
      post(
        `${base}/token`,
        {
          grant_type: 'refresh_token',
          client_id: 'public-mtls',
          refresh_token: tokens.body.refresh_token as string,
        },
        { cert },
      )
    for (const attempt of [
      await refresh(theirs),
      await refresh(),
      await refresh(undefined, t.issuer),
    ]) {
      assert.equal(attempt.status, 400)
      assert.equal(attempt.body.error, 'invalid_grant')
    }
    // The failed attempts did not spend the refresh token.
    const ok = await refresh(mine)
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.deepEqual(decodeJwt(ok.body.access_token as string).cnf, { 'x5t#S256': x5t })
  })
})

describe('registration (RFC 7591 with RFC 8705 §2.1.2, §3.4)', () => {
  const register = (metadata: Record<string, unknown>) =>
    fetch(`${t.issuer}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(metadata),
    })

  test('a tls_client_auth client registers with one name, then authenticates', async () => {
    const res = await register({
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_dns: 'svc.example.com',
      grant_types: CC,
      tls_client_certificate_bound_access_tokens: true,
    })
    assert.equal(res.status, 201)
    const info = (await res.json()) as Record<string, unknown>
    assert.equal(info.client_secret, undefined)
    assert.equal(info.token_binding, 'mtls')
    assert.equal(info.tls_client_certificate_bound_access_tokens, true)
    assert.equal(info.tls_client_auth_san_dns, 'svc.example.com')
    const token = await clientCredentials(info.client_id as string, certs.dns)
    assert.equal(token.status, 200, JSON.stringify(token.body))
    assert.deepEqual(decodeJwt(token.body.access_token as string).cnf, {
      'x5t#S256': certificateThumbprint(certs.dns.der),
    })
  })

  test('tls_client_auth with no name, or two, or a malformed one, is invalid_client_metadata', async () => {
    for (const metadata of [
      { token_endpoint_auth_method: 'tls_client_auth', grant_types: CC },
      {
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_san_dns: 'a.example',
        tls_client_auth_san_uri: 'https://a.example',
        grant_types: CC,
      },
      {
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: 'not a DN',
        grant_types: CC,
      },
      {
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_san_ip: '10.0.0.300',
        grant_types: CC,
      },
      { token_endpoint_auth_method: 'self_signed_tls_client_auth', grant_types: CC },
    ]) {
      const res = await register(metadata)
      assert.equal(res.status, 400, JSON.stringify(metadata))
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_client_metadata')
    }
  })
})
