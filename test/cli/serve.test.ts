import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../src/jose/generate.js'

const ROOT = resolve(import.meta.dirname, '../..')
const BIN = join(ROOT, 'dist/cli/main.js')

let dir: string
before(() => {
  if (spawnSync('npm', ['run', '-s', 'build'], { cwd: ROOT }).status !== 0)
    throw new Error('build failed')
  dir = mkdtempSync(join(tmpdir(), 'keybound-serve-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

interface Running {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/** Runs `keybound serve ...args` in `cwd` and waits until it answers /healthz. */
function serve(args: string[], port: number, cwd = dir): Promise<Running> {
  return start('serve', args, port, cwd)
}

/** Runs `keybound <command> ...args` in `cwd` and waits until it answers /healthz. */
async function start(command: string, args: string[], port: number, cwd = dir): Promise<Running> {
  const child = spawn(process.execPath, [BIN, command, ...args], { cwd })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    err += d
  })
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return { child, stdout: () => out, stderr: () => err, exited }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`${command} did not start: ${err}`)
}

async function stop(running: Running): Promise<number | null> {
  running.child.kill('SIGTERM')
  return running.exited
}

describe('keybound serve', () => {
  test('without a config: the demo set-up, and the README walk-through works', async () => {
    const port = await freePort()
    const running = await serve(['--port', String(port)], port)
    try {
      const banner = running.stdout()
      const secret = /demo-dpop \/ (\S+)/.exec(banner)?.[1]
      assert.ok(secret, banner)
      assert.match(banner, /user\s+demo \/ \S+/)
      const issuer = `http://localhost:${port}`
      const key = await generateKeyPair('ES256')
      const dpop = await createProof({ key, htm: 'POST', htu: `${issuer}/token` })
      const res = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`demo-dpop:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          dpop,
        },
        body: 'grant_type=client_credentials',
      })
      const body = (await res.json()) as Record<string, unknown>
      assert.equal(res.status, 200, JSON.stringify(body))
      assert.equal(body.token_type, 'DPoP')
      assert.equal(decodeJwt(body.access_token as string).iss, issuer)
      // Logs are JSON with a request id and hold no credential (pino may write them after the
      // answer).
      for (let i = 0; i < 50 && !/"reqId"/.test(running.stdout()); i++) {
        await new Promise((r) => setTimeout(r, 100))
      }
      const logs = running.stdout()
      assert.match(logs, /"reqId":"[0-9a-f-]{36}"/)
      assert.ok(!logs.includes(dpop), 'the proof must not be logged')
      assert.ok(!logs.includes(body.access_token as string), 'the token must not be logged')
      assert.ok(!logs.includes(Buffer.from(`demo-dpop:${secret}`).toString('base64')))
    } finally {
      assert.equal(await stop(running), 0)
    }
  })

  test("the README's PoP walk-through: demo-pop, keygen's pop key, pop-sign through the gateway", async () => {
    const port = await freePort()
    const gatewayPort = await freePort()
    const cwd = mkdtempSync(join(dir, 'pop-'))
    const service = createHttpServer((_req, res) => res.end('from the service'))
    await new Promise<void>((done) => service.listen(0, '127.0.0.1', done))
    const upstream = `http://127.0.0.1:${(service.address() as AddressInfo).port}`
    const running = await serve(['--port', String(port)], port)
    let gateway: Running | undefined
    try {
      const secret = /demo-pop \/ (\S+)/.exec(running.stdout())?.[1]
      assert.ok(secret, running.stdout())
      const keygen = spawnSync(
        process.execPath,
        [BIN, 'keygen', '--alg', 'RS256', '--out', 'pop.json'],
        { cwd, encoding: 'utf8' },
      )
      const key = /^pop key: (\S+)$/m.exec(keygen.stdout)?.[1]
      assert.ok(key, keygen.stdout + keygen.stderr)
      const api = `http://localhost:${gatewayPort}`
      const res = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`demo-pop:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          token_type: 'pop',
          alg: 'RS256',
          key,
          resource: api,
        }),
      })
      const body = (await res.json()) as { access_token: string; token_type: string }
      assert.equal(res.status, 200, JSON.stringify(body))
      assert.equal(body.token_type, 'pop')
      const token = body.access_token
      gateway = await start(
        'gateway',
        [
          '--upstream',
          upstream,
          '--issuer',
          `http://localhost:${port}`,
          '--audience',
          api,
          '--port',
          String(gatewayPort),
        ],
        gatewayPort,
        cwd,
      )
      const url = `${api}/orders?page=2`
      const sign = spawnSync(
        process.execPath,
        [BIN, 'pop-sign', '--key', 'pop.json', '--token', token, '--method', 'GET', '--url', url],
        { cwd, encoding: 'utf8' },
      )
      assert.equal(sign.status, 0, sign.stderr)
      const authorization = sign.stdout.trim()
      assert.match(authorization, /^PoP [\w-]+\.[\w-]+\.[\w-]+$/)
      const signed = await fetch(url, { headers: { authorization } })
      assert.equal(signed.status, 200)
      assert.equal(await signed.text(), 'from the service')
      const replayed = await fetch(url, { headers: { authorization } })
      assert.equal(replayed.status, 401)
      const bearer = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(bearer.status, 401)
      assert.equal(
        bearer.headers.get('www-authenticate'),
        'PoP error="invalid_token", error_description="a PoP-bound access token requires a ' +
          'signed request", DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"',
      )
    } finally {
      if (gateway) assert.equal(await stop(gateway), 0)
      assert.equal(await stop(running), 0)
      await new Promise<void>((done) => service.close(() => done()))
    }
  })

  test('a restart on the same SQLite file keeps clients and signing keys', async () => {
    const port = await freePort()
    const cwd = mkdtempSync(join(dir, 'restart-'))
    const config = join(cwd, 'keybound.json')
    writeFileSync(
      config,
      JSON.stringify({
        port,
        database: `sqlite:${join(cwd, 'kb.db')}`,
        log: { level: 'warn' },
        clients: [
          {
            client_id: 'c1',
            client_secret: 'a-high-entropy-secret-0123456789',
            grant_types: ['client_credentials'],
          },
        ],
      }),
    )
    const jwks = async () =>
      (await (await fetch(`http://127.0.0.1:${port}/jwks`)).json()) as { keys: { kid: string }[] }
    const first = await serve(['--config', config], port, cwd)
    const before = await jwks()
    assert.equal(await stop(first), 0)
    const second = await serve(['--config', config], port, cwd)
    try {
      assert.deepEqual(await jwks(), before)
      const res = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from('c1:a-high-entropy-secret-0123456789').toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      })
      assert.equal(res.status, 200)
      const { access_token } = (await res.json()) as { access_token: string }
      const { decodeProtectedHeader } = await import('jose')
      assert.equal(decodeProtectedHeader(access_token).kid, before.keys[0]?.kid)
    } finally {
      assert.equal(await stop(second), 0)
    }
  })

  test('a config mistake exits 2 naming the field', () => {
    const config = join(dir, 'bad.json')
    writeFileSync(config, JSON.stringify({ port: 70000 }))
    const r = spawnSync(process.execPath, [BIN, 'serve', '--config', config], { encoding: 'utf8' })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /port: /)
    assert.doesNotMatch(r.stderr, /^\s+at /m)
  })

  test('a port in use exits 1 and says so', async () => {
    const blocker = createServer()
    const port = await new Promise<number>((done) =>
      blocker.listen(0, '127.0.0.1', () => {
        const address = blocker.address()
        done(typeof address === 'object' && address ? address.port : 0)
      }),
    )
    try {
      const r = spawnSync(process.execPath, [BIN, 'serve', '--port', String(port)], {
        cwd: dir,
        encoding: 'utf8',
      })
      assert.equal(r.status, 1)
      assert.match(r.stderr, new RegExp(`port ${port} on 127.0.0.1 is in use`))
    } finally {
      blocker.close()
    }
  })

  test('an unreachable database exits 1 naming it', async () => {
    const port = await freePort()
    const config = join(dir, 'pg.json')
    writeFileSync(
      config,
      JSON.stringify({ database: `postgres://kb:secret@127.0.0.1:${port}/nowhere` }),
    )
    const r = spawnSync(process.execPath, [BIN, 'serve', '--config', config], { encoding: 'utf8' })
    assert.equal(r.status, 1)
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`))
    assert.doesNotMatch(r.stderr, /secret/)
  })

  test('keybound migrate creates the schema', () => {
    const cwd = mkdtempSync(join(dir, 'migrate-'))
    const r = spawnSync(process.execPath, [BIN, 'migrate'], { cwd, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /migrated sqlite:\.keybound\/keybound\.db/)
  })
})
