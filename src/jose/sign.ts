/**
 * @module jose/sign
 *
 * Produces compact JWS (RFC 7515 §7.1) with a `KeyObject`: the server's access tokens.
 *
 * Why not `jose`: issuing a token is the hot path of the token endpoint, and `jose` signs
 * through WebCrypto (an async call and a key conversion per token). The mirror of
 * `signature.ts`, which verifies.
 */
import { constants, type KeyObject, sign } from 'node:crypto'
import { ALGS, type AsymmetricAlg } from './algs.js'
import { derToP1363 } from './ecdsa.js'

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Signs `payload` under the protected `header` (which must carry `alg`). */
export function signCompact(
  alg: AsymmetricAlg,
  key: KeyObject,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const input = `${encode({ ...header, alg })}.${encode(payload)}`
  const data = Buffer.from(input, 'latin1')
  const spec = ALGS[alg]
  let signature: Buffer
  if (spec.kty === 'EC') {
    // The bare KeyObject and DER, converted: see ecdsa.ts for why.
    signature = derToP1363(sign(spec.hash, data, key), (spec.signatureLength as number) / 2)
  } else if (spec.kty === 'OKP') signature = sign(null, data, key)
  else if (spec.pss) {
    signature = sign(spec.hash, data, {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    })
  } else signature = sign(spec.hash, data, key)
  return `${input}.${signature.toString('base64url')}`
}
