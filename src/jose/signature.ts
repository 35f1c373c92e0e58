/**
 * @module jose/signature
 *
 * Verifies a JWS signature (RFC 7515 §5.2 step 8) with an already imported `KeyObject`.
 *
 * Why not `jose`: keybound uses `jose` for JOSE work everywhere else, but proof verification is
 * the hot path of every protected request, and `jose` (a WebCrypto library) re-imports the
 * embedded key and goes through `crypto.subtle` for each proof, which costs more than half the
 * throughput of a raw ES256 verification. Here the key is imported once per distinct header
 * (see bindings/dpop/verify.ts) and each proof costs one synchronous `crypto.verify`.
 */
import { constants, type KeyObject, verify } from 'node:crypto'
import { ALGS, type AsymmetricAlg } from './algs.js'
import { p1363ToDer } from './ecdsa.js'

/**
 * @param alg An alg already checked against the allow-list and the key.
 * @param signingInput `BASE64URL(header) || '.' || BASE64URL(payload)`, ASCII.
 * @param signature The decoded signature bytes.
 */
export function verifySignature(
  alg: AsymmetricAlg,
  key: KeyObject,
  signingInput: string,
  signature: Uint8Array,
): boolean {
  const spec = ALGS[alg]
  // ECDSA signatures in JWS are fixed-length R || S (RFC 7518 §3.4); anything else is refused
  // before it reaches OpenSSL.
  if (spec.signatureLength !== undefined && signature.length !== spec.signatureLength) return false
  const data = Buffer.from(signingInput, 'latin1')
  try {
    switch (spec.kty) {
      case 'EC':
        // The bare KeyObject and DER, converted: see ecdsa.ts for why.
        return verify(spec.hash, data, key, p1363ToDer(signature, signature.length / 2))
      case 'RSA':
        // RFC 8017 §8.1.2 and §8.2.2 step 1: the signature is exactly as long as the modulus.
        // OpenSSL accepts an RSASSA-PSS signature with its leading zero bytes stripped, which
        // would give one signed proof a second encoding.
        if (signature.length !== Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)) {
          return false
        }
        return spec.pss
          ? verify(
              spec.hash,
              data,
              {
                key,
                padding: constants.RSA_PKCS1_PSS_PADDING,
                saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
              },
              signature,
            )
          : verify(spec.hash, data, key, signature)
      case 'OKP':
        return verify(null, data, key, signature)
    }
  } catch {
    // OpenSSL throws on some malformed signatures (e.g. an RSA signature longer than the modulus);
    // for the caller that is simply a signature that does not verify.
    return false
  }
}
