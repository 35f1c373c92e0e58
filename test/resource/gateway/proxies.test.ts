// The forward-auth snippets of docs/resource/gateway.md, run as they are written by real nginx
// and Caddy in front of a real upstream, with the gateway demanding DPoP nonces. Each proxy's
// tests fail when its binary is not installed (.ci/run installs nginx-light and caddy).
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { startServer, type TestServer } from '../../helpers/server.js'
import {
  AS_CONFIG,
  call,
  type DPoPClient,
  dpopClient,
  type RunningGateway,
  rawValues,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers.js'

const DOC = readFileSync(new URL('../../../docs/resource/gateway.md', import.meta.url), 'utf8')
const snippet = (language: string) => {
  const match = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(DOC)
  assert.ok(match, `a ${language} block in the doc`)
  return match[1] as string
}
const installed = (command: string, flag: string) =>
  spawnSync(command, [flag], { stdio: 'ignore' }).status === 0

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0))
    })
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

let as: TestServer
let upstream: Upstream
let gw: RunningGateway
let client: DPoPClient
let dir: string

before(async () => {
  as = await startServer(AS_CONFIG)
  upstream = await startUpstream()
  gw = await startGateway(as, {
    mode: 'forward-auth',
    trustProxy: ['loopback'],
    dpop: { nonce: 'required', nonceSecret: Buffer.alloc(32, 9).toString('base64url') },
  })
  client = await dpopClient(as)
  dir = mkdtempSync(join(tmpdir(), 'keybound-proxies-'))
})
after(async () => {
  await gw.close()
  await upstream.close()
  await as.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The snippet's addresses replaced with the test's. */
function localize(text: string): string {
  return text
    .replaceAll('127.0.0.1:4100', `127.0.0.1:${gw.port}`)
    .replaceAll('127.0.0.1:3000', `127.0.0.1:${upstream.port}`)
}

const json = (body: string) => JSON.parse(body) as Record<string, unknown>

/** What every proxy must do with the snippet of the doc, `base` being the proxy's URL. */
function behaviour(name: string, base: () => string, jsonBodies: boolean) {
  let nonce: string

  test(`${name}: a proof without a nonce gets 401 use_dpop_nonce with DPoP-Nonce`, async () => {
    const url = `${base()}/orders`
    const res = await call(url, {
      headers: [
        ['Authorization', `DPoP ${client.token}`],
        ['DPoP', await client.proof('GET', url)],
      ],
    })
    assert.equal(res.status, 401)
    assert.match(
      res.headers['www-authenticate'] ?? '',
      /^DPoP algs="[^"]+", error="use_dpop_nonce"/,
    )
    assert.equal(typeof res.headers['dpop-nonce'], 'string')
    nonce = res.headers['dpop-nonce'] as string
    if (jsonBodies) assert.equal(json(res.body).error, 'use_dpop_nonce')
  })

  test(`${name}: a verified POST reaches the upstream with the identity, not the forged copies`, async () => {
    const url = `${base()}/orders?id=1`
    const before = upstream.requests.length
    const res = await call(url, {
      method: 'POST',
      headers: [
        ['Authorization', `DPoP ${client.token}`],
        ['DPoP', await client.proof('POST', url, nonce)],
        ['X-Keybound-Subject', 'admin'],
        ['x-keybound-SUBJECT', 'root'],
        ['X-Keybound-Scope', 'admin'],
        ['X-Keybound-Jkt', 'forged'],
        ['X-Keybound-Cert-Thumbprint', 'forged'],
        // A client's description of another request must not be what is verified.
        ['X-Forwarded-Uri', '/public'],
        ['X-Forwarded-Method', 'GET'],
        ['Content-Type', 'application/json'],
      ],
      body: '{"item":1}',
    })
    assert.equal(res.status, 200, res.body)
    assert.equal(res.body, '{"ok":true}')
    assert.equal(upstream.requests.length, before + 1)
    const seen = upstream.requests.at(-1)
    assert.equal(seen?.method, 'POST')
    assert.equal(seen?.url, '/orders?id=1')
    assert.equal(seen?.body.toString(), '{"item":1}')
    const raw = seen?.rawHeaders ?? []
    assert.deepEqual(rawValues(raw, 'X-Keybound-Subject'), ['svc'])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Client-Id'), ['svc'])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Scope'), ['read write'])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Binding'), ['dpop'])
    const jkt = (decodeJwt(client.token).cnf as { jkt: string }).jkt
    assert.deepEqual(rawValues(raw, 'X-Keybound-Jkt'), [jkt])
    assert.deepEqual(rawValues(raw, 'X-Keybound-Cert-Thumbprint'), [])
    assert.deepEqual(rawValues(raw, 'DPoP'), [])
    assert.deepEqual(rawValues(raw, 'Authorization'), [])
  })

  test(`${name}: refusals never reach the upstream; invalid_request comes back as 401`, async () => {
    const before = upstream.requests.length
    const url = `${base()}/orders`
    const none = await call(url)
    assert.equal(none.status, 401)
    assert.equal(
      none.headers['www-authenticate'],
      'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"',
    )
    // The proof of another URL.
    const other = await call(url, {
      headers: [
        ['Authorization', `DPoP ${client.token}`],
        ['DPoP', await client.proof('GET', `${base()}/public`, nonce)],
      ],
    })
    assert.equal(other.status, 401)
    assert.match(other.headers['www-authenticate'] ?? '', /error="invalid_dpop_proof"/)
    // A DPoP proof with the Bearer scheme: 400 at the gateway, 401 through the proxy.
    const mixed = await call(url, {
      headers: [
        ['Authorization', `Bearer ${client.token}`],
        ['DPoP', await client.proof('GET', url, nonce)],
      ],
    })
    assert.equal(mixed.status, 401)
    assert.match(mixed.headers['www-authenticate'] ?? '', /error="invalid_request"/)
    if (jsonBodies) assert.equal(json(mixed.body).error, 'invalid_request')
    // A replayed proof.
    const headers: [string, string][] = [
      ['Authorization', `DPoP ${client.token}`],
      ['DPoP', await client.proof('GET', url, nonce)],
    ]
    assert.equal((await call(url, { headers })).status, 200)
    const replay = await call(url, { headers })
    assert.equal(replay.status, 401)
    assert.equal(upstream.requests.length, before + 1)
  })
}

