/**
 * The examples run as their READMEs say: `keybound serve` with its demo set-up (what `npm start`
 * runs), each example API as `node examples/.../server.mjs`, then its `call.mjs` with the secret
 * the server printed. The output of the call script is asserted line by line, and the API's
 * metrics afterwards, so an example that stops working fails here.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'

const ROOT = resolve(import.meta.dirname, '../..')

/** The newest modification time under `dir`, in ms. */
function newest(dir: string): number {
  let latest = 0
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const stat = statSync(path)
    latest = Math.max(latest, stat.isDirectory() ? newest(path) : stat.mtimeMs)
  }
  return latest
}

/** The examples import `keybound/resource` and `keybound/client`: the built package. */
function ensureBuilt(): void {
  let built = 0
  try {
    built = Math.min(
      statSync(join(ROOT, 'dist/resource/index.js')).mtimeMs,
      statSync(join(ROOT, 'dist/client/index.js')).mtimeMs,
    )
  } catch {
    // Not built yet.
  }
  if (built >= newest(join(ROOT, 'src'))) return
  const result = spawnSync('npm', ['run', '-s', 'build'], { cwd: ROOT, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`build failed: ${result.stdout}${result.stderr}`)
}

function freePort(): Promise<number> {
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

/** Starts `node script` and waits until its standard output matches `ready`. */
async function start(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  cwd = ROOT,
): Promise<Running> {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    err += d
  })
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
  for (let i = 0; i < 200 && !ready.test(out); i++) {
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 50))
  }
  if (!ready.test(out)) {
    child.kill('SIGKILL')
    throw new Error(`${args.join(' ')} did not start:\n${out}\n${err}`)
  }
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** Runs `node script` to its end. */
function run(script: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('exit', (code) => done({ code, stdout, stderr }))
  })
}

const CHALLENGE = 'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"'
const ORDER = '{"id":1,"item":"keyboard","owner":"demo-dpop"}'

/** What `call.mjs` prints; `nonce` when the API demands DPoP nonces (RFC 9449 §9). */
function expectedOutput(nonce: boolean): string {
  const retry = (line: string) => (nonce ? [`  ${line} -> 401 use_dpop_nonce`] : [])
  return [
    'without a token:',
    '  API GET /orders -> 401 no credentials',
    `  WWW-Authenticate: ${CHALLENGE}`,
    'POST /orders with a DPoP-bound token:',
    '  keybound GET /.well-known/oauth-authorization-server -> 200',
    '  keybound POST /token -> 200',
    ...retry('API POST /orders'),
    '  API POST /orders -> 201',
    `  201 ${ORDER}`,
    'GET /orders:',
    // The nonce of the previous answer is remembered: no second use_dpop_nonce.
    '  API GET /orders -> 200',
    `  200 [${ORDER}]`,
    'the same token with a proof signed by another key:',
    ...retry('API GET /orders'),
    '  API GET /orders -> 401 invalid_token',
    '  401 {"error":"invalid_token","error_description":"Invalid DPoP key binding"}',
    '',
  ].join('\n')
}

const metricLine = (outcome: string, reason: string, count: number, binding = 'dpop') =>
  `keybound_resource_requests_total{outcome="${outcome}",binding="${binding}",reason="${reason}"} ${count}`

const EXAMPLES = [
  { name: 'express-api', framework: 'Express', nonce: false },
  { name: 'fastify-api', framework: 'Fastify', nonce: true },
]

describe('examples, against `keybound serve` with its demo set-up', () => {
  let dir: string
  let as: Running
  let issuer: string
  let secret: string

  before(async () => {
    ensureBuilt()
    dir = mkdtempSync(join(tmpdir(), 'keybound-examples-'))
    const port = await freePort()
    as = await start(
      [join(ROOT, 'dist/cli/main.js'), 'serve', '--port', String(port)],
      {},
      /demo-dpop \/ \S+/,
      dir,
    )
    issuer = `http://localhost:${port}`
    secret = /demo-dpop \/ (\S+)/.exec(as.stdout())?.[1] as string
  })
  after(async () => {
    if (as) {
      as.child.kill('SIGTERM')
      await as.exited
    }
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  for (const example of EXAMPLES) {
    test(`${example.name}: call.mjs gets a DPoP-bound token and uses it`, {
      timeout: 60_000,
    }, async () => {
      const port = await freePort()
      const api = `http://localhost:${port}`
      const server = await start(
        [`examples/${example.name}/server.mjs`],
        { KEYBOUND_ISSUER: issuer, PORT: String(port) },
        /orders API/,
      )
      try {
        assert.equal(
          server.stdout(),
          `orders API (${example.framework}) on ${api}, trusting tokens of ${issuer}\n`,
        )
        const call = await run(`examples/${example.name}/call.mjs`, {
          KEYBOUND_ISSUER: issuer,
          API_URL: api,
          CLIENT_SECRET: secret,
        })
        assert.equal(call.stderr, '')
        assert.equal(call.code, 0)
        assert.equal(call.stdout, expectedOutput(example.nonce))

        const metrics = await fetch(`${api}/metrics`)
        assert.equal(metrics.status, 200)
        const samples = (await metrics.text()).split('\n').filter((l) => l.startsWith('keybound_'))
        assert.deepEqual(
          samples.sort(),
          [
            metricLine('refused', 'missing_token', 1, 'none'),
            metricLine('verified', 'ok', 2),
            metricLine('refused', 'jkt_mismatch', 1),
            ...(example.nonce ? [metricLine('refused', 'nonce_missing', 2)] : []),
          ].sort(),
        )
      } finally {
        server.child.kill('SIGTERM')
        assert.equal(await server.exited, 0, server.stderr())
      }
    })

    test(`${example.name}: call.mjs without CLIENT_SECRET says what to do`, async () => {
      const call = await run(`examples/${example.name}/call.mjs`, { CLIENT_SECRET: '' })
      assert.equal(call.code, 2)
      assert.equal(
        call.stderr,
        'set CLIENT_SECRET to the secret `npm start` printed for demo-dpop\n',
      )
    })
  }
})
