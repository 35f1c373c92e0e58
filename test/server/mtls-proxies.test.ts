/**
 * The proxy set-ups of docs/bindings/mtls.md, run as they are written by real nginx
 * (`$ssl_client_escaped_cert`), Caddy and HAProxy (RFC 9440 `Client-Cert`) terminating TLS in
 * front of keybound, with client certificates made in this run. Each proxy's tests fail when
 * its binary is not installed (.ci/run installs nginx-light, caddy and haproxy).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import { createCa, selfSigned, type TestCertificate } from '../helpers/certificates.js'
import { type RunningProxy, startCaddy, startHaproxy, startNginx } from '../helpers/proxies.js'
import { startServer, type TestServer } from '../helpers/server.js'

const DOC = readFileSync(new URL('../../docs/bindings/mtls.md', import.meta.url), 'utf8')
const snippet = (language: string) => {
  const match = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(DOC)
  assert.ok(match, `a ${language} block in the doc`)
  return match[1] as string
}
const installed = (command: string, flag: string) =>
  spawnSync(command, [flag], { stdio: 'ignore' }).status === 0

const SECRET = 'a-high-entropy-secret-0123456789'
const CC = ['client_credentials']

const dir = mkdtempSync(join(tmpdir(), 'keybound-mtls-proxies-'))
let serverCa: TestCertificate
let clientCa: TestCertificate
let serverCert: string
let serverKey: string
let caFile: string
let billing: TestCertificate
const agents: Agent[] = []

before(async () => {
  serverCa = await createCa('CN=proxies test server CA')
  clientCa = await createCa('CN=proxies test client CA')
  const server = await serverCa.issue({
    subject: 'CN=localhost',
    dns: ['localhost'],
    ip: ['127.0.0.1'],
    server: true,
  })
  serverCert = join(dir, 'server.pem')
  serverKey = join(dir, 'server.key')
  caFile = join(dir, 'client-ca.pem')
  writeFileSync(serverCert, server.pem)
  writeFileSync(serverKey, server.key)
  writeFileSync(caFile, clientCa.pem)
  billing = await clientCa.issue({ subject: 'O=Example, CN=billing' })
})
after(async () => {
  await Promise.all(agents.map((agent) => agent.close()))
  rmSync(dir, { recursive: true, force: true })
})

/** keybound behind the proxy, configured as the doc's JSON for that proxy says. */
function keyboundFor(format: 'nginx' | 'rfc9440') {
  return startServer({
    trustProxy: ['127.0.0.1'],
    mtls: { certificateHeader: { format, ca: caFile } },
    clients: [
      {
        client_id: 'billing',
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: 'CN=billing,O=Example',
        grant_types: CC,
        token_binding: 'mtls',
      },
      { client_id: 'worker', client_secret: SECRET, grant_types: CC, token_binding: 'mtls' },
    ],
  })
}

