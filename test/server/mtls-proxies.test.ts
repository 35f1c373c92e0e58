/**
 * The proxy set-ups of docs/bindings/mtls.md, run as they are written by real nginx
 * (`$ssl_client_escaped_cert`) and Caddy (RFC 9440 `Client-Cert`) terminating TLS in front of
 * keybound, with client certificates made in this run. Each proxy's tests fail when its binary
 * is not installed (.ci/run installs nginx-light and caddy).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import { createCa, freePort, selfSigned, type TestCertificate } from '../helpers/certificates.js'
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

async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (up) return
    if (child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the proxy did not start: ${log()}`)
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
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
  let port: number
  let nginx: ChildProcess | undefined
  before(async () => {
    as = await keyboundFor('nginx')
    port = await freePort()
    const prefix = join(dir, 'nginx')
    mkdirSync(prefix, { recursive: true })
    const server = snippet('nginx')
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace('/etc/nginx/auth.example.com.pem', serverCert)
      .replace('/etc/nginx/auth.example.com.key', serverKey)
      .replace('127.0.0.1:4000', new URL(as.issuer).host)
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((name) => `  ${name}_temp_path ${join(prefix, name)};`)
      .join('\n')
    writeFileSync(
      join(prefix, 'nginx.conf'),
      `daemon off;\nmaster_process off;\npid ${join(prefix, 'nginx.pid')};\n` +
        `error_log ${join(prefix, 'error.log')} warn;\nevents { worker_connections 64; }\n` +
        `http {\n  access_log off;\n${temp}\n${server}\n}\n`,
    )
    const child = spawn(
      'nginx',
      ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    nginx = child
    let log = ''
    child.stderr?.on('data', (d) => {
      log += d
    })
    await listening(port, child, () => log)
  })
  after(async () => {
    await stop(nginx)
    await as?.close()
  })
  behaviour(
    'nginx',
    () => `https://127.0.0.1:${port}`,
    () => ({ 'x-ssl-client-cert': encodeURIComponent(billing.pem) }),
  )
})

describe('Caddy with RFC 9440 Client-Cert, the snippet of the doc', () => {
  before(() =>
    assert.ok(installed('caddy', 'version'), 'caddy is not installed (.ci/run installs it)'),
  )
  let as: TestServer
  let port: number
  let caddy: ChildProcess | undefined
  before(async () => {
    as = await keyboundFor('rfc9440')
    port = await freePort()
    const home = join(dir, 'caddy')
    mkdirSync(home, { recursive: true })
    // A host name, not an address: Caddy matches its TLS policy (client_auth) by SNI.
    const site = snippet('caddyfile')
      .replace('auth.example.com {', `https://localhost:${port} {`)
      .replace('\ttls {', `\ttls ${serverCert} ${serverKey} {`)
      .replace('127.0.0.1:4000', new URL(as.issuer).host)
    writeFileSync(join(home, 'Caddyfile'), `{\n\tadmin off\n\tauto_https off\n}\n\n${site}`)
    const child = spawn(
      'caddy',
      ['run', '--config', join(home, 'Caddyfile'), '--adapter', 'caddyfile'],
      {
        env: { ...process.env, HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    caddy = child
    let log = ''
    child.stderr?.on('data', (d) => {
      log += d
    })
    await listening(port, child, () => log)
  })
  after(async () => {
    await stop(caddy)
    await as?.close()
  })
  behaviour(
    'Caddy',
    () => `https://localhost:${port}`,
    () => ({
      'client-cert': `:${billing.der.toString('base64')}:`,
      'client-cert-chain': `:${clientCa.der.toString('base64')}:`,
    }),
  )
})
