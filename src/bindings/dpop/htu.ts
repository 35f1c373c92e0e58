/**
 * @module bindings/dpop/htu
 *
 * The `htu` comparison of RFC 9449 §4.3 step 9: the claim matches "the HTTP URI value for the
 * HTTP request in which the JWT was received, ignoring any query and fragment parts", compared
 * after syntax-based and scheme-based normalisation (RFC 3986 §6.2.2, §6.2.3; RFC 9449 §4.3
 * refers to both).
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/
const PCT_ENCODED = /%([0-9A-Fa-f]{2})/g

/**
 * The normal form used for comparison: lower-case scheme and host, no default port, `/` for an
 * empty path, dot segments removed (all done by the WHATWG URL parser), and percent-encodings
 * upper-cased with unreserved characters decoded (§6.2.2.1, §6.2.2.2), without query, fragment.
 *
 * @returns `undefined` when `uri` is not an absolute `http`/`https` URI without user info.
 */
export function normalizeHtu(uri: string): string | undefined {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return undefined
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
    return undefined
  }
  const path = url.pathname.replace(PCT_ENCODED, (_, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`
  })
  return `${url.protocol}//${url.host}${path}`
}

/**
 * The `htu` a client puts in its proof for `url`: the URI without query and fragment
 * (RFC 9449 §4.2).
 */
export function htuOf(url: string | URL): string {
  const u = new URL(url)
  return `${u.origin}${u.pathname}`
}
