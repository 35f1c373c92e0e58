/**
 * `npm run bench:token`: `POST /token` (client_credentials, client_secret_basic, a DPoP proof,
 * an ES256 JWT access token) against keybound and against node-oidc-provider configured for
 * the same flow, with one load generator, interleaved run by run; medians of the runs.
 *
 * Each server runs in its own process on the same Node binary; its CPU time is read from
 * /proc before and after each run. keybound runs on its default (a SQLite file, the in-memory
 * replay cache) and on PostgreSQL + Redis.
 *
 * Environment: BENCH_RUNS (default 3), BENCH_SECONDS (default 5), BENCH_CONCURRENCY (default 32),
 * BENCH_NODE24 (a Node 24 binary: the whole series again with both servers on it, `.node24`).
 */
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import pg from 'pg'
import { signCompact } from '../src/jose/sign.js'
import { type LoadResult, type PreparedRequest, runLoad } from './load.js'
import { cpuSeconds, freePort, type Server, start, stop } from './processes.js'
import { machine, median, printTable, result } from './report.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const SECRET = 'bench-secret-0123456789abcdef'
const POSTGRES = process.env.KEYBOUND_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS = 'redis://127.0.0.1:6379'
const HERE = import.meta.dirname

/** Proofs and requests for one run, made before the timed window. */
function prepare(port: number, count: number): PreparedRequest[] {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const htu = `http://127.0.0.1:${port}/token`
  const iat = Math.floor(Date.now() / 1000)
  const authorization = `Basic ${Buffer.from(`bench:${SECRET}`).toString('base64')}`
  return Array.from({ length: count }, (_, i) => ({
    headers: {
      authorization,
      'content-type': 'application/x-www-form-urlencoded',
      dpop: signCompact(
        'ES256',
        privateKey,
        { typ: 'dpop+jwt', jwk },
        { jti: `${iat}-${i}`, htm: 'POST', htu, iat },
      ),
    },
    body: 'grant_type=client_credentials&scope=read',
  }))
}

interface Measured extends LoadResult {
  cpuMsPerRequest: number
}

async function measure(server: Server, seconds: number): Promise<Measured> {
  // Enough proofs for ~15,000 tokens/s; the run stops early if they run out.
  const requests = prepare(server.port, Math.ceil(15_000 * seconds))
  const pid = server.child.pid as number
  const cpu0 = cpuSeconds(pid)
  const load = await runLoad({
    port: server.port,
    path: '/token',
    concurrency: CONCURRENCY,
    seconds,
    requests,
  })
  const cpu = cpuSeconds(pid) - cpu0
  if (load.failed > 0)
    throw new Error(`${server.name}: ${load.failed} failed requests, first: ${load.firstFailure}`)
  return { ...load, cpuMsPerRequest: (cpu * 1000) / load.completed }
}

interface Series {
  rps: number[]
  p50: number[]
  p99: number[]
  cpu: number[]
}
const series = (): Series => ({ rps: [], p50: [], p99: [], cpu: [] })
const add = (s: Series, m: Measured) => {
  s.rps.push(m.rps)
  s.p50.push(m.p50)
  s.p99.push(m.p99)
  s.cpu.push(m.cpuMsPerRequest)
}

