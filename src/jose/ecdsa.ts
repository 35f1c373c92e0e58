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

/** `R || S` of `size`-byte halves → DER. */
export function p1363ToDer(signature: Uint8Array, size: number): Buffer {
  const r = integer(signature.subarray(0, size))
  const s = integer(signature.subarray(size, 2 * size))
  const body = r.length + s.length
  const head = body < 0x80 ? [0x30, body] : [0x30, 0x81, body]
  const out = Buffer.allocUnsafe(head.length + body)
  out.set(head, 0)
  out.set(r, head.length)
  out.set(s, head.length + r.length)
  return out
}

/** A minimal DER INTEGER (RFC 3279 via X.690 §8.3) of an unsigned big-endian number. */
function integer(bytes: Uint8Array): Uint8Array {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const pad = (bytes[start] as number) & 0x80 ? 1 : 0
  const length = bytes.length - start + pad
  const out = new Uint8Array(2 + length)
  out[0] = 0x02
  out[1] = length
  out.set(bytes.subarray(start), 2 + pad)
  return out
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
