/**
 * @module jose/generate
 */
import { generateKeyPair as joseGenerateKeyPair } from 'jose'
import type { AsymmetricAlg } from './algs.js'
import type { KeyPair } from './keys.js'

/**
 * Generates a key pair for `alg` as WebCrypto `CryptoKey`s. The private key is non-extractable
 * unless `extractable` is set (a key that never leaves the process cannot leak from it).
 */
export async function generateKeyPair(
  alg: AsymmetricAlg,
  options: { extractable?: boolean } = {},
): Promise<KeyPair> {
  // RFC 8037's `EdDSA` and RFC 9864's `Ed25519` both mean an Ed25519 key here.
  return joseGenerateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, {
    extractable: options.extractable ?? false,
  })
}
