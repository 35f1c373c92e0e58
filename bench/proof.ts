/**
 * `npm run bench:proof`: DPoP proofs verified per second by `verifyProof` on one core, side by
 * side with the ceiling (raw node:crypto ES256 verification with a pre-imported key) and with a
 * peer (jose's `compactVerify` with `EmbeddedJWK`, what most Node servers use), in one process,
 * interleaved block by block (500 proofs) so that the drift of a shared machine hits every side
 * alike; medians of the rounds.
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
import { p1363ToDer } from '../src/jose/ecdsa.js'
import { createMemoryReplayCache } from '../src/replay/memory.js'
import type { ReplayCache } from '../src/replay/types.js'
import { machine, median, printTable, result } from './report.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const PROOFS = Number(process.env.BENCH_PROOFS ?? 20_000)
const KEYS = Number(process.env.BENCH_KEYS ?? 100)
const NEW_KEY_PROOFS = Math.max(1000, Math.floor(PROOFS / 4))
const BLOCK = 500
const HTU = 'https://api.example.com/resource'
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.an-access-token-of-realistic-length-for-the-ath-claim.sig'

interface Sample {
  proof: string
  data: Buffer
  der: Buffer
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
      // The ceiling calls `crypto.verify` the fastest way it can be called: a bare KeyObject
      // and the DER signature OpenSSL takes, converted before the timed loop.
      der: p1363ToDer(Buffer.from(s, 'base64url'), 32),
      key: key.publicKey,
      jwk: key.jwk,
    })
  }
  return samples
}

/** Milliseconds taken by `fn`. */
async function timed(fn: () => unknown): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

function ceiling(samples: Sample[]): void {
  for (const s of samples) {
    if (!verify('sha256', s.data, s.key, s.der)) {
      throw new Error('ceiling')
    }
  }
}

function ceilingWithImport(samples: Sample[]): void {
  for (const s of samples) {
    const key = createPublicKey({ key: s.jwk, format: 'jwk' })
    if (!verify('sha256', s.data, key, s.der)) {
      throw new Error('ceiling')
    }
  }
}

async function ours(samples: Sample[], replayCache: ReplayCache): Promise<void> {
  const options = { htm: 'GET', htu: HTU, accessToken: TOKEN, maxAge: 3600, replayCache }
  for (const s of samples) await verifyProof(s.proof, options)
}

async function jose(samples: Sample[]): Promise<void> {
  for (const s of samples) await compactVerify(s.proof, EmbeddedJWK, { algorithms: ['ES256'] })
}

/**
 * One round over `samples`, in blocks: each block is timed under the ceiling, then under
 * keybound (then a quarter of it under jose). Returns the proofs per second of each side.
 */
async function round(samples: Sample[], base: (block: Sample[]) => void, withPeer: boolean) {
  const replayCache = createMemoryReplayCache({ maxEntries: samples.length + 1 })
  let tCeiling = 0
  let tOurs = 0
  let tJose = 0
  let nJose = 0
  for (let i = 0; i < samples.length; i += BLOCK) {
    const block = samples.slice(i, i + BLOCK)
    tCeiling += await timed(() => base(block))
    tOurs += await timed(() => ours(block, replayCache))
    if (withPeer) {
      const quarter = block.slice(0, BLOCK / 4)
      tJose += await timed(() => jose(quarter))
      nJose += quarter.length
    }
  }
  return {
    ceiling: (samples.length / tCeiling) * 1000,
    ours: (samples.length / tOurs) * 1000,
    jose: withPeer ? (nJose / tJose) * 1000 : Number.NaN,
  }
}

console.error(
  `preparing ${PROOFS} proofs from ${KEYS} keys and ${ROUNDS} x ${NEW_KEY_PROOFS} from new keys...`,
)
const repeating = await makeSamples(PROOFS, KEYS)
const freshBatches: Sample[][] = []
for (let r = 0; r < ROUNDS; r++) {
  freshBatches.push(await makeSamples(NEW_KEY_PROOFS, NEW_KEY_PROOFS))
}

// Warm-up: JIT, and the header cache for the repeating pool.
await round(repeating.slice(0, 2000), ceiling, true)

const same = { ceiling: [] as number[], ours: [] as number[], jose: [] as number[] }
const ratios = { ceiling: [] as number[], jose: [] as number[], newKey: [] as number[] }
const fresh = { ceiling: [] as number[], ours: [] as number[] }
for (let r = 0; r < ROUNDS; r++) {
  const s = await round(repeating, ceiling, true)
  same.ceiling.push(s.ceiling)
  same.ours.push(s.ours)
  same.jose.push(s.jose)
  ratios.ceiling.push(s.ours / s.ceiling)
  ratios.jose.push(s.ours / s.jose)
  const f = await round(freshBatches[r] as Sample[], ceilingWithImport, false)
  fresh.ceiling.push(f.ceiling)
  fresh.ours.push(f.ours)
  ratios.newKey.push(f.ours / f.ceiling)
  console.error(
    `round ${r + 1}/${ROUNDS}: ours/ceiling ${(s.ours / s.ceiling).toFixed(3)}, new keys ${(f.ours / f.ceiling).toFixed(3)}`,
  )
}

printTable(`DPoP proof verification, ES256, one core (medians of ${ROUNDS} rounds)`, machine(), [
  ['ceiling: node:crypto verify, pre-imported key', median(same.ceiling), 'proofs/s'],
  ['keybound verifyProof, repeating keys', median(same.ours), 'proofs/s'],
  ['jose compactVerify + EmbeddedJWK (peer)', median(same.jose), 'proofs/s'],
  ['ratio ours / ceiling', median(ratios.ceiling), ''],
  ['ratio ours / jose', median(ratios.jose), ''],
  ['ceiling: JWK import + verify', median(fresh.ceiling), 'proofs/s'],
  ['keybound verifyProof, every proof a new key', median(fresh.ours), 'proofs/s'],
  ['ratio ours / ceiling, new keys', median(ratios.newKey), ''],
])
result('proof.ceiling', median(same.ceiling), 'ops/s')
result('proof.verify', median(same.ours), 'ops/s')
result('proof.jose_compact_verify', median(same.jose), 'ops/s')
result('proof.verify_ratio_to_ceiling', median(ratios.ceiling), 'ratio')
result('proof.verify_ratio_to_jose', median(ratios.jose), 'ratio')
result('proof.ceiling_new_key', median(fresh.ceiling), 'ops/s')
result('proof.verify_new_key', median(fresh.ours), 'ops/s')
result('proof.verify_new_key_ratio_to_ceiling', median(ratios.newKey), 'ratio')
