/**
 * The gateway figures of `npm run bench:resource`: requests per second to a trivial upstream,
 * directly and through `keybound gateway` (which verifies a DPoP-bound JWT and a fresh proof per
 * request, then proxies), with one load generator, alternated run by run; medians of the runs.
 * Upstream and gateway run in processes of their own on this Node binary.
 *
 * Environment: BENCH_GATEWAY_RUNS (default 3), BENCH_SECONDS (default 5), BENCH_CONCURRENCY
 * (default 32).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { computeAth } from '../src/bindings/dpop/ath.js'
import { jwkThumbprint, type PublicJwk } from '../src/jose/jwk.js'
import { signCompact } from '../src/jose/sign.js'
import { type LoadResult, type PreparedRequest, runLoad } from './load.js'
import { cpuSeconds, freePort, start, stop } from './processes.js'
import { median } from './report.js'

const RUNS = Number(process.env.BENCH_GATEWAY_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const ISSUER = 'https://as.example'
const API = 'https://api.example'
const HERE = import.meta.dirname

/** DPoP requests from `clients` keys, each with its own token: made before the timed window. */
function prepare(asKey: KeyObject, count: number, clients = 100): PreparedRequest[] {
  const iat = Math.floor(Date.now() / 1000)
  const pool = Array.from({ length: clients }, (_, i) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' })
    const token = signCompact(
      'ES256',
      asKey,
      { typ: 'at+jwt', kid: 'k1' },
      {
        iss: ISSUER,
        sub: `client-${i}`,
        aud: API,
        client_id: `client-${i}`,
        iat,
        exp: iat + 3600,
        scope: 'read',
        cnf: { jkt: jwkThumbprint(jwk as PublicJwk) },
      },
    )
    return { privateKey, jwk, token, ath: computeAth(token) }
  })
  return Array.from({ length: count }, (_, i) => {
    const client = pool[i % clients] as (typeof pool)[number]
    const claims = { jti: `${iat}-${i}`, htm: 'GET', htu: `${API}/orders`, iat, ath: client.ath }
    return {
      headers: {
        authorization: `DPoP ${client.token}`,
        dpop: signCompact('ES256', client.privateKey, { typ: 'dpop+jwt', jwk: client.jwk }, claims),
      },
      body: undefined,
    }
  })
}

export interface GatewayFigures {
  direct: LoadResult[]
  gateway: LoadResult[]
  ratios: number[]
  /** CPU milliseconds the gateway process spent per request it forwarded. */
  gatewayCpuMs: number[]
}

export async function benchGateway(): Promise<GatewayFigures> {
  const asKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwks = JSON.stringify({
    keys: [{ ...asKey.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }],
  })
  const [upstreamPort, gatewayPort] = await Promise.all([freePort(), freePort()])
  const node = process.execPath
  const upstream = await start(
    'upstream',
    node,
    [`${HERE}/servers/upstream.mjs`, String(upstreamPort)],
    upstreamPort,
  )
  const gateway = await start(
    'gateway',
    node,
    [
      '--import',
      'tsx',
      `${HERE}/servers/gateway.ts`,
      String(gatewayPort),
      String(upstreamPort),
      ISSUER,
      API,
    ],
    gatewayPort,
    { KEYBOUND_BENCH_JWKS: jwks },
  )
  const figures: GatewayFigures = { direct: [], gateway: [], ratios: [], gatewayCpuMs: [] }
  try {
    const plain: PreparedRequest[] = Array.from({ length: 400_000 }, () => ({
      headers: {},
      body: undefined,
    }))
    const load = (port: number, requests: PreparedRequest[]) =>
      runLoad({ port, path: '/orders', concurrency: CONCURRENCY, seconds: SECONDS, requests })
    // Warm-up: JIT, keys, connections.
    await load(gatewayPort, prepare(asKey.privateKey, 2000))
    await load(upstreamPort, plain.slice(0, 2000))
    for (let r = 0; r < RUNS; r++) {
      const requests = prepare(asKey.privateKey, 12_000 * SECONDS)
      const direct = await load(upstreamPort, plain)
      const cpuBefore = cpuSeconds(gateway.child.pid as number)
      const through = await load(gatewayPort, requests)
      const cpu = cpuSeconds(gateway.child.pid as number) - cpuBefore
      if (through.failed > 0) throw new Error(`gateway refused: ${through.firstFailure}`)
      figures.direct.push(direct)
      figures.gateway.push(through)
      figures.ratios.push(through.rps / direct.rps)
      figures.gatewayCpuMs.push((cpu * 1000) / through.completed)
      console.error(
        `gateway run ${r + 1}/${RUNS}: direct ${Math.round(direct.rps)} req/s, through the gateway ${Math.round(through.rps)} req/s (p99 ${through.p99.toFixed(1)} ms, gateway CPU ${((cpu * 1000) / through.completed).toFixed(3)} ms/req)`,
      )
    }
  } finally {
    await Promise.all([stop(gateway), stop(upstream)])
  }
  return figures
}

export const medianOf = (runs: LoadResult[], f: (r: LoadResult) => number) => median(runs.map(f))
