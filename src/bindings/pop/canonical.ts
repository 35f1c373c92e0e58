/**
 * @module bindings/pop/canonical
 *
 * The request description of a signed-request PoP token (draft-ietf-oauth-signed-http-request
 * §3, §4), built exactly as IdentityModel.HttpSigning 1.0.0 builds it, so that keybound and the
 * .NET stack hash the same bytes. Section numbers `§n` below are those of
 * `pop-wire-format.md`, the byte-level spec read from the .NET sources.
 *
 * Every rule is here once, for both sides; only the SHA-256 primitive differs (`hash.ts`): the
 * synchronous exports (`asciiHash`, `queryParam`, `headerParam`, `bodyParam`) hash with
 * `node:crypto` for the verifier, the signer hashes the same bytes (`asciiBytes`, `queryList`,
 * `headerList`, `bodyBytes`) with WebCrypto. No static `node:crypto` import: this module is
 * part of `keybound/client`, which runs in browsers.
 */
import { sha256Sync } from './hash.js'

/** A covered list, `[names, hash]` (wire format §2.4 step 6, §2.5 step 6). */
export type PopList = [string[], string]

/** One name/value pair of the query or of the headers, in request order. */
export type PopPair = readonly [name: string, value: string]

/** `m`: the HTTP method as sent (§2.3). */
export function methodParam(method: string): string {
  return method
}

/**
 * `u`: the host, lower-cased (§2.3, System.Uri lower-cases it). The caller chooses whether to
 * include `:port`: a .NET client never does, a .NET verifier compares with the Host header,
 * which carries a non-default port (§3.3).
 */
export function hostParam(host: string): string {
  return host.toLowerCase()
}

/** The host without its `:port` (the .NET client's `Uri.Host`, §2.3, §3.3), lower-cased. */
export function hostWithoutPort(host: string): string {
  const h = host.toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end === -1 ? h : h.slice(0, end + 1)
  }
  const colon = h.lastIndexOf(':')
  return colon === -1 || h.indexOf(':') !== colon ? h : h.slice(0, colon)
}

/** `p`: the percent-encoded path without the query, starting with `/` (§2.3 `AbsolutePath`). */
export function pathParam(path: string): string {
  const q = path.indexOf('?')
  const p = q === -1 ? path : path.slice(0, q)
  return p.startsWith('/') ? p : `/${p}`
}

/**
 * base64url-nopad(SHA-256(ASCII bytes of `text`)), where every non-ASCII character becomes `?`
 * (0x3F) first (§2.4 step 5: `Encoding.ASCII.GetBytes`). A surrogate pair gives one `?`, as the
 * .NET replacement fallback takes the pair as one unknown character (§7: not covered by a
 * .NET test; avoid non-ASCII in signed values).
 */
export function asciiHash(text: string): string {
  return sha256Sync(asciiBytes(text))
}

/**
 * The bytes `Encoding.ASCII.GetBytes(text)` gives (§2.4 step 5): every non-ASCII character, a
 * surrogate pair counted as one, becomes `?` (0x3F).
 */
export function asciiBytes(text: string): Uint8Array {
  // Only ASCII is left, whose UTF-8 encoding is the ASCII one.
  return new TextEncoder().encode(text.replace(/[\u{80}-\u{10ffff}]/gu, '?'))
}

/**
 * .NET `StringComparer.OrdinalIgnoreCase`: compares the `ToUpperInvariant` UTF-16 code units
 * (§2.4 step 3), so `"a" < "_"` unlike a plain ordinal compare. Upper-casing is per code unit
 * (simple case mapping: a character whose upper case is longer, like `ß`, stays as it is).
 */
export function compareOrdinalIgnoreCase(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = upperUnit(a.charCodeAt(i))
    const y = upperUnit(b.charCodeAt(i))
    if (x !== y) return x - y
  }
  return a.length - b.length
}

function upperUnit(c: number): number {
  if (c < 0x61) return c
  if (c <= 0x7a) return c - 0x20
  if (c < 0x80) return c
  const u = String.fromCharCode(c).toUpperCase()
  return u.length === 1 ? u.charCodeAt(0) : c
}

/** Stable sort by value, OrdinalIgnoreCase (§2.4 step 3, `Enumerable.OrderBy`). */
export function sortByValue(pairs: readonly PopPair[]): PopPair[] {
  // Array.prototype.sort is stable (ECMAScript 2019).
  return [...pairs].sort((a, b) => compareOrdinalIgnoreCase(a[1], b[1]))
}

/**
 * Decodes one `application/x-www-form-urlencoded` component as `FormDataCollection` does
 * (§2.4 step 1): `+` is a space, `%XX` are UTF-8 bytes. A malformed escape is kept as is.
 */
