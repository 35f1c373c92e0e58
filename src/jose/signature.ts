/**
 * @module jose/signature
 *
 * Verifies the signature of a compact JWS (RFC 7515 §5.2 step 8) with an already imported
 * `KeyObject`.
 *
 * Why not `jose`: keybound uses `jose` for JOSE work everywhere else, but proof verification is
 * the hot path of every protected request, and `jose` (a WebCrypto library) re-imports the
 * embedded key and goes through `crypto.subtle` for each proof, which costs more than half the
 * throughput of a raw ES256 verification. Here the key is imported once per distinct header
 * (see bindings/dpop/verify.ts) and each proof costs one synchronous `crypto.verify`.
 *
 * Why the scratch buffers: between two ECDSA verifications, every allocation and every call
 * into the runtime costs several times what it costs in a tight loop, while plain JavaScript
 * loops hardly cost more (docs/benchmarks.md). So the signing input is copied (one call) and the
 * signature decoded (a loop) into buffers reused from call to call, and handed to OpenSSL as
 * views made once per length. Sound because `crypto.verify` is synchronous and reads them before it
 * returns, and no view ever leaves this module.
 */
import { constants, type KeyObject, verify } from 'node:crypto'
import { ALGS, type AsymmetricAlg } from './algs.js'
import { decodeBase64url, decodeBase64urlInto } from './base64url.js'
import { MAX_DER_LENGTH, writeDer } from './ecdsa.js'

/** A buffer reused across calls, with a view of each length asked for, made once. */
class Scratch {
  readonly bytes: Buffer
  readonly #views: (Buffer | undefined)[]

  constructor(size: number) {
    // Its own memory, not a slice of Buffer's shared pool.
    this.bytes = Buffer.allocUnsafeSlow(size)
    this.#views = new Array<Buffer | undefined>(size + 1).fill(undefined)
  }

  /** The first `length` bytes. */
  view(length: number): Buffer {
    let view = this.#views[length]
    if (view === undefined) {
      view = this.bytes.subarray(0, length)
      this.#views[length] = view
    }
    return view
  }
}

/** Signing inputs up to the longest JWT a resource server accepts (resource/jwt-access-token.ts). */
const input = new Scratch(16 * 1024)
/** Signatures up to a 16384-bit RSA key's. */
const raw = new Scratch(2048)
const der = new Scratch(MAX_DER_LENGTH)

/**
 * @param alg An alg already checked against the allow-list and the key.
 * @param jws The compact serialization, `BASE64URL(header) '.' BASE64URL(payload) '.'
 *   BASE64URL(signature)`, its header (and, for a proof, payload) already read.
 * @param signatureStart Where the signature segment begins: one past the second '.'.
 * @returns whether the signature verifies; `undefined` when the signature segment is empty or
 *   not canonical base64url.
 */
export function verifyJwsSignature(
  alg: AsymmetricAlg,
  key: KeyObject,
  jws: string,
  signatureStart: number,
): boolean | undefined {
  let signature: Uint8Array
  const encodedLength = jws.length - signatureStart
  if (encodedLength === 0) return undefined
  if ((encodedLength * 3) >> 2 <= raw.bytes.length) {
    const length = decodeBase64urlInto(jws, signatureStart, jws.length, raw.bytes)
    if (length === -1) return undefined
    signature = raw.view(length)
  } else {
    const decoded = decodeBase64url(jws.slice(signatureStart))
    if (decoded === undefined) return undefined
    signature = decoded
  }
  return verifySignature(alg, key, signingInput(jws, signatureStart - 1), signature)
}

/** The bytes of `jws[0, end)`: ASCII when it is a JWS, read as Latin-1 (one byte per character). */
function signingInput(jws: string, end: number): Uint8Array {
  if (end > input.bytes.length) return Buffer.from(jws.slice(0, end), 'latin1')
  // One copy by the runtime: faster than a loop over `charCodeAt`, which must also handle
  // the sliced strings that header values are cut into.
  input.bytes.write(jws, 0, end, 'latin1')
  return input.view(end)
}

function verifySignature(
  alg: AsymmetricAlg,
  key: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  const spec = ALGS[alg]
  try {
    switch (spec.kty) {
      case 'EC':
        // ECDSA signatures in JWS are fixed-length R || S (RFC 7518 §3.4); anything else is
        // refused before it reaches OpenSSL. The bare KeyObject and DER: see ecdsa.ts for why.
        if (signature.length !== spec.signatureLength) return false
        return verify(
          spec.hash,
          data,
          key,
          der.view(writeDer(signature, signature.length / 2, der.bytes)),
        )
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
