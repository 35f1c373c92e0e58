/**
 * Mutual TLS behind a TLS-terminating proxy (RFC 8705 with RFC 9440 and its predecessors): the
 * proxy forwards the client certificate in a header, believed only from the peers in
 * `trustProxy`. The "proxy" here is a request from 127.0.0.2 (trusted); a request from
 * 127.0.0.1 is a client reaching the server directly (not trusted). Also
 * `mtls.alwaysEmitConfirmation`, with every way a client can authenticate.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, hash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { createProof } from '../../src/bindings/dpop/proof.js'
import {
  CERTIFICATE_HEADER_FORMATS,
  type CertificateHeaderFormat,
  DEFAULT_CERTIFICATE_HEADERS,
} from '../../src/bindings/mtls/certificate-header.js'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import { parseConfig } from '../../src/config/index.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { signCompact } from '../../src/jose/sign.js'
import { epoch } from '../../src/server/context.js'
import { type AuthorizationServer, createAuthorizationServer } from '../../src/server/server.js'
import { createCa, freePort, selfSigned, type TestCertificate } from '../helpers/certificates.js'
import { startServer, type TestServer, testDatabase } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CC = ['client_credentials']
const PROXY = '127.0.0.2'
const DIRECT = '127.0.0.1'
const CALLBACK = 'https://app.example/callback'

const dir = mkdtempSync(join(tmpdir(), 'keybound-mtls-proxy-'))
let clientCa: TestCertificate
let caFile: string
let leaf: TestCertificate

before(async () => {
  clientCa = await createCa('CN=proxy test client CA')
  caFile = join(dir, 'client-ca.pem')
  writeFileSync(caFile, clientCa.pem)
  leaf = await clientCa.issue({ subject: 'CN=svc', dns: ['svc.example.com'] })
})
after(() => rmSync(dir, { recursive: true, force: true }))

/** What each proxy writes for a certificate (see the binding's tests for the formats). */
function headerValue(format: CertificateHeaderFormat, cert: TestCertificate): string {
  const b64 = cert.der.toString('base64')
  switch (format) {
    case 'rfc9440':
      return `:${b64}:`
    case 'nginx':
      return encodeURIComponent(cert.pem)
    case 'apache':
      return cert.pem.trim().replace(/\n/g, ' ')
    case 'envoy':
      return `By=spiffe://proxy;Hash=00;Cert="${encodeURIComponent(cert.pem)}";Subject="CN=svc"`
    case 'traefik':
      return encodeURIComponent(b64)
    case 'iis':
    case 'haproxy':
      return b64
  }
}

interface Answer {
  status: number
  body: Record<string, unknown>
}

