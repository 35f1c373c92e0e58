/**
 * `npm run bench:proof`: DPoP proofs verified per second by `verifyProof` on one core, side by
 * side with the ceiling (raw node:crypto ES256 verification with a pre-imported key) and with a
 * peer (jose's `compactVerify` with `EmbeddedJWK`, what most Node servers use), in one process,
 * interleaved round by round; medians of the rounds.
 *
 * Two workloads:
 * - repeating keys: a pool of client keys, each sending many proofs (the normal case);
 * - new keys: every proof from a key never seen before (ceiling: JWK import + verify).
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_PROOFS (default 20000), BENCH_KEYS (default 100).
 */
import {
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  verify,
} from 'node:crypto'
import { compactVerify, EmbeddedJWK } from 'jose'
import { createProof } from '../src/bindings/dpop/proof.js'
import { verifyProof } from '../src/bindings/dpop/verify.js'
import { createMemoryReplayCache } from '../src/replay/memory.js'
import { machine, median, printTable, result } from './report.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const PROOFS = Number(process.env.BENCH_PROOFS ?? 20_000)
const KEYS = Number(process.env.BENCH_KEYS ?? 100)
const NEW_KEY_PROOFS = Math.max(1000, Math.floor(PROOFS / 4))
const HTU = 'https://api.example.com/resource'
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.an-access-token-of-realistic-length-for-the-ath-claim.sig'

interface Sample {
  proof: string
  data: Buffer
  signature: Buffer
  key: KeyObject
  jwk: JsonWebKey
}

async function makeSamples(count: number, keyCount: number): Promise<Sample[]> {
  const keys = Array.from({ length: keyCount }, () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    return { ...pair, jwk: pair.publicKey.export({ format: 'jwk' }) }
  })
  const samples: Sample[] = []
  for (let i = 0; i < count; i++) {
    const key = keys[i % keyCount] as (typeof keys)[number]
    const proof = await createProof({ key, htm: 'GET', htu: HTU, accessToken: TOKEN })
    const [h, p, s] = proof.split('.') as [string, string, string]
    samples.push({
      proof,
      data: Buffer.from(`${h}.${p}`),
      signature: Buffer.from(s, 'base64url'),
      key: key.publicKey,
      jwk: key.jwk,
    })
  }
  return samples
}

function rate(count: number, start: number): number {
  return count / ((performance.now() - start) / 1000)
}

function ceiling(samples: Sample[]): number {
  const start = performance.now()
  for (const s of samples) {
    if (!verify('sha256', s.data, { key: s.key, dsaEncoding: 'ieee-p1363' }, s.signature))
      throw new Error('ceiling')
  }
  return rate(samples.length, start)
}

function ceilingWithImport(samples: Sample[]): number {
  const start = performance.now()
  for (const s of samples) {
    const key = createPublicKey({ key: s.jwk, format: 'jwk' })
    if (!verify('sha256', s.data, { key, dsaEncoding: 'ieee-p1363' }, s.signature))
      throw new Error('ceiling')
  }
  return rate(samples.length, start)
}

async function ours(samples: Sample[]): Promise<number> {
  const replayCache = createMemoryReplayCache({ maxEntries: samples.length + 1 })
  const options = { htm: 'GET', htu: HTU, accessToken: TOKEN, maxAge: 3600, replayCache }
  const start = performance.now()
  for (const s of samples) await verifyProof(s.proof, options)
  return rate(samples.length, start)
}

async function jose(samples: Sample[]): Promise<number> {
  const start = performance.now()
  for (const s of samples) await compactVerify(s.proof, EmbeddedJWK, { algorithms: ['ES256'] })
  return rate(samples.length, start)
}

console.error(
  `preparing ${PROOFS} proofs from ${KEYS} keys and ${ROUNDS} x ${NEW_KEY_PROOFS} from new keys...`,
)
const repeating = await makeSamples(PROOFS, KEYS)
const fresh: Sample[][] = []
for (let r = 0; r < ROUNDS; r++) fresh.push(await makeSamples(NEW_KEY_PROOFS, NEW_KEY_PROOFS))

// Warm-up: JIT, the header cache for the repeating pool.
ceiling(repeating.slice(0, 2000))
await ours(repeating.slice(0, 2000))
await jose(repeating.slice(0, 500))

const rows = {
  ceiling: [] as number[],
  ours: [] as number[],
  jose: [] as number[],
  ratio: [] as number[],
  joseRatio: [] as number[],
}
const newKey = { ceiling: [] as number[], ours: [] as number[], ratio: [] as number[] }
for (let r = 0; r < ROUNDS; r++) {
  const c = ceiling(repeating)
  const o = await ours(repeating)
  const j = await jose(repeating.slice(0, Math.floor(PROOFS / 4)))
  rows.ceiling.push(c)
  rows.ours.push(o)
  rows.jose.push(j)
  rows.ratio.push(o / c)
  rows.joseRatio.push(o / j)
  const batch = fresh[r] as Sample[]
  const nc = ceilingWithImport(batch)
  const no = await ours(batch)
  newKey.ceiling.push(nc)
  newKey.ours.push(no)
  newKey.ratio.push(no / nc)
  console.error(
    `round ${r + 1}/${ROUNDS}: ours/ceiling ${(o / c).toFixed(3)}, new keys ${(no / nc).toFixed(3)}`,
  )
}

printTable(`DPoP proof verification, ES256, one core (medians of ${ROUNDS} rounds)`, machine(), [
  ['ceiling: node:crypto verify, pre-imported key', median(rows.ceiling), 'proofs/s'],
  ['keybound verifyProof, repeating keys', median(rows.ours), 'proofs/s'],
  ['jose compactVerify + EmbeddedJWK (peer)', median(rows.jose), 'proofs/s'],
  ['ratio ours / ceiling', median(rows.ratio), ''],
  ['ratio ours / jose', median(rows.joseRatio), ''],
  ['ceiling: JWK import + verify', median(newKey.ceiling), 'proofs/s'],
  ['keybound verifyProof, every proof a new key', median(newKey.ours), 'proofs/s'],
  ['ratio ours / ceiling, new keys', median(newKey.ratio), ''],
])
result('proof.ceiling', median(rows.ceiling), 'ops/s')
result('proof.verify', median(rows.ours), 'ops/s')
result('proof.jose_compact_verify', median(rows.jose), 'ops/s')
result('proof.verify_ratio_to_ceiling', median(rows.ratio), 'ratio')
result('proof.verify_ratio_to_jose', median(rows.joseRatio), 'ratio')
result('proof.ceiling_new_key', median(newKey.ceiling), 'ops/s')
result('proof.verify_new_key', median(newKey.ours), 'ops/s')
result('proof.verify_new_key_ratio_to_ceiling', median(newKey.ratio), 'ratio')
