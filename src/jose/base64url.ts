/**
 * @module jose/base64url
 *
 * Strict base64url (RFC 4648 §5) as JWS requires it (RFC 7515 §2: "with all trailing '='
 * characters omitted ... and without the inclusion of any line breaks, whitespace, or other
 * additional characters"). `Buffer.from(s, 'base64url')` is lenient (it skips invalid characters
 * and accepts padding), so the input is checked first.
 */

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

/** Decodes canonical base64url, or returns `undefined` when `s` is not (see {@link isBase64url}). */
export function decodeBase64url(s: string): Buffer | undefined {
  return isBase64url(s) ? Buffer.from(s, 'base64url') : undefined
}

export function encodeBase64url(input: Uint8Array | string): string {
  return Buffer.from(input as Uint8Array).toString('base64url')
}
