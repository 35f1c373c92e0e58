// `keybound gateway` as a process (through tsx, so no build is needed): it starts, forwards a
// verified request, stops on SIGTERM with exit code 0; bad flags and config exit 2 with one line.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startServer, type TestServer } from '../../helpers/server.js'
import {
  AS_CONFIG,
  AUDIENCE,
  call,
  dpopClient,
  rawValues,
  startUpstream,
  type Upstream,
} from './helpers.js'

const ROOT = resolve(import.meta.dirname, '../../..')
const MAIN = join(ROOT, 'src/cli/main.ts')
const keybound = (args: string[]) => [process.execPath, ['--import', 'tsx', MAIN, ...args]] as const

let as: TestServer
let upstream: Upstream
let dir: string

before(async () => {
  as = await startServer(AS_CONFIG)
  upstream = await startUpstream()
  dir = mkdtempSync(join(tmpdir(), 'keybound-gateway-cli-'))
})
after(async () => {
  await upstream.close()
  await as.close()
  rmSync(dir, { recursive: true, force: true })
})

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Runs `keybound gateway ...args` and waits until it answers /healthz. */
async function gateway(args: string[], port: number) {
  const [command, argv] = keybound(['gateway', ...args])
  const child: ChildProcess = spawn(command, argv, { cwd: ROOT })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    err += d
  })
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return { child, stdout: () => out, stderr: () => err, exited }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`gateway did not start: ${err}`)
}

function run(args: string[]) {
  const [command, argv] = keybound(args)
  return spawnSync(command, argv, { cwd: ROOT, encoding: 'utf8' })
}

/** Exit code 2, nothing on stdout, one line on stderr: `keybound: <message>`. */
function assertUsageError(result: ReturnType<typeof run>, message: string): void {
  assert.equal(result.status, 2, result.stderr)
  assert.equal(result.stdout, '')
  assert.equal(result.stderr, `keybound: ${message}\n`)
}

describe('keybound gateway', () => {
  test('starts from flags, forwards a verified request, stops on SIGTERM with 0', async () => {
    const port = await freePort()
    const running = await gateway(
      [
        '--upstream',
        upstream.url,
        '--issuer',
        as.issuer,
        '--audience',
        AUDIENCE,
        '--port',
        String(port),
        '--log-level',
        'warn',
      ],
      port,
    )
    try {
      const client = await dpopClient(as)
      const url = `http://127.0.0.1:${port}/cli?q=1`
      const res = await call(url, {
        headers: [
          ['Authorization', `DPoP ${client.token}`],
          ['DPoP', await client.proof('GET', url)],
        ],
      })
      assert.equal(res.status, 200, res.body)
      const seen = upstream.requests.at(-1)
      assert.equal(seen?.url, '/cli?q=1')
      assert.deepEqual(rawValues(seen?.rawHeaders ?? [], 'X-Keybound-Subject'), ['svc'])
      const refused = await call(`http://127.0.0.1:${port}/cli`)
      assert.equal(refused.status, 401)
      // warn: the refusal is logged as one JSON line, without the token. pino writes it
      // asynchronously: it may reach the pipe after the answer.
      for (let i = 0; i < 50 && !running.stdout().includes('missing_token'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const lines = running
        .stdout()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
      assert.ok(lines.some((line) => line.reason === 'missing_token' && line.level === 'warn'))
      assert.ok(!running.stdout().includes(client.token))
      assert.match(
        running.stderr(),
        new RegExp(
          `^keybound gateway \\(proxy\\) listening on http://127\\.0\\.0\\.1:${port}, upstream ${upstream.url}, issuer ${as.issuer}\n`,
        ),
      )
    } finally {
      running.child.kill('SIGTERM')
      assert.equal(await running.exited, 0)
    }
  })

  test('reads a config file, and flags override it', async () => {
    const port = await freePort()
    const config = join(dir, 'gateway.json')
    writeFileSync(
      config,
      JSON.stringify({
        upstream: upstream.url,
        issuer: as.issuer,
        audience: AUDIENCE,
        port: 1,
        paths: { health: '/ready' },
        log: { level: 'silent' },
      }),
    )
    const [command, argv] = keybound(['gateway', '--config', config, '--port', String(port)])
    const child = spawn(command, argv, { cwd: ROOT })
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
    try {
      let ok = false
      for (let i = 0; i < 200 && !ok; i++) {
        ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
          (r) => r.ok,
          () => false,
        )
        if (!ok) await new Promise((r) => setTimeout(r, 100))
      }
      assert.ok(ok, 'the gateway answers on the port of the flag, at the path of the file')
    } finally {
      child.kill('SIGINT')
      assert.equal(await exited, 0)
    }
  })

  test('bad flags and config exit 2 with one line', () => {
    assertUsageError(run(['gateway', '--port', 'abc']), '--port must be an integer >= 0, got "abc"')
    assertUsageError(
      run(['gateway', '--nope']),
      'unknown option --nope for "gateway" (see "keybound gateway --help")',
    )
    assertUsageError(
      run(['gateway', '--upstream', upstream.url]),
      'invalid configuration: issuer: required',
    )
    assertUsageError(
      run(['gateway', '--upstream', 'ftp://x', '--issuer', as.issuer, '--mode', 'sideways']),
      'invalid configuration: mode: must be one of "proxy", "forward-auth", "both"; upstream: must be an http:// or https:// URL without query or fragment',
    )
    const config = join(dir, 'bad.json')
    writeFileSync(config, JSON.stringify({ issuer: as.issuer, dpop: { nonce: 'maybe' } }))
    assertUsageError(
      run(['gateway', '--config', config, '--upstream', upstream.url]),
      `invalid configuration (${config}): dpop.nonce: must be one of "off", "required"`,
    )
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
      const r = run([
        'gateway',
        '--upstream',
        upstream.url,
        '--issuer',
        as.issuer,
        '--audience',
        AUDIENCE,
        '--port',
        String(port),
      ])
      assert.equal(r.status, 1)
      assert.equal(r.stderr, `keybound: port ${port} on 127.0.0.1 is in use\n`)
    } finally {
      blocker.close()
    }
  })

  test('keybound --help lists it, and gateway --help shows its options', () => {
    const help = run(['--help'])
    assert.equal(help.status, 0)
    assert.match(
      help.stdout,
      /^ {2}gateway +run the verifying reverse proxy \/ forward-auth endpoint$/m,
    )
    const own = run(['gateway', '--help'])
    assert.equal(own.status, 0)
    assert.match(own.stdout, /^Usage: keybound gateway --upstream URL --issuer URL/)
    assert.match(own.stdout, /--trust-proxy LIST/)
  })
})
