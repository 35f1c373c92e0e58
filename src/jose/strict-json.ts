/**
 * @module jose/strict-json
 *
 * Parses a JOSE Header or JWT Claims Set as a JSON object whose member names are unique.
 * RFC 7515 §4 and RFC 7519 §4 say a parser MUST either reject duplicate names or use the last
 * one; `JSON.parse` silently takes the last, which lets two parties read one token differently.
 * keybound rejects them. `JSON.parse` still decides what is valid JSON: the scan below only
 * collects member names, so it never needs to understand numbers or literals.
 */

export type JsonObject = { [member: string]: unknown }

/** Why {@link parseJsonObject} refused its input. */
export type StrictJsonFailure = 'bad_json' | 'not_object' | 'duplicate_member'

/**
 * @returns the parsed object, or a failure code.
 */
export function parseJsonObject(text: string): JsonObject | StrictJsonFailure {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'bad_json'
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not_object'
  return hasDuplicateMembers(text) ? 'duplicate_member' : (value as JsonObject)
}

/**
 * Scans already-valid JSON and tells whether any object has two members of the same name
 * (compared after unescaping, so `"a"` and `"\u0061"` are the same name). Strings are skipped
 * with `indexOf`, so only the few characters between them are looked at one by one.
 */
function hasDuplicateMembers(text: string): boolean {
  // One Set of names per open object; `null` for open arrays.
  const stack: Array<Set<string> | null> = []
  let i = 0
  for (;;) {
    const open = text.indexOf('"', i)
    const stop = open === -1 ? text.length : open
    for (; i < stop; i++) {
      const c = text.charCodeAt(i)
      if (c === 0x7b /* { */) stack.push(new Set())
      else if (c === 0x5b /* [ */) stack.push(null)
      else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop()
    }
    if (open === -1) return false
    const close = closingQuote(text, open)
    i = close + 1
    const names = stack[stack.length - 1]
    if (!names) continue
    // A string inside an object is a member name when a ':' follows it.
    let j = i
    while (isJsonWhitespace(text.charCodeAt(j))) j++
    if (text.charCodeAt(j) !== 0x3a /* : */) continue
    const raw = text.slice(open + 1, close)
    const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw
    if (names.has(name)) return true
    names.add(name)
  }
}

/** The index of the quote that ends the string opened at `open` (the text is valid JSON). */
function closingQuote(text: string, open: number): number {
  let close = text.indexOf('"', open + 1)
  // A quote preceded by an odd number of backslashes is escaped.
  for (;;) {
    let backslashes = 0
    while (text.charCodeAt(close - 1 - backslashes) === 0x5c /* \ */) backslashes++
    if (backslashes % 2 === 0) return close
    close = text.indexOf('"', close + 1)
  }
}

function isJsonWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
}
