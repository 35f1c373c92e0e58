/**
 * @module jose/ecdsa
 *
 * The two encodings of an ECDSA signature: JWS's fixed-length `R || S` (RFC 7518 §3.4) and
 * OpenSSL's DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3, `SEQUENCE { r INTEGER, s INTEGER }`).
 *
 * Why convert by hand: `node:crypto` takes and gives `R || S` through an options object
 * (`{ key, dsaEncoding: 'ieee-p1363' }`), and on Node 24 that path costs more than the signature
 * itself (sign about 16,000/s against 37,000/s with the bare `KeyObject` and DER on one core of
 * the benchmark machine; verify 9,000/s against 13,000/s). The conversion is a few byte copies.
 * It is one to one: each `R || S` has exactly one minimal DER encoding, so no signature gets a
 * second form.
 */

/** `R || S` of `size`-byte halves → DER, in a buffer of its own. */
export function p1363ToDer(signature: Uint8Array, size: number): Buffer {
  const out = Buffer.allocUnsafe(MAX_DER_LENGTH)
  return out.subarray(0, writeDer(signature, size, out))
}

/** The longest DER signature {@link writeDer} writes (P-521: 9 bytes of framing). */
export const MAX_DER_LENGTH = 2 * 66 + 9

/**
 * `R || S` of `size`-byte halves → DER, written into `out` from index 0; returns its length.
 * Writing into a buffer the caller reuses allocates nothing: this runs per verification.
 */
export function writeDer(signature: Uint8Array, size: number, out: Uint8Array): number {
  // Each half as a minimal DER INTEGER (X.690 §8.3): leading zero bytes dropped, one 0x00 put
  // back when the first remaining byte has its high bit set (it would read as negative).
  let r = 0
  while (r < size - 1 && signature[r] === 0) r++
  let s = size
  while (s < 2 * size - 1 && signature[s] === 0) s++
  const rPad = (signature[r] as number) & 0x80 ? 1 : 0
  const sPad = (signature[s] as number) & 0x80 ? 1 : 0
  const rLength = size - r + rPad
  const sLength = 2 * size - s + sPad
  const body = 4 + rLength + sLength
  let i = 0
  out[i++] = 0x30
  if (body >= 0x80) out[i++] = 0x81 // P-521 signatures exceed 127 bytes: a long-form length
  out[i++] = body
  out[i++] = 0x02
  out[i++] = rLength
  if (rPad) out[i++] = 0
  for (let k = r; k < size; k++) out[i++] = signature[k] as number
  out[i++] = 0x02
  out[i++] = sLength
  if (sPad) out[i++] = 0
  for (let k = s; k < 2 * size; k++) out[i++] = signature[k] as number
  return i
}

/** DER (as OpenSSL signs) → `R || S` of `size`-byte halves. */
export function derToP1363(der: Uint8Array, size: number): Buffer {
  // SEQUENCE, a length of one byte or 0x81 + one byte (P-521's signatures exceed 127 bytes).
  let i = der[1] === 0x81 ? 3 : 2
  const out = Buffer.alloc(2 * size)
  for (let half = 0; half < 2; half++) {
    const length = der[i + 1] as number
    let value = der.subarray(i + 2, i + 2 + length)
    if (value.length > size) value = value.subarray(value.length - size) // the sign byte
    out.set(value, half * size + size - value.length)
    i += 2 + length
  }
  return out
}
