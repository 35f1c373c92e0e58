/**
 * `npm run bench:resource`: DPoP-protected requests verified per second on one core by the
 * resource verifier's `verify()` (a JWT access token + a DPoP proof, replay cache in memory),
 * side by side in one process with:
 * - the ceiling: two raw node:crypto ES256 verifications (token and proof, keys pre-imported,
 *   signatures already in the DER form OpenSSL takes) and one SHA-256 (`ath`, one-shot `hash`)
 *   per request;
 * - the peer: oauth4webapi's `validateJwtAccessToken`, which does the same RFC 9068 + RFC 9449
 *   checks (without replay detection);
 * - `verify()` with its token cache on: tokens seen before cost no signature check, so one
 *   ES256 verification per request remains.
 * Blocks of 500 requests are interleaved so the drift of a shared machine hits every side alike;
 * the figures are medians of the rounds. Client keys repeat, as real clients' do: a pool of
 * BENCH_KEYS clients, each with its own token, each sending many requests.
 *
 * Then the gateway: requests per second to a trivial upstream directly and through
 * `keybound gateway` (see resource-gateway.ts).
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_REQUESTS (default 10000), BENCH_KEYS (default 100),
 * BENCH_GATEWAY_RUNS (default 3, 0 to skip the gateway).
 */
import { generateKeyPairSync, hash, type KeyObject, verify } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { createProof } from '../src/bindings/dpop/proof.js'
import { p1363ToDer } from '../src/jose/ecdsa.js'
import { jwkThumbprint, type PublicJwk } from '../src/jose/jwk.js'
import { signCompact } from '../src/jose/sign.js'
import { createMemoryReplayCache } from '../src/replay/memory.js'
import { createVerifier, type ResourceRequest, type Verifier } from '../src/resource/index.js'
import { machine, median, printTable, result } from './report.js'
import { benchGateway, medianOf } from './resource-gateway.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000)
const KEYS = Number(process.env.BENCH_KEYS ?? 100)
const BLOCK = 500
const ISSUER = 'https://as.example'
const API = 'https://api.example'
const URL_PATH = '/orders'

const asKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const asJwk = { ...asKey.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }
const jwks = JSON.stringify({ keys: [asJwk] })
const metadata = JSON.stringify({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` })

/** Serves the issuer's metadata and keys from memory: no network inside the timed loops. */
const localFetch: typeof fetch = async (input) => {
  const url = String(input instanceof Request ? input.url : input)
  const body = url.endsWith('/jwks') ? jwks : metadata
  return new Response(body, { headers: { 'content-type': 'application/json' } })
}

interface Sample {
  request: ResourceRequest
  peer: Request
  token: { data: Buffer; der: Buffer }
  proof: { data: Buffer; der: Buffer; key: KeyObject }
  accessToken: string
}

/**
 * The signing input and the signature of a JWS, the signature as DER: the ceiling calls
 * `crypto.verify` the fastest way it can be called (a bare KeyObject and DER, no conversion).
 */
const split = (jws: string) => {
  const at = jws.lastIndexOf('.')
  const signature = Buffer.from(jws.slice(at + 1), 'base64url')
  return { data: Buffer.from(jws.slice(0, at)), der: p1363ToDer(signature, 32) }
}

async function makeSamples(): Promise<Sample[]> {
  const now = Math.floor(Date.now() / 1000)
  const clients = await Promise.all(
    Array.from({ length: KEYS }, async (_, i) => {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jkt = jwkThumbprint(pair.publicKey.export({ format: 'jwk' }) as PublicJwk)
      const accessToken = signCompact(
        'ES256',
        asKey.privateKey,
        { typ: 'at+jwt', kid: 'k1' },
        {
          iss: ISSUER,
          sub: `client-${i}`,
          aud: API,
          client_id: `client-${i}`,
          iat: now,
          exp: now + 3600,
          jti: `token-${i}`,
          scope: 'read',
          cnf: { jkt },
        },
      )
      return { pair, accessToken }
    }),
  )
  const samples: Sample[] = []
  for (let i = 0; i < REQUESTS; i++) {
    const { pair, accessToken } = clients[i % KEYS] as (typeof clients)[number]
    const proof = await createProof({
      key: pair,
      htm: 'GET',
      htu: `${API}${URL_PATH}`,
      accessToken,
    })
    const headers = { host: 'api.example', authorization: `DPoP ${accessToken}`, dpop: proof }
    samples.push({
      request: { method: 'GET', url: URL_PATH, headers },
      peer: new Request(`${API}${URL_PATH}`, { headers }),
      token: split(accessToken),
      proof: { ...split(proof), key: pair.publicKey },
      accessToken,
    })
  }
  return samples
}

const asPublic = asKey.publicKey

function ceiling(block: Sample[]): void {
  for (const s of block) {
    const ok =
      verify('sha256', s.token.data, asPublic, s.token.der) &&
      verify('sha256', s.proof.data, s.proof.key, s.proof.der)
    hash('sha256', s.accessToken, 'base64url')
    if (!ok) throw new Error('ceiling')
  }
}

const newVerifier = (tokenCacheSize: number) =>
  createVerifier({
    issuer: ISSUER,
    audience: API,
    jwksUri: `${ISSUER}/jwks`,
    fetch: localFetch,
    algs: ['ES256'],
    dpop: { algs: ['ES256'], iatWindow: 3600 },
    replayCache: createMemoryReplayCache({ maxEntries: REQUESTS * 3 + 1 }),
    publicUrl: API,
    tokenCacheSize,
  })

async function ours(verifier: Verifier, block: Sample[]): Promise<void> {
  for (const s of block) await verifier.verify(s.request)
}

const peerAs: oauth.AuthorizationServer = { issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` }
const peerOptions: oauth.ValidateJWTAccessTokenOptions = {
  [oauth.customFetch]: localFetch,
  [oauth.jwksCache]: {},
  [oauth.clockTolerance]: 3600,
  signingAlgorithms: ['ES256'],
}

async function peer(block: Sample[]): Promise<void> {
  for (const s of block) await oauth.validateJwtAccessToken(peerAs, s.peer, API, peerOptions)
}

async function timed(fn: () => unknown): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

/**
 * One round: each block under the ceiling, `verify()` uncached, `verify()` cached, and a quarter
 * of it under oauth4webapi (the slowest side). Fresh verifiers and replay caches per round: the
 * same proofs are verified in every round.
 */
async function round(samples: Sample[]) {
  const uncached = newVerifier(0)
  const cached = newVerifier(10_000)
  const t = { ceiling: 0, ours: 0, cached: 0, peer: 0 }
  let nPeer = 0
  for (let i = 0; i < samples.length; i += BLOCK) {
    const block = samples.slice(i, i + BLOCK)
    t.ceiling += await timed(() => ceiling(block))
    t.ours += await timed(() => ours(uncached, block))
    t.cached += await timed(() => ours(cached, block))
    const quarter = block.slice(0, BLOCK / 4)
    t.peer += await timed(() => peer(quarter))
    nPeer += quarter.length
  }
  const rate = (n: number, ms: number) => (n / ms) * 1000
  return {
    ceiling: rate(samples.length, t.ceiling),
    ours: rate(samples.length, t.ours),
    cached: rate(samples.length, t.cached),
    peer: rate(nPeer, t.peer),
  }
}

console.error(`preparing ${REQUESTS} requests from ${KEYS} client keys...`)
const samples = await makeSamples()
await round(samples.slice(0, 2000)) // warm-up: JIT, key imports, discovery

const runs: Array<Awaited<ReturnType<typeof round>>> = []
for (let r = 0; r < ROUNDS; r++) {
  const s = await round(samples)
  runs.push(s)
  console.error(
    `round ${r + 1}/${ROUNDS}: ours/ceiling ${(s.ours / s.ceiling).toFixed(3)}, cached/ceiling ${(s.cached / s.ceiling).toFixed(3)}, ours/oauth4webapi ${(s.ours / s.peer).toFixed(2)}`,
  )
}
const m = (f: (s: (typeof runs)[number]) => number) => median(runs.map(f))

printTable(
  `Resource verification, JWT access token + DPoP proof, ES256, one core (medians of ${ROUNDS} rounds)`,
  machine(),
  [
    ['ceiling: 2 ES256 verify + 1 SHA-256', m((s) => s.ceiling), 'req/s'],
    ['keybound verify(), no token cache', m((s) => s.ours), 'req/s'],
    ['keybound verify(), token cache', m((s) => s.cached), 'req/s'],
    ['oauth4webapi validateJwtAccessToken (peer)', m((s) => s.peer), 'req/s'],
    ['ratio ours / ceiling', m((s) => s.ours / s.ceiling), ''],
    ['ratio ours cached / ceiling', m((s) => s.cached / s.ceiling), ''],
    ['ratio ours / oauth4webapi', m((s) => s.ours / s.peer), ''],
  ],
)
result(
  'resource.ceiling',
  m((s) => s.ceiling),
  'ops/s',
)
result(
  'resource.verify',
  m((s) => s.ours),
  'ops/s',
)
result(
  'resource.verify_cached',
  m((s) => s.cached),
  'ops/s',
)
result(
  'resource.oauth4webapi',
  m((s) => s.peer),
  'ops/s',
)
result(
  'resource.verify_ratio_to_ceiling',
  m((s) => s.ours / s.ceiling),
  'ratio',
)
result(
  'resource.cached_ratio_to_ceiling',
  m((s) => s.cached / s.ceiling),
  'ratio',
)
result(
  'resource.ratio_vs_oauth4webapi',
  m((s) => s.ours / s.peer),
  'ratio',
)

if (Number(process.env.BENCH_GATEWAY_RUNS ?? 3) > 0) {
  const g = await benchGateway()
  printTable(
    `Gateway, DPoP-bound JWT + proof per request, trivial upstream (medians of ${g.ratios.length} runs)`,
    machine(),
    [
      ['direct to the upstream', medianOf(g.direct, (r) => r.rps), 'req/s'],
      ['through keybound gateway', medianOf(g.gateway, (r) => r.rps), 'req/s'],
      ['gateway p99 latency', medianOf(g.gateway, (r) => r.p99), 'ms'],
      ['gateway CPU per request', median(g.gatewayCpuMs) * 1000, 'µs'],
      ['ratio gateway / direct', median(g.ratios), ''],
    ],
  )
  result(
    'resource.direct_rps',
    medianOf(g.direct, (r) => r.rps),
    'req/s',
  )
  result(
    'resource.gateway_rps',
    medianOf(g.gateway, (r) => r.rps),
    'req/s',
  )
  result(
    'resource.gateway_p99',
    medianOf(g.gateway, (r) => r.p99),
    'ms',
  )
  result('resource.gateway_cpu_ms_per_req', median(g.gatewayCpuMs), 'ms')
  result('resource.gateway_rps_ratio_to_direct', median(g.ratios), 'ratio')
}
