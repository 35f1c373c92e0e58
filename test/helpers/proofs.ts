/**
 * Builds DPoP proofs byte by byte, so tests can craft what no honest client would send.
 */
import { constants, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { ALGS, type AsymmetricAlg } from '../../src/jose/algs.js'

export const b64u = (input: string | Uint8Array) => Buffer.from(input).toString('base64url')

export interface TestKey {
  alg: AsymmetricAlg
  privateKey: KeyObject
  publicKey: KeyObject
  jwk: Record<string, unknown>
}

export function testKey(alg: AsymmetricAlg, curve?: 'Ed448'): TestKey {
  const spec = ALGS[alg]
  const pair =
    spec.kty === 'EC'
      ? generateKeyPairSync('ec', { namedCurve: spec.crv?.[0] as string })
      : spec.kty === 'RSA'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : curve === 'Ed448'
          ? generateKeyPairSync('ed448')
          : generateKeyPairSync('ed25519')
  return { alg, ...pair, jwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown> }
}

/** Signs `input` as a JWS signature for `alg` (ECDSA in the JWS R || S form). */
export function signWith(alg: AsymmetricAlg, key: KeyObject, input: string): Buffer {
  const spec = ALGS[alg]
  const data = Buffer.from(input)
  if (spec.kty === 'EC') return sign(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' })
  if (spec.kty === 'OKP') return sign(null, data, key)
  if (spec.pss) {
    return sign(spec.hash, data, {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    })
  }
  return sign(spec.hash, data, key)
}

export interface RawProof {
  /** The header as an object, or raw JSON text. */
  header?: Record<string, unknown> | string
  /** The claims as an object, or raw JSON text. */
  payload?: Record<string, unknown> | string
}

/**
 * A proof whose header and payload default to a valid ES256 proof for `POST https://as.example/token`
 * at `iat`, signed by `key`.
 */
export function rawProof(key: TestKey, iat: number, raw: RawProof = {}): string {
  const header = raw.header ?? { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk }
  const payload = raw.payload ?? {
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    htm: 'POST',
    htu: 'https://as.example/token',
    iat,
  }
  const text = (v: Record<string, unknown> | string) =>
    typeof v === 'string' ? v : JSON.stringify(v)
  const input = `${b64u(text(header))}.${b64u(text(payload))}`
  return `${input}.${b64u(signWith(key.alg, key.privateKey, input))}`
}