async function postgresSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `kb_bench_${Date.now().toString(36)}`
  const client = new pg.Client({ connectionString: POSTGRES })
  await client.connect()
  await client.query(`CREATE SCHEMA ${schema}`)
  await client.end()
  return {
    url: `${POSTGRES}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES })
      await c.connect()
      await c.query(`DROP SCHEMA ${schema} CASCADE`)
      await c.end()
    },
  }
}

async function runSeries(
  node: string,
  suffix: string,
  env: Record<string, string> = {},
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keybound-bench-'))
  const database = await postgresSchema()
  const ports = await Promise.all([freePort(), freePort(), freePort()])
  const keyboundArgs = (port: number, db: string, cache: string) => [
    '--import',
    'tsx',
    join(HERE, 'servers/keybound.ts'),
    String(port),
    SECRET,
    db,
    cache,
  ]
  const servers = {
    sqlite: await start(
      'keybound',
      node,
      keyboundArgs(ports[0], `sqlite:${join(dir, 'kb.db')}`, 'memory'),
      ports[0],
      env,
    ),
    postgres: await start(
      'keybound (PostgreSQL + Redis)',
      node,
      keyboundArgs(ports[1], database.url, REDIS),
      ports[1],
    ),
    peer: await start(
      'node-oidc-provider',
      node,
      [join(HERE, 'servers/oidc-provider.mjs'), String(ports[2]), SECRET],
      ports[2],
    ),
  }
  try {
    for (const server of Object.values(servers)) await measure(server, 1) // warm-up
    const results = { sqlite: series(), postgres: series(), peer: series() }
    for (let run = 0; run < RUNS; run++) {
      for (const name of ['sqlite', 'peer', 'postgres'] as const) {
        const m = await measure(servers[name], SECONDS)
        add(results[name], m)
        console.error(
          `${suffix || 'node'} run ${run + 1}/${RUNS} ${servers[name].name}: ${Math.round(m.rps)} tokens/s, p99 ${m.p99.toFixed(1)} ms, ${m.cpuMsPerRequest.toFixed(3)} ms CPU/token`,
        )
      }
    }
    const version = execFileSync(node, ['--version']).toString().trim()
    const row = (label: string, s: Series): Array<[string, number, string]> => [
      [`${label}: tokens/s`, median(s.rps), 'tokens/s'],
      [`${label}: p50 latency (ms)`, median(s.p50), ''],
      [`${label}: p99 latency (ms)`, median(s.p99), ''],
      [`${label}: server CPU per token (ms)`, median(s.cpu), ''],
    ]
    printTable(
      `POST /token, client_credentials + DPoP, JWT access tokens, concurrency ${CONCURRENCY}, ${SECONDS} s runs, medians of ${RUNS} (servers on node ${version})`,
      machine(),
      [
        ...row('keybound (SQLite)', results.sqlite),
        ...row('keybound (PostgreSQL + Redis)', results.postgres),
        ...row('node-oidc-provider', results.peer),
      ],
    )
    for (const [variant, s] of [
      ['', results.sqlite],
      ['.postgres', results.postgres],
    ] as const) {
      const rpsRatio = median(s.rps.map((r, i) => r / (results.peer.rps[i] as number)))
      const cpuRatio = median(s.cpu.map((c, i) => c / (results.peer.cpu[i] as number)))
      result(`token.rps${variant}${suffix}`, median(s.rps), 'tokens/s')
      result(`token.rps_ratio_vs_oidc_provider${variant}${suffix}`, rpsRatio, 'ratio')
      result(`token.cpu_ratio_vs_oidc_provider${variant}${suffix}`, cpuRatio, 'ratio')
      result(`token.p99_ms${variant}${suffix}`, median(s.p99), 'ms')
      result(`token.server_cpu_ms_per_req${variant}${suffix}`, median(s.cpu), 'ms')
    }
    result(`token.oidc_provider_rps${suffix}`, median(results.peer.rps), 'tokens/s')
    result(`token.oidc_provider_p99_ms${suffix}`, median(results.peer.p99), 'ms')
    result(`token.oidc_provider_server_cpu_ms_per_req${suffix}`, median(results.peer.cpu), 'ms')
  } finally {
    await Promise.all(Object.values(servers).map(stop))
    await database.drop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * better-sqlite3 built for `node`'s ABI, in .tmp/ (built once: node_modules holds the build for
 * the Node that ran `npm install`). The server gets it through `sqliteNativeBinding`.
 */
function sqliteBindingFor(node: string): string {
  const version = execFileSync(node, ['--version']).toString().trim()
  const dir = join(HERE, '..', '.tmp', `better-sqlite3-${version}`)
  const binding = join(dir, 'build', 'Release', 'better_sqlite3.node')
  if (!existsSync(binding)) {
    cpSync(join(HERE, '..', 'node_modules', 'better-sqlite3'), dir, { recursive: true })
    rmSync(join(dir, 'build'), { recursive: true, force: true })
    const gyp = join(
      dirname(process.env.npm_execpath ?? ''),
      '..',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    )
    console.error(`building better-sqlite3 for node ${version} (about a minute)...`)
    // npm's own nodedir setting (this machine's points at the system Node) must not win.
    const nodedir = dirname(dirname(node))
    execFileSync(node, [gyp, 'rebuild', '--release', `--nodedir=${nodedir}`], {
      cwd: dir,
      stdio: 'ignore',
      env: { ...process.env, npm_config_nodedir: nodedir },
    })
  }
  return binding
}

await runSeries(process.execPath, '')
const node24 = process.env.BENCH_NODE24
if (node24)
  await runSeries(node24, '.node24', { KEYBOUND_BENCH_SQLITE_BINDING: sqliteBindingFor(node24) })
