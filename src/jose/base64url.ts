/**
 * @module jose/base64url
 *
 * Strict base64url (RFC 4648 §5) as JWS requires it (RFC 7515 §2: "with all trailing '='
 * characters omitted ... and without the inclusion of any line breaks, whitespace, or other
 * additional characters"). `Buffer.from(s, 'base64url')` is lenient (it skips invalid characters
 * and accepts padding), so the input is checked first.
 */

import { isUtf8 } from 'node:buffer'

const ALPHABET = /^[A-Za-z0-9_-]*$/

/** The value (0..63) of each base64url character, by char code. */
const VALUES = new Int8Array(128).fill(-1)
for (const [i, c] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
].entries()) {
  VALUES[c.charCodeAt(0)] = i
}

/**
 * Whether `s` is canonical unpadded base64url: only the URL-safe alphabet, a length that is not
 * 1 mod 4, and zero bits in the unused low bits of the last character. The last rule makes the
 * encoding of a byte string unique, so two different strings never decode to the same bytes.
 */
export function isBase64url(s: string): boolean {
  if (!ALPHABET.test(s)) return false
  const rest = s.length % 4
  if (rest === 1) return false
  if (rest === 0) return true
  const last = VALUES[s.charCodeAt(s.length - 1)] as number
  // 2 chars carry 12 bits for 8 (4 unused); 3 chars carry 18 bits for 16 (2 unused).
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0
}

/**
 * Decodes the canonical base64url text `s[start, end)` into `out`, in plain JavaScript: the
 * hot path of signature verification (see `signature.ts`), where calling into the runtime and
 * allocating cost more than the loop.
 *
 * @returns the number of bytes written, or -1 when the text is not canonical base64url (see
 *   {@link isBase64url}) or does not fit in `out`.
 */
export function decodeBase64urlInto(
  s: string,
  start: number,
  end: number,
  out: Uint8Array,
): number {
  const length = end - start
  if (length % 4 === 1 || (length * 3) >> 2 > out.length) return -1
  let written = 0
  let bits = 0
  let buffer = 0
  for (let i = start; i < end; i++) {
    const code = s.charCodeAt(i)
    const value = code < 128 ? (VALUES[code] as number) : -1
    if (value === -1) return -1
    buffer = ((buffer << 6) | value) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[written++] = (buffer >> bits) & 0xff
    }
  }
  // The unused low bits of the last character must be zero (see isBase64url).
  return (buffer & ((1 << bits) - 1)) === 0 ? written : -1
}

/** Decodes canonical base64url, or returns `undefined` when `s` is not (see {@link isBase64url}). */
export function decodeBase64url(s: string): Buffer | undefined {
  return isBase64url(s) ? Buffer.from(s, 'base64url') : undefined
}

/**
 * Where {@link decodeBase64urlText} decodes: one buffer, reused, instead of a new `Buffer` per
 * segment. This runs for every proof and every access token, and between two ECDSA
 * verifications each allocation and each extra call costs several times what it costs in a
 * tight loop (docs/benchmarks.md). Sound because the bytes are read synchronously, turned into a
 * string, and no view of the buffer ever leaves this module. 12 KiB holds the largest segment
 * any caller accepts (a 16 KiB access token); a longer one gets its own buffer.
 */
const scratch = Buffer.allocUnsafe(12 * 1024)

/**
 * The text that canonical base64url `s` encodes, read as UTF-8: a JOSE Header or a JWT Claims
 * Set before `JSON.parse` (RFC 7515 §5.2 steps 2–3, RFC 7519 §7.2 steps 7–8).
 *
 * @returns the text; `undefined` when `s` is empty or not canonical base64url (see
 *   {@link isBase64url}); `null` when the bytes are not valid UTF-8, because decoding them
 *   lossily would let two byte strings read as one text (RFC 7519 §7.2 step 10).
 */
export function decodeBase64urlText(s: string): string | undefined | null {
  if (s.length === 0 || !isBase64url(s)) return undefined
  const bytes = s.length <= (scratch.length / 3) * 4 ? scratch : Buffer.from(s, 'base64url')
  const length = bytes === scratch ? scratch.write(s, 0, 'base64url') : bytes.length
  const text = bytes.toString('utf8', 0, length)
  // Invalid sequences decode to U+FFFD; only a text holding one needs the bytes checked.
  if (text.includes('\uFFFD') && !isUtf8(bytes.subarray(0, length))) return null
  return text
}

export function encodeBase64url(input: Uint8Array | string): string {
  return Buffer.from(input as Uint8Array).toString('base64url')
}
