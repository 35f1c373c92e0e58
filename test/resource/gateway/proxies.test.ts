// The forward-auth snippets of docs/resource/gateway.md, run as they are written by real nginx
// and Caddy in front of a real upstream, with the gateway demanding DPoP nonces. Each proxy's
// tests fail when its binary is not installed (.ci/run installs nginx-light and caddy).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { type RunningProxy, startCaddy, startNginx } from '../../helpers/proxies.js'
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
  let nginx: RunningProxy | undefined
  before(async () => {
    nginx = await startNginx({
      dir: join(dir, 'nginx'),
      server: (port) =>
        localize(snippet('nginx')).replace('listen 80;', `listen 127.0.0.1:${port};`),
    })
  })
  after(async () => {
    await nginx?.close()
  })
  behaviour('nginx', () => `http://127.0.0.1:${nginx?.port}`, false)
})

describe('Caddy forward_auth with the snippet of the doc', () => {
  before(() =>
    assert.ok(installed('caddy', 'version'), 'caddy is not installed (.ci/run installs it)'),
  )
  let caddy: RunningProxy | undefined
  before(async () => {
    caddy = await startCaddy({
      dir: join(dir, 'caddy'),
      site: (port) =>
        localize(snippet('caddyfile')).replace('api.example.com {', `http://127.0.0.1:${port} {`),
    })
  })
  after(async () => {
    await caddy?.close()
  })
  behaviour('Caddy', () => `http://127.0.0.1:${caddy?.port}`, true)
})