describe('nginx auth_request with the snippet of the doc', () => {
  before(() => assert.ok(installed('nginx', '-v'), 'nginx is not installed (.ci/run installs it)'))
  let port: number
  let nginx: ChildProcess | undefined
  before(async () => {
    port = await freePort()
    const prefix = join(dir, 'nginx')
    mkdirSync(prefix, { recursive: true })
    const server = localize(snippet('nginx')).replace('listen 80;', `listen 127.0.0.1:${port};`)
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
    if (!nginx || nginx.exitCode !== null) return
    const exited = new Promise((resolve) => nginx?.once('exit', resolve))
    nginx.kill('SIGTERM')
    await exited
  })
  behaviour('nginx', () => `http://127.0.0.1:${port}`, false)
})

describe('Caddy forward_auth with the snippet of the doc', () => {
  before(() =>
    assert.ok(installed('caddy', 'version'), 'caddy is not installed (.ci/run installs it)'),
  )
  let port: number
  let caddy: ChildProcess | undefined
  before(async () => {
    port = await freePort()
    const home = join(dir, 'caddy')
    mkdirSync(home, { recursive: true })
    const site = localize(snippet('caddyfile')).replace(
      'api.example.com {',
      `http://127.0.0.1:${port} {`,
    )
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
    if (!caddy || caddy.exitCode !== null) return
    const exited = new Promise((resolve) => caddy?.once('exit', resolve))
    caddy.kill('SIGTERM')
    await exited
  })
  behaviour('Caddy', () => `http://127.0.0.1:${port}`, true)
})
