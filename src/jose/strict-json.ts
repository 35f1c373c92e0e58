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
  return countMemberNames(text) === countMembers(value) ? (value as JsonObject) : 'duplicate_member'
}

/**
 * Counts the member names in already-valid JSON text: the strings followed by a ':'. Parsing
 * keeps one member per name, so the text has a duplicate (in some object, compared after
 * unescaping, so `"a"` and `"\u0061"` are the same name) exactly when it holds more names than
 * the parsed value has members. Counting needs no Set and no slicing, which keeps this cheap on
 * the hot path: strings are skipped with `indexOf`.
 */
function countMemberNames(text: string): number {
  let names = 0
  let i = text.indexOf('"')
  while (i !== -1) {
    let j = closingQuote(text, i) + 1
    while (isJsonWhitespace(text.charCodeAt(j))) j++
    if (text.charCodeAt(j) === 0x3a /* : */) names++
    i = text.indexOf('"', j)
  }
  return names
}

/** The number of members of every object in a parsed JSON value. */
function countMembers(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0
  let count = 0
  if (Array.isArray(value)) {
    for (const item of value) count += countMembers(item)
    return count
  }
  for (const key in value) {
    if (Object.hasOwn(value, key)) count += 1 + countMembers((value as JsonObject)[key])
  }
  return count
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