async function token(
  base: string,
  fields: Record<string, string>,
  options: { cert?: TestCertificate; headers?: Record<string, string> } = {},
) {
  const agent = new Agent({
    connect: {
      ca: serverCa.pem,
      ...(options.cert ? { cert: options.cert.pem, key: options.cert.key } : {}),
    },
  })
  agents.push(agent)
  const res = await undiciFetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    body: new URLSearchParams(fields).toString(),
    dispatcher: agent,
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const basic = `Basic ${Buffer.from(`worker:${SECRET}`).toString('base64')}`
const x5t = (body: Record<string, unknown>) =>
  (decodeJwt(body.access_token as string).cnf as Record<string, string>)['x5t#S256']

/** What every proxy set-up of the doc must do, `base` being the proxy's URL. */
function behaviour(name: string, base: () => string, forged: () => Record<string, string>) {
  test(`${name}: tls_client_auth through the proxy, with a certificate-bound token`, async () => {
    const res = await token(
      base(),
      { grant_type: 'client_credentials', client_id: 'billing' },
      { cert: billing },
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(x5t(res.body), certificateThumbprint(billing.der))
  })

  test(`${name}: a secret client with an ephemeral self-signed certificate`, async () => {
    const ephemeral = await selfSigned({ subject: 'CN=ephemeral' })
    const res = await token(
      base(),
      { grant_type: 'client_credentials' },
      { cert: ephemeral, headers: { authorization: basic } },
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(x5t(res.body), certificateThumbprint(ephemeral.der))
  })

  test(`${name}: a client's own copy of the header is replaced, never believed`, async () => {
    const res = await token(
      base(),
      { grant_type: 'client_credentials', client_id: 'billing' },
      { headers: forged() },
    )
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_client')
    assert.match(res.body.error_description as string, /certificate is required/)
  })

  test(`${name}: no certificate, no header: a bound client is refused`, async () => {
    const res = await token(
      base(),
      { grant_type: 'client_credentials' },
      { headers: { authorization: basic } },
    )
    assert.equal(res.status, 400)
    assert.equal(res.body.error, 'invalid_request')
  })
}

describe('nginx with $ssl_client_escaped_cert, the snippet of the doc', () => {
  before(() => assert.ok(installed('nginx', '-v'), 'nginx is not installed (.ci/run installs it)'))
  let as: TestServer
  let nginx: RunningProxy | undefined
  before(async () => {
    as = await keyboundFor('nginx')
    nginx = await startNginx({
      dir: join(dir, 'nginx'),
      server: (port) =>
        snippet('nginx')
          .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
          .replace('/etc/nginx/auth.example.com.pem', serverCert)
          .replace('/etc/nginx/auth.example.com.key', serverKey)
          .replace('127.0.0.1:4000', new URL(as.issuer).host),
    })
  })
  after(async () => {
    await nginx?.close()
    await as?.close()
  })
  behaviour(
    'nginx',
    () => `https://127.0.0.1:${nginx?.port}`,
    () => ({ 'x-ssl-client-cert': encodeURIComponent(billing.pem) }),
  )
})

describe('Caddy with RFC 9440 Client-Cert, the snippet of the doc', () => {
  before(() =>
    assert.ok(installed('caddy', 'version'), 'caddy is not installed (.ci/run installs it)'),
  )
  let as: TestServer
  let caddy: RunningProxy | undefined
  before(async () => {
    as = await keyboundFor('rfc9440')
    caddy = await startCaddy({
      dir: join(dir, 'caddy'),
      // A host name, not an address: Caddy matches its TLS policy (client_auth) by SNI.
      site: (port) =>
        snippet('caddyfile')
          .replace('auth.example.com {', `https://localhost:${port} {`)
          .replace('\ttls {', `\ttls ${serverCert} ${serverKey} {`)
          .replace('127.0.0.1:4000', new URL(as.issuer).host),
    })
  })
  after(async () => {
    await caddy?.close()
    await as?.close()
  })
  behaviour(
    'Caddy',
    () => `https://localhost:${caddy?.port}`,
    () => ({
      'client-cert': `:${billing.der.toString('base64')}:`,
      'client-cert-chain': `:${clientCa.der.toString('base64')}:`,
    }),
  )
})

describe('HAProxy with RFC 9440 Client-Cert, the snippet of the doc', () => {
  before(() =>
    assert.ok(installed('haproxy', '-v'), 'haproxy is not installed (.ci/run installs it)'),
  )
  let as: TestServer
  let haproxy: RunningProxy | undefined
  before(async () => {
    as = await keyboundFor('rfc9440')
    const bundle = join(dir, 'haproxy-server.pem')
    writeFileSync(bundle, `${readFileSync(serverCert, 'utf8')}\n${readFileSync(serverKey, 'utf8')}`)
    haproxy = await startHaproxy({
      dir: join(dir, 'haproxy'),
      sections: (port) =>
        snippet('haproxy')
          .replace('bind :443', `bind 127.0.0.1:${port}`)
          .replace('/etc/haproxy/auth.example.com.pem', bundle)
          .replace('/etc/haproxy/client-ca.pem', caFile)
          .replace('127.0.0.1:4000', new URL(as.issuer).host),
    })
  })
  after(async () => {
    await haproxy?.close()
    await as?.close()
  })
  behaviour(
    'HAProxy',
    () => `https://127.0.0.1:${haproxy?.port}`,
    () => ({
      'client-cert': `:${billing.der.toString('base64')}:`,
      'client-cert-chain': `:${clientCa.der.toString('base64')}:`,
    }),
  )
})