export function decodeComponent(s: string): string {
  const plus = s.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(plus)
  } catch {
    return plus.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run)
      } catch {
        return run
      }
    })
  }
}

/**
 * The decoded query pairs in request order (§2.4 step 1): the leading `?` dropped, split on
 * `&`, names and values decoded; a parameter without `=` has an empty value, an empty segment
 * is skipped.
 */
export function parseQuery(query: string): PopPair[] {
  const q = query.startsWith('?') ? query.slice(1) : query
  const pairs: PopPair[] = []
  for (const part of q.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = eq === -1 ? part : part.slice(0, eq)
    const value = eq === -1 ? '' : part.slice(eq + 1)
    pairs.push([decodeComponent(name), decodeComponent(value)])
  }
  return pairs
}

/**
 * The query pairs as IdentityModel's OWIN verifier sees them (§3.3, Katana `Request.Query`):
 * split on `&` and `;`, a parameter without `=` skipped, names and values decoded.
 */
export function parseQueryKatana(query: string): PopPair[] {
  const q = query.startsWith('?') ? query.slice(1) : query
  const pairs: PopPair[] = []
  for (const part of q.split(/[&;]/)) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    pairs.push([decodeComponent(part.slice(0, eq)), decodeComponent(part.slice(eq + 1))])
  }
  return pairs
}

/** The string hashed for `q`: `name=value` joined by `&` (§2.4 step 4). */
export function queryString(pairs: readonly PopPair[]): string {
  return pairs.map(([n, v]) => `${n}=${v}`).join('&')
}

/** The string hashed for `h`: `name: value` joined by LF, names lower-cased (§2.5 step 4). */
export function headerString(pairs: readonly PopPair[]): string {
  return pairs.map(([n, v]) => `${n.toLowerCase()}: ${v}`).join('\n')
}

/** A covered list before hashing: the names in order and the ASCII bytes of its string. */
export interface PopListInput {
  readonly names: string[]
  readonly bytes: Uint8Array
}

/**
 * What `q` hashes (§2.4 steps 3-5): the pairs (already decoded and filtered) sorted by value,
 * their names, and the ASCII bytes of their string; `undefined` when there is none (§2.3:
 * omitted when empty).
 */
export function queryList(pairs: readonly PopPair[]): PopListInput | undefined {
  if (pairs.length === 0) return undefined
  const sorted = sortByValue(pairs)
  return { names: sorted.map(([n]) => n), bytes: asciiBytes(queryString(sorted)) }
}

/**
 * What `h` hashes (§2.5 steps 3-5): the header pairs (one per value of a multi-valued header)
 * sorted by value, their lower-cased names, and the ASCII bytes of their string; `undefined`
 * when there is none.
 */
export function headerList(pairs: readonly PopPair[]): PopListInput | undefined {
  if (pairs.length === 0) return undefined
  const sorted = sortByValue(pairs)
  return { names: sorted.map(([n]) => n.toLowerCase()), bytes: asciiBytes(headerString(sorted)) }
}

/** `q` (§2.4), hashed synchronously: `[names, hash]`, or `undefined` when there is no pair. */
export function queryParam(pairs: readonly PopPair[]): PopList | undefined {
  const list = queryList(pairs)
  return list && [list.names, sha256Sync(list.bytes)]
}

/** `h` (§2.5), hashed synchronously: `[names, hash]`, or `undefined` when there is no pair. */
export function headerParam(pairs: readonly PopPair[]): PopList | undefined {
  const list = headerList(pairs)
  return list && [list.names, sha256Sync(list.bytes)]
}

/** The raw body bytes `b` hashes (§2.3): a string is sent, and hashed, as UTF-8. */
export function bodyBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? new TextEncoder().encode(body) : body
}

/** `b`: base64url(SHA-256(raw body bytes)) (§2.3), synchronously; `undefined` without a body. */
export function bodyParam(body: Uint8Array | string | undefined): string | undefined {
  if (body === undefined) return undefined
  return sha256Sync(bodyBytes(body))
}

/**
 * The verifier's rebuild of a covered list from the request (§3.3): for each name the client
 * listed, in its order, the remaining pair with that exact name and the smallest value
 * (OrdinalIgnoreCase). `undefined` when a listed name has no pair left: the list cannot match.
 *
 * @returns the pairs in the client's order, and how many request pairs were left uncovered.
 */
export function rebuildList(
  names: readonly string[],
  pairs: readonly PopPair[],
): { pairs: PopPair[]; uncovered: number } | undefined {
  const remaining = sortByValue(pairs)
  const out: PopPair[] = []
  for (const name of names) {
    const i = remaining.findIndex(([n]) => n === name)
    if (i === -1) return undefined
    out.push(remaining[i] as PopPair)
    remaining.splice(i, 1)
  }
  return { pairs: out, uncovered: remaining.length }
}
