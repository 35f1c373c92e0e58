/**
 * @module server/tokens/keys
 *
 * The server's signing keys, kept in the store so that every instance signs with and publishes
 * the same keys, and rotated: a key signs for `rotationPeriod`, then stays published in `/jwks`
 * for `retention` more so that tokens it signed still verify.
 *
 * The next key is published before it signs (its `created_at` is the moment it takes over):
 * {@link prepublication} ahead, so that every instance of a fleet has read it from the store
 * (each re-reads every minute) and resource servers have had time to refresh their cached
 * JWK Sets before the first token it signs reaches them. Each key is made once: of several
 * instances making the same one at the same moment (the first key of an empty store, or a
 * successor), the store keeps one and the others read it.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { AsymmetricAlg } from '../../jose/algs.js'
import { jwkThumbprint, type PublicJwk } from '../../jose/jwk.js'
import type { SigningKeyRecord, Store } from '../../store/types.js'

export interface ActiveKey {
  readonly kid: string
  readonly alg: AsymmetricAlg
  readonly key: KeyObject
}

export interface KeyPolicy {
  /** Algorithms to keep a key for; the first one signs access tokens. */
  algs: readonly AsymmetricAlg[]
  /** Seconds a key signs before a new one replaces it. */
  rotationPeriod: number
  /** Seconds a replaced key stays published. */
  retention: number
}

function generate(alg: AsymmetricAlg): KeyObject {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    case 'ES384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey
    case 'ES512':
      return generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey
    case 'EdDSA':
    case 'Ed25519':
      return generateKeyPairSync('ed25519').privateKey
    default:
      return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  }
}

const now = () => Math.floor(Date.now() / 1000)

/**
 * Seconds before a key retires that its successor is published: a day, or half the rotation
 * period when that is shorter (a test or demo setting).
 */
export function prepublication(rotationPeriod: number): number {
  return Math.min(86_400, Math.floor(rotationPeriod / 2))
}

function createRecord(alg: AsymmetricAlg, signsFrom: number, policy: KeyPolicy): SigningKeyRecord {
  const privateKey = generate(alg)
  const publicJwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>) }
  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) delete publicJwk[member]
  const kid = jwkThumbprint(publicJwk as unknown as PublicJwk)
  return {
    kid,
    alg,
    private_jwk: privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
    public_jwk: { ...publicJwk, kid, alg, use: 'sig' },
    created_at: signsFrom,
    retires_at: signsFrom + policy.rotationPeriod,
    expires_at: signsFrom + policy.rotationPeriod + policy.retention,
  }
}

export class SigningKeys {
  #records: SigningKeyRecord[] = []
  #active = new Map<string, ActiveKey>()
  readonly #store: Store
  readonly #policy: KeyPolicy

  private constructor(store: Store, policy: KeyPolicy) {
    this.#store = store
    this.#policy = policy
  }

  /** Loads the keys from the store and creates any that is missing or due for rotation. */
  static async load(store: Store, policy: KeyPolicy): Promise<SigningKeys> {
    const keys = new SigningKeys(store, policy)
    await keys.refresh()
    return keys
  }

  /**
   * Re-reads the store (keys another instance created) and rotates keys whose signing period
   * is over. Called at start and then periodically.
   */
  async refresh(at = now()): Promise<void> {
    let records = await this.#store.listSigningKeys(at)
    let made = false
    for (const alg of this.#policy.algs) {
      // The keys of `alg` that sign now or will: the last to retire decides what is missing.
      const lastRetires = Math.max(
        at,
        ...records.filter((r) => r.alg === alg && r.retires_at > at).map((r) => r.retires_at),
      )
      // None (lastRetires is now): one that signs at once. One retiring soon: its successor,
      // published now.
      if (lastRetires - at <= prepublication(this.#policy.rotationPeriod)) {
        const record = createRecord(alg, lastRetires, this.#policy)
        // Unless another instance made it first: then its key is read below.
        await this.#store.insertSigningKeyUnless(record, lastRetires)
        made = true
      }
    }
    if (made) records = await this.#store.listSigningKeys(at)
    this.#records = records
    this.#active = new Map()
    for (const alg of this.#policy.algs) {
      // The newest that has started signing; a published successor waits for its time.
      const record = records.find((r) => r.alg === alg && r.created_at <= at && r.retires_at > at)
      if (record) {
        this.#active.set(alg, {
          kid: record.kid,
          alg,
          key: createPrivateKey({ key: record.private_jwk as never, format: 'jwk' }),
        })
      }
    }
  }

  /** The key that signs access tokens now. */
  current(): ActiveKey {
    const key = this.#active.get(this.#policy.algs[0] as string)
    if (!key) throw new Error('no active signing key')
    return key
  }

  /** The JWK Set of `/jwks`: every key not yet expired, current and retired (RFC 7517 §5). */
  jwks(): { keys: Record<string, unknown>[] } {
    return { keys: this.#records.map((r) => r.public_jwk) }
  }
}
