/**
 * @module client/challenge
 *
 * The `WWW-Authenticate` header of a 401 answer (RFC 9110 §11.6.1): the challenges a resource
 * server sends, and the `error` of its DPoP challenge (RFC 9449 §7.1, RFC 6750 §3).
 */

/** One challenge: its scheme (lower-cased), its auth-params (names lower-cased), or a token68. */
export interface Challenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
  readonly token68?: string
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y
const SPACES = /[ \t]*/y
const SEPARATORS = /[ \t,]*/y
const QUOTED = /"((?:[^"\\]|\\.)*)"/y

/**
 * Parses a `WWW-Authenticate` value: `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
 * several challenges separated by commas (RFC 9110 §11.6.1). Parsing stops at the first thing
 * that is not a challenge; what was read until then is returned.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = []
  let at = 0
  const read = (pattern: RegExp): RegExpExecArray | null => {
    pattern.lastIndex = at
    const match = pattern.exec(header)
    if (match) at = pattern.lastIndex
    return match
  }
  for (;;) {
    read(SEPARATORS)
    const scheme = read(TOKEN)?.[0]
    if (scheme === undefined) return challenges
    const params: Record<string, string> = {}
    const start = at
    if (read(SPACES)?.[0]) {
      const token68 = read(TOKEN68)?.[0]
      read(SPACES)
      if (token68 !== undefined && (at === header.length || header[at] === ',')) {
        challenges.push({ scheme: scheme.toLowerCase(), params, token68 })
        continue
      }
      at = start
    }
    for (;;) {
      const before = at
      read(SEPARATORS)
      const name = read(TOKEN)?.[0]
      read(SPACES)
      if (name === undefined || header[at] !== '=') {
        // Not an auth-param: the next challenge starts here (or the header ends).
        at = before
        break
      }
      at++
      read(SPACES)
      const quoted = read(QUOTED)
      const value = quoted ? (quoted[1] as string).replace(/\\(.)/g, '$1') : read(TOKEN)?.[0]
      if (value === undefined) return [...challenges, { scheme: scheme.toLowerCase(), params }]
      // RFC 9110 §11.2: each parameter name occurs once per challenge; the first one counts.
      const key = name.toLowerCase()
      if (!Object.hasOwn(params, key)) params[key] = value
    }
    challenges.push({ scheme: scheme.toLowerCase(), params })
  }
}

/**
 * The `error` of the `DPoP` challenge of a 401 answer (RFC 9449 §7.1): `invalid_token`,
 * `use_dpop_nonce`, `invalid_dpop_proof`, ... or `undefined` when there is none.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function dpopChallengeError(response: Response): string | undefined {
  if (response.status !== 401) return undefined
  const header = response.headers.get('www-authenticate')
  if (header === null) return undefined
  return parseChallenges(header).find((challenge) => challenge.scheme === 'dpop')?.params.error
}