/** A form POST to `url`, from the loopback address `from`. */
function post(
  url: string,
  fields: Record<string, string>,
  headers: Record<string, string>,
  from: string,
): Promise<Answer> {
  const body = new URLSearchParams(fields).toString()
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(Buffer.byteLength(body)),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`
const x5tOf = (answer: Answer) =>
  (decodeJwt(answer.body.access_token as string).cnf as Record<string, string> | undefined)?.[
    'x5t#S256'
  ]

const proxyClients = [
  {
    client_id: 'tls',
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_san_dns: 'svc.example.com',
    grant_types: CC,
    token_binding: 'mtls',
  },
  { client_id: 'secret-mtls', client_secret: SECRET, grant_types: CC, token_binding: 'mtls' },
]

describe('each header format, from a trusted proxy', () => {
  for (const format of CERTIFICATE_HEADER_FORMATS) {
    describe(format, () => {
      let t: TestServer
      before(async () => {
        t = await startServer({
          trustProxy: [PROXY],
          mtls: { certificateHeader: { format, ca: caFile } },
          clients: proxyClients,
        })
      })
      after(() => t.close())

      test('tls_client_auth with the forwarded certificate; the token is bound to it', async () => {
        const res = await post(
          `${t.issuer}/token`,
          { grant_type: 'client_credentials', client_id: 'tls' },
          { [DEFAULT_CERTIFICATE_HEADERS[format]]: headerValue(format, leaf) },
          PROXY,
        )
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.equal(x5tOf(res), certificateThumbprint(leaf.der))
      })
    })
  }
})

describe('trusted and untrusted peers (nginx)', () => {
  let server: AuthorizationServer
  let issuer: string
  let drop: () => Promise<void>
  const logs: Record<string, unknown>[] = []
  const header = { 'x-ssl-client-cert': '' }

  before(async () => {
    header['x-ssl-client-cert'] = encodeURIComponent(leaf.pem)
    const db = await testDatabase()
    drop = db.drop
    const port = await freePort()
    issuer = `http://127.0.0.1:${port}`
    const { config } = parseConfig({
      issuer,
      port,
      database: db.url,
      trustProxy: [PROXY],
      mtls: { certificateHeader: { format: 'nginx', ca: caFile } },
      clients: proxyClients,
    })
    const stream = new PassThrough()
    stream.on('data', (line: Buffer) => logs.push(JSON.parse(line.toString('utf8'))))
    server = await createAuthorizationServer(config, { logger: { level: 'warn', stream } })
    await server.listen()
  })
  after(async () => {
    await server.close()
    await drop()
  })

  test('from the trusted proxy, the header is the client certificate', async () => {
    const res = await post(
      `${issuer}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('secret-mtls'), ...header },
      PROXY,
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(x5tOf(res), certificateThumbprint(leaf.der))
  })

  test('from anyone else, the header is ignored, and a warning logged', async () => {
    logs.length = 0
    const res = await post(
      `${issuer}/token`,
      { grant_type: 'client_credentials', client_id: 'tls' },
      header,
      DIRECT,
    )
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_client')
    const bound = await post(
      `${issuer}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('secret-mtls'), ...header },
      DIRECT,
    )
    assert.equal(bound.status, 400)
    assert.equal(bound.body.error, 'invalid_request')
    const warnings = logs.filter((entry) => /not a trusted proxy/.test(String(entry.msg)))
    assert.equal(warnings.length, 2)
    assert.equal(warnings[0]?.header, 'x-ssl-client-cert')
    assert.equal(warnings[0]?.remoteAddress, DIRECT)
  })

  test('a malformed certificate from the trusted proxy is invalid_request, not a 500', async () => {
    const res = await post(
      `${issuer}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('secret-mtls'), 'x-ssl-client-cert': 'not%20a%20certificate' },
      PROXY,
    )
    assert.equal(res.status, 400)
    assert.equal(res.body.error, 'invalid_request')
    assert.match(res.body.error_description as string, /forwarded client certificate/)
  })

  test('from the trusted proxy without the header: no certificate', async () => {
    const res = await post(
      `${issuer}/token`,
      { grant_type: 'client_credentials', client_id: 'tls' },
      {},
      PROXY,
    )
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_client')
  })

  test('a certificate of another CA does not pass tls_client_auth (checked again after the proxy)', async () => {
    const rogue = await (await createCa('CN=rogue')).issue({
      subject: 'CN=svc',
      dns: ['svc.example.com'],
    })
    const res = await post(
      `${issuer}/token`,
      { grant_type: 'client_credentials', client_id: 'tls' },
      { 'x-ssl-client-cert': encodeURIComponent(rogue.pem) },
      PROXY,
    )
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_client')
  })
})

describe('mtls.alwaysEmitConfirmation: any authentication, a certificate, a bound token', () => {
  let t: TestServer
  const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = { ...signer.publicKey.export({ format: 'jwk' }), alg: 'ES256', kid: 'k1' }
  let cert: TestCertificate

  before(async () => {
    cert = await selfSigned({ subject: 'CN=ephemeral' })
    t = await startServer({
      trustProxy: [PROXY],
      mtls: { alwaysEmitConfirmation: true, certificateHeader: { format: 'rfc9440' } },
      clients: [
        { client_id: 'secret', client_secret: SECRET, grant_types: CC },
        {
          client_id: 'jwt',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [jwk] },
          grant_types: CC,
        },
        {
          client_id: 'public',
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          redirect_uris: [CALLBACK],
        },
      ],
    })
  })
  after(() => t.close())

  const clientCert = () => ({ 'client-cert': `:${cert.der.toString('base64')}:` })

  test('client_secret_basic', async () => {
    const res = await post(
      `${t.issuer}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('secret'), ...clientCert() },
      PROXY,
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.token_type, 'Bearer')
    assert.equal(x5tOf(res), certificateThumbprint(cert.der))
    // Without a certificate: a bearer token, as before.
    const bearer = await post(
      `${t.issuer}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('secret') },
      PROXY,
    )
    assert.equal(bearer.status, 200)
    assert.equal(x5tOf(bearer), undefined)
  })

  test('private_key_jwt', async () => {
    const now = epoch()
    const assertion = signCompact(
      'ES256',
      signer.privateKey,
      { kid: 'k1' },
      { iss: 'jwt', sub: 'jwt', aud: `${t.issuer}/token`, exp: now + 60, jti: randomUUID() },
    )
    const res = await post(
      `${t.issuer}/token`,
      {
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      },
      clientCert(),
      PROXY,
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(x5tOf(res), certificateThumbprint(cert.der))
  })

  async function code(): Promise<{ code: string; verifier: string }> {
    const value = randomBytes(32).toString('base64url')
    const verifier = randomBytes(32).toString('base64url')
    await t.server.context.store.insertCode({
      id: hash('sha256', value, 'base64url'),
      grant_id: randomUUID(),
      client_id: 'public',
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

  const redeem = async (headers: Record<string, string>) => {
    const { code: value, verifier } = await code()
    return post(
      `${t.issuer}/token`,
      {
        grant_type: 'authorization_code',
        client_id: 'public',
        code: value,
        redirect_uri: CALLBACK,
        code_verifier: verifier,
      },
      headers,
      PROXY,
    )
  }

  test('none (a public client): the access and refresh tokens are bound to the certificate', async () => {
    const res = await redeem(clientCert())
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(x5tOf(res), certificateThumbprint(cert.der))
    const stored = await t.server.context.store.getRefreshToken(
      hash('sha256', res.body.refresh_token as string, 'base64url'),
    )
    assert.deepEqual(stored?.cnf, { 'x5t#S256': certificateThumbprint(cert.der) })
  })

  test('none with a DPoP proof and a certificate: the proof wins (one binding per token)', async () => {
    const key = await generateKeyPair('ES256')
    const res = await redeem({
      ...clientCert(),
      dpop: await createProof({ key, htm: 'POST', htu: `${t.issuer}/token` }),
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.token_type, 'DPoP')
    const cnf = decodeJwt(res.body.access_token as string).cnf as Record<string, string>
    assert.deepEqual(Object.keys(cnf), ['jkt'])
  })
})

describe('aliases on their own host behind the proxy (mtls.endpointBaseUrl)', () => {
  let t: TestServer
  before(async () => {
    t = await startServer({
      trustProxy: [PROXY],
      mtls: {
        certificateHeader: { format: 'rfc9440' },
        endpointBaseUrl: 'https://mtls.as.example',
      },
      clients: [
        { client_id: 'dpop', client_secret: SECRET, grant_types: CC, token_binding: 'dpop' },
      ],
    })
  })
  after(() => t.close())

  test('the metadata lists the aliases on that host', async () => {
    const metadata = (await (
      await fetch(`${t.issuer}/.well-known/oauth-authorization-server`)
    ).json()) as { mtls_endpoint_aliases: Record<string, string> }
    assert.equal(metadata.mtls_endpoint_aliases.token_endpoint, 'https://mtls.as.example/token')
  })

  test('a request the proxy forwards for that host checks DPoP proofs against the alias', async () => {
    const key = await generateKeyPair('ES256')
    const send = async (htu: string, forwardedHost?: string) =>
      post(
        `${t.issuer}/token`,
        { grant_type: 'client_credentials' },
        {
          authorization: basic('dpop'),
          dpop: await createProof({ key, htm: 'POST', htu }),
          ...(forwardedHost ? { 'x-forwarded-host': forwardedHost } : {}),
        },
        PROXY,
      )
    const alias = await send('https://mtls.as.example/token', 'mtls.as.example')
    assert.equal(alias.status, 200, JSON.stringify(alias.body))
    const mixed = await send(`${t.issuer}/token`, 'mtls.as.example')
    assert.equal(mixed.status, 400)
    assert.equal(mixed.body.error, 'invalid_dpop_proof')
    const issuer = await send(`${t.issuer}/token`)
    assert.equal(issuer.status, 200, JSON.stringify(issuer.body))
  })
})
