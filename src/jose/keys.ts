/**
 * @module jose/keys
 *
 * The signing keys of a client, as node `KeyObject`s or WebCrypto `CryptoKey`s, and the JWS
 * `alg` that fits each (RFC 7518 §3.1, RFC 8037 §3.1).
 *
 * This module runs in browsers too (it is part of `keybound/client`): it has no static import of
 * `node:crypto`. KeyObjects only exist where `node:crypto` does, so it is looked up at run time
 * (`process.getBuiltinModule`, Node 20.16 and later) and only used for them.
 */
import type { KeyObject, webcrypto } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose'
import { CodedTypeError } from '../errors.js'
import type { AsymmetricAlg } from './algs.js'
import type { PublicJwk } from './jwk.js'

type AnyKey = KeyObject | webcrypto.CryptoKey

/** `node:crypto` in Node (and runtimes that provide it), `undefined` in a browser. */
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as typeof import('node:crypto') | undefined

/** Whether `key` is a node `KeyObject` (there are none where `node:crypto` is absent). */
function isKeyObject(key: unknown): key is KeyObject {
  return nodeCrypto !== undefined && key instanceof nodeCrypto.KeyObject
}

/**
 * A private key and its public half. A WebCrypto private key may be non-extractable: only the
 * public key is ever exported.
 */
export interface KeyPair {
  readonly privateKey: AnyKey
  readonly publicKey: AnyKey
}

/** Accepts a {@link KeyPair}, or a private `KeyObject` whose public half is derived. */
export type SigningKey = KeyPair | KeyObject

export function toKeyPair(key: SigningKey): KeyPair {
  if (isKeyObject(key)) {
    if (key.type !== 'private') {
      throw new CodedTypeError('"key" must be a private key or a key pair', 'ERR_INVALID_ARG_VALUE')
    }
    return {
      privateKey: key,
      publicKey: (nodeCrypto as typeof import('node:crypto')).createPublicKey(key),
    }
  }
  if (typeof key !== 'object' || key === null || !key.privateKey || !key.publicKey) {
    throw new CodedTypeError(
      '"key" must be a private KeyObject or a key pair',
      'ERR_INVALID_ARG_TYPE',
    )
  }
  return key
}

const HASH_SIZES: Record<string, '256' | '384' | '512'> = {
  'SHA-256': '256',
  'SHA-384': '384',
  'SHA-512': '512',
}

/**
 * The `alg` a key signs with: fixed by the curve for EC and OKP keys, by the key's algorithm for
 * WebCrypto RSA keys, and `RS256` for an `rsa` KeyObject (pass `alg: 'PS256'` for RSASSA-PSS).
 */
export function algForKey(key: AnyKey): AsymmetricAlg {
  if (isKeyObject(key)) {
    const details = key.asymmetricKeyDetails ?? {}
    switch (key.asymmetricKeyType) {
      case 'ec':
        return ecAlg(details.namedCurve)
      case 'ed25519':
        return 'EdDSA'
      case 'ed448':
        return 'EdDSA'
      case 'rsa':
        return 'RS256'
      case 'rsa-pss':
        // Node cannot export an rsa-pss KeyObject as a JWK; an `rsa` key signs PS* as well.
        throw new CodedTypeError(
          'rsa-pss KeyObjects are not supported: use an "rsa" key with alg "PS256"',
          'ERR_INVALID_ARG_VALUE',
        )
    }
    throw new CodedTypeError(
      `unsupported key type ${key.asymmetricKeyType}`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
  const algorithm = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } }
  switch (algorithm.name) {
    case 'ECDSA':
      return ecAlg(algorithm.namedCurve)
    case 'Ed25519':
      return 'EdDSA'
    case 'RSA-PSS':
      return `PS${HASH_SIZES[algorithm.hash?.name ?? ''] ?? '256'}` as AsymmetricAlg
    case 'RSASSA-PKCS1-v1_5':
      return `RS${HASH_SIZES[algorithm.hash?.name ?? ''] ?? '256'}` as AsymmetricAlg
  }
  throw new CodedTypeError(`unsupported key algorithm ${algorithm.name}`, 'ERR_INVALID_ARG_VALUE')
}

function ecAlg(curve: string | undefined): AsymmetricAlg {
  switch (curve) {
    case 'P-256':
    case 'prime256v1':
      return 'ES256'
    case 'P-384':
    case 'secp384r1':
      return 'ES384'
    case 'P-521':
    case 'secp521r1':
      return 'ES512'
  }
  throw new CodedTypeError(`unsupported curve ${curve}`, 'ERR_INVALID_ARG_VALUE')
}

const publicJwks = new WeakMap<object, PublicJwk>()

/** The public JWK of a key, exported once per key object. */
export async function publicJwkOf(publicKey: AnyKey): Promise<PublicJwk> {
  let jwk = publicJwks.get(publicKey)
  if (!jwk) {
    const exported: JWK = await exportJWK(publicKey)
    if ('d' in exported) {
      throw new CodedTypeError('"publicKey" must be a public key', 'ERR_INVALID_ARG_VALUE')
    }
    const { kty, crv, x, y, n, e } = exported
    jwk = Object.fromEntries(
      Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined),
    ) as unknown as PublicJwk
    publicJwks.set(publicKey, jwk)
  }
  return jwk
}

/**
 * The JWK SHA-256 Thumbprint (RFC 7638 §3) of a key's public half, base64url-encoded: the `jkt`
 * an authorization server binds the client's tokens to (RFC 9449 §6.1). Computed with WebCrypto,
 * so it works in browsers; servers use the synchronous `jwkThumbprint` of `jose/jwk`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
 */
export async function jktOf(key: SigningKey): Promise<string> {
  return calculateJwkThumbprint(await publicJwkOf(toKeyPair(key).publicKey), 'sha256')
}
