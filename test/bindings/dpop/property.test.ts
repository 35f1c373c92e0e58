/**
 * Property-based tests of `verifyProof`: thousands of random and mutated proofs. A proof is
 * accepted only when it is byte-identical to a proof the key's owner signed, and every refusal
 * is a `DPoPProofError` with a known reason. Time is fixed (`iat` and `currentDate`) and replay
 * detection is off (`replayCache: null`), so neither can hide a bug in the other checks.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { before, describe, test } from 'node:test'
import fc from 'fast-check'
import {
  DPOP_FAILURE_REASONS,
  type DPoPFailureReason,
  DPoPProofError,
} from '../../../src/bindings/dpop/errors.js'
import { createProof } from '../../../src/bindings/dpop/proof.js'
import { type VerifyProofOptions, verifyProof } from '../../../src/bindings/dpop/verify.js'
import type { AsymmetricAlg } from '../../../src/jose/algs.js'
import { createMemoryReplayCache } from '../../../src/replay/memory.js'

const IAT = 1_700_000_000
const CURRENT_DATE = new Date(IAT * 1000)
const ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'
const NONCE = 'eyJ7S_zG.eyJH0-Z.HX4w-7v'
const TOKEN_URL = 'https://as.example/token'
const API_URL = 'https://rs.example/api'

const B64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_']
const REASONS = new Set<string>(DPOP_FAILURE_REASONS)
const NONCE_REASONS = new Set<string>(['nonce_missing', 'nonce_invalid'])

interface BaseProof {
  readonly alg: AsymmetricAlg
  readonly proof: string
  readonly options: VerifyProofOptions
}

/** Filled in `before`: three proofs per key, all valid under their own options. */
const proofs: BaseProof[] = []
const originals = new Set<string>()

const tokenOptions: VerifyProofOptions = {
  htm: 'POST',
  htu: TOKEN_URL,
  replayCache: null,
  currentDate: CURRENT_DATE,
}

function keys(): Array<{ alg: AsymmetricAlg; key: KeyObject }> {
  return [
    { alg: 'ES256', key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey },
    { alg: 'EdDSA', key: generateKeyPairSync('ed25519').privateKey },
    { alg: 'PS256', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey },
  ]
}

before(async () => {
  for (const { alg, key } of keys()) {
    const token1 = await createProof({
      key,
      alg,
      htm: 'POST',
      htu: TOKEN_URL,
      iat: IAT,
      jti: `${alg}-token-1`,
    })
    const token2 = await createProof({ key, alg, htm: 'POST', htu: `${TOKEN_URL}?q=1`, iat: IAT })
    const { jkt } = await verifyProof(token1, tokenOptions)
    const resourceOptions: VerifyProofOptions = {
      htm: 'GET',
      htu: `${API_URL}?page=2`,
      accessToken: ACCESS_TOKEN,
      expectedJkt: jkt,
      nonce: NONCE,
      replayCache: null,
      currentDate: CURRENT_DATE,
    }
    const resource = await createProof({
      key,
      alg,
      htm: 'GET',
      htu: API_URL,
      accessToken: ACCESS_TOKEN,
      nonce: NONCE,
      iat: IAT,
    })
    proofs.push(
      { alg, proof: token1, options: tokenOptions },
      { alg, proof: token2, options: tokenOptions },
      { alg, proof: resource, options: resourceOptions },
    )
  }
  for (const { proof } of proofs) originals.add(proof)
})

/** Asserts that `err` is a refusal of the documented shape. */
function assertRefusal(err: unknown, input: unknown): asserts err is DPoPProofError {
  if (!(err instanceof DPoPProofError)) {
    assert.fail(
      `verifyProof threw ${String(err)} (not a DPoPProofError) for ${JSON.stringify(input)}`,
    )
  }
  assert.ok(REASONS.has(err.reason), `unknown reason ${err.reason}`)
  assert.equal(err.error, NONCE_REASONS.has(err.reason) ? 'use_dpop_nonce' : 'invalid_dpop_proof')
  assert.equal(err.status, 400)
}

/**
 * Runs `verifyProof`; an accepted input must be one of the signed proofs, a refused one must be
 * refused with a `DPoPProofError`.
 * @returns `'accepted'` or the refusal reason.
 */
async function verifyOutcome(
  input: string | readonly string[] | undefined,
  options: VerifyProofOptions,
): Promise<'accepted' | DPoPFailureReason> {
  let refusal: unknown
  try {
    await verifyProof(input, options)
  } catch (err) {
    refusal = err ?? new Error(`thrown ${String(err)}`)
  }
  if (refusal === undefined) {
    const proof = Array.isArray(input) ? input[0] : input
    assert.ok(
      typeof proof === 'string' && originals.has(proof),
      `ACCEPTED an input that is not a signed proof: ${JSON.stringify(input)}`,
    )
    return 'accepted'
  }
  assertRefusal(refusal, input)
  return refusal.reason
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/** A change to a decoded JSON segment, re-encoded as canonical base64url. */
type JsonEdit =
  | { op: 'roundtrip' }
  | { op: 'indent'; space: string }
  | { op: 'surround'; before: string; after: string }
  /** Sets (raw JSON text), adds or, with `raw` undefined, deletes the member at `path`. */
  | { op: 'set'; path: readonly string[]; raw: string | undefined }
  /** Appends a second member named like an existing one (optionally \u-escaped). */
  | { op: 'duplicate'; member: number; raw: string; escape: boolean }
  | { op: 'escape'; every: number; upper: boolean }
  | { op: 'replace'; text: string }
  | { op: 'wrapArray' }
  | { op: 'splice'; pos: number; bytes: readonly number[] }

type Mutation =
  | { kind: 'replaceChar'; seg: number; pos: number; char: string }
  | { kind: 'deleteChars'; seg: number; pos: number; count: number }
  | { kind: 'insertChars'; seg: number; pos: number; text: string }
  | { kind: 'xorByte'; seg: number; pos: number; mask: number }
  | { kind: 'deleteByte'; seg: number; pos: number }
  | { kind: 'insertByte'; seg: number; pos: number; byte: number }
  | { kind: 'nonCanonicalTail'; seg: number; bits: number }
  | { kind: 'pad'; seg: number; padding: string }
  | { kind: 'truncate'; length: number }
  | { kind: 'segments'; order: number[]; separator: string }
  | { kind: 'swap'; other: number; take: number }
  | { kind: 'surround'; before: string; after: string }
  | { kind: 'reencode'; seg: number; edit: JsonEdit }

const seg = fc.integer({ min: 0, max: 2 })
/** A position; negative counts from the end. Edges are where encodings hide their special cases. */
const pos = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.nat({ max: 4096 }))

/** Resolves a {@link pos} in a sequence of `length` items (`length + 1` places to insert). */
function at(p: number, length: number): number {
  if (length <= 0) return 0
  return p < 0 ? Math.max(length + p, 0) : p % length
}
const oddChar = fc.constantFrom(
  '.',
  '=',
  '+',
  '/',
  ' ',
  '\t',
  '\n',
  '\0',
  ',',
  '%',
  '\u00e9',
  '\uff21',
  '\ud800',
  '\udc00',
  '\u{1f600}',
)
const char = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...B64URL) }, oddChar)
const whitespace = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r'), maxLength: 3 })

/** Odd JSON value texts: huge and negative zero numbers, escapes, NUL, lone surrogates. */
const rawValue = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '1e400',
      '-1e400',
      '-0',
      '0',
      '1700000000',
      '1700000000.0',
      '17e8',
      '1.7E9',
      '123456789012345678901234567890',
      '0.0000000000000000000000000001',
      '"1700000000"',
      '"\\u0000"',
      '"a\\u0000b"',
      '"\\ud800"',
      '"x\\udc00"',
      '"\\ud83d\\ude00"',
      '"dpop+jwt"',
      '"DPoP+JWT"',
      '"dpop+jwt\\u0000"',
      '"d\\u0070op+jwt"',
      '"ES256"',
      '"EdDSA"',
      '"PS256"',
      '"RS256"',
      '"none"',
      '"HS256"',
      '"POST"',
      '"GET"',
      '"https://as.example/token"',
      '"https://rs.example/api"',
      '""',
      'null',
      'true',
      'false',
      '[]',
      '{}',
      '[1,[2,[3]]]',
      '{"a":{"b":{"c":{"d":[]}}}}',
      '["b64"]',
    ),
  },
  fc.json({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => JSON.stringify(s)),
)

const memberName = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'typ',
      'alg',
      'jwk',
      'crit',
      'b64',
      'kid',
      'jti',
      'htm',
      'htu',
      'iat',
      'ath',
      'nonce',
      'exp',
      '__proto__',
      'constructor',
      '',
    ),
  },
  fc.string({ maxLength: 6 }),
)
const path = fc.oneof(
  fc.tuple(memberName).map((p) => [...p]),
  fc
    .tuple(
      fc.constant('jwk'),
      fc.constantFrom('kty', 'crv', 'x', 'y', 'n', 'e', 'd', 'p', 'k', 'alg', 'use'),
    )
    .map((p) => [...p]),
)

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  fc.constant({ op: 'roundtrip' as const }),
  fc
    .record({ op: fc.constant('indent' as const), space: fc.constantFrom(' ', '\t', 2, '\n') })
    .map((e) => ({ op: e.op, space: String(e.space === 2 ? '  ' : e.space) })),
  fc.record({ op: fc.constant('surround' as const), before: whitespace, after: whitespace }),
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      path,
      raw: fc.option(rawValue, { nil: undefined, freq: 6 }),
    }),
  },
  fc.record({
    op: fc.constant('duplicate' as const),
    member: fc.nat(),
    raw: rawValue,
    escape: fc.boolean(),
  }),
  fc.record({
    op: fc.constant('escape' as const),
    every: fc.integer({ min: 1, max: 40 }),
    upper: fc.boolean(),
  }),
  fc.record({
    op: fc.constant('replace' as const),
    text: fc.oneof(
      fc.json({ maxDepth: 2 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
      rawValue,
    ),
  }),
  fc.constant({ op: 'wrapArray' as const }),
  fc.record({
    op: fc.constant('splice' as const),
    pos,
    bytes: fc.oneof(
      fc.constantFrom(
        [0xff],
        [0xc0, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xef, 0xbb, 0xbf],
        [0x00],
        [0x20],
        [0xe2, 0x80, 0xa8],
        [0xf4, 0x90, 0x80, 0x80],
      ),
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 }),
    ),
  }),
)

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('replaceChar' as const), seg, pos, char }),
  },
  fc.record({
    kind: fc.constant('deleteChars' as const),
    seg,
    pos,
    count: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({
    kind: fc.constant('insertChars' as const),
    seg,
    pos,
    text: fc.string({ unit: char, minLength: 1, maxLength: 4 }),
  }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('xorByte' as const),
      seg,
      pos,
      mask: fc.integer({ min: 1, max: 255 }),
    }),
  },
  fc.record({ kind: fc.constant('deleteByte' as const), seg, pos }),
  fc.record({
    kind: fc.constant('insertByte' as const),
    seg,
    pos,
    byte: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('nonCanonicalTail' as const),
    seg,
    bits: fc.integer({ min: 1, max: 15 }),
  }),
  fc.record({ kind: fc.constant('pad' as const), seg, padding: fc.constantFrom('=', '==', '===') }),
  fc.record({ kind: fc.constant('truncate' as const), length: pos }),
  fc.record({
    kind: fc.constant('segments' as const),
    order: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 5 }),
    separator: fc.constantFrom('.', '.', '.', '..', ' .', ',', ''),
  }),
  fc.record({
    kind: fc.constant('swap' as const),
    other: fc.nat(),
    take: fc.integer({ min: 1, max: 7 }),
  }),
  fc.record({ kind: fc.constant('surround' as const), before: whitespace, after: whitespace }),
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('reencode' as const),
      seg: fc.integer({ min: 0, max: 1 }),
      edit: jsonEdit,
    }),
  },
)

/** JSON text of `value` with the member at `path` set to `raw` (or deleted when undefined). */
function setMember(value: unknown, path: readonly string[], raw: string | undefined): string {
  if (path.length === 0) return raw ?? 'null'
  const [name, ...rest] = path as [string, ...string[]]
  const object =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {}
  const members: string[] = []
  let found = false
  for (const [key, member] of Object.entries(object)) {
    if (key !== name) members.push(`${JSON.stringify(key)}:${JSON.stringify(member)}`)
    else {
      found = true
      if (raw !== undefined || rest.length > 0) {
        members.push(`${JSON.stringify(key)}:${setMember(member, rest, raw)}`)
      }
    }
  }
  if (!found && raw !== undefined) {
    members.push(`${JSON.stringify(name)}:${setMember(undefined, rest, raw)}`)
  }
  return `{${members.join(',')}}`
}

const hex4 = (code: number, upper: boolean) => {
  const h = code.toString(16).padStart(4, '0')
  return `\\u${upper ? h.toUpperCase() : h}`
}

/** Replaces every `every`-th plain character inside JSON strings with its \u escape. */
function escapeStrings(text: string, every: number, upper: boolean): string {
  let out = ''
  let inString = false
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (!inString) {
      if (c === '"') inString = true
      out += c
    } else if (c === '\\') {
      out += c + (text[i + 1] ?? '')
      i++
    } else if (c === '"') {
      inString = false
      out += c
    } else if (++n % every === 0) out += hex4(c.charCodeAt(0), upper)
    else out += c
  }
  return out
}

function applyJsonEdit(text: string, edit: JsonEdit): Uint8Array {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    value = {}
  }
  switch (edit.op) {
    case 'roundtrip':
      return Buffer.from(JSON.stringify(value) ?? text)
    case 'indent':
      return Buffer.from(JSON.stringify(value, null, edit.space) ?? text)
    case 'surround':
      return Buffer.from(edit.before + text + edit.after)
    case 'set':
      return Buffer.from(setMember(value, edit.path, edit.raw))
    case 'duplicate': {
      const names =
        typeof value === 'object' && value !== null ? Object.keys(value) : ['typ', 'jti']
      const name = names[edit.member % Math.max(names.length, 1)] ?? 'typ'
      const key = edit.escape
        ? `"${[...name].map((c) => hex4(c.charCodeAt(0), false)).join('')}"`
        : JSON.stringify(name)
      const end = text.lastIndexOf('}')
      return Buffer.from(
        end === -1 ? `{${key}:${edit.raw}}` : `${text.slice(0, end)},${key}:${edit.raw}}`,
      )
    }
    case 'escape':
      return Buffer.from(escapeStrings(text, edit.every, edit.upper))
    case 'replace':
      return Buffer.from(edit.text)
    case 'wrapArray':
      return Buffer.from(`[${text}]`)
    case 'splice': {
      const bytes = Buffer.from(text)
      const i = at(edit.pos, bytes.length + 1)
      return Buffer.concat([bytes.subarray(0, i), Buffer.from(edit.bytes), bytes.subarray(i)])
    }
  }
}

function editSegment(proof: string, index: number, edit: (segment: string) => string): string {
  const parts = proof.split('.')
  const i = index % parts.length
  parts[i] = edit(parts[i] as string)
  return parts.join('.')
}

function editBytes(proof: string, index: number, edit: (bytes: Buffer) => Buffer): string {
  return editSegment(proof, index, (s) => edit(Buffer.from(s, 'base64url')).toString('base64url'))
}

function applyMutation(proof: string, m: Mutation): string {
  switch (m.kind) {
    case 'replaceChar':
      return editSegment(proof, m.seg, (s) => {
        const i = at(m.pos, s.length)
        return s.slice(0, i) + m.char + s.slice(i + 1)
      })
    case 'deleteChars':
      return editSegment(proof, m.seg, (s) => {
        const i = at(m.pos, s.length)
        return s.slice(0, i) + s.slice(i + m.count)
      })
    case 'insertChars':
      return editSegment(proof, m.seg, (s) => {
        const i = at(m.pos, s.length + 1)
        return s.slice(0, i) + m.text + s.slice(i)
      })
    case 'xorByte':
      return editBytes(proof, m.seg, (b) => {
        if (b.length === 0) return Buffer.from([m.mask])
        const copy = Buffer.from(b)
        const i = at(m.pos, b.length)
        copy[i] = (copy[i] as number) ^ m.mask
        return copy
      })
    case 'deleteByte':
      return editBytes(proof, m.seg, (b) => {
        const i = at(m.pos, b.length)
        return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)])
      })
    case 'insertByte':
      return editBytes(proof, m.seg, (b) => {
        const i = at(m.pos, b.length + 1)
        return Buffer.concat([b.subarray(0, i), Buffer.from([m.byte]), b.subarray(i)])
      })
    case 'nonCanonicalTail':
      // Sets unused low bits of the last character: the same bytes, a different string.
      return editSegment(proof, m.seg, (s) => {
        const rest = s.length % 4
        if (rest < 2) return `${s}A`
        const last = B64URL.indexOf(s[s.length - 1] as string)
        const bits = m.bits & (rest === 2 ? 0x0f : 0x03)
        return s.slice(0, -1) + (B64URL[(last | bits) & 63] as string)
      })
    case 'pad':
      return editSegment(proof, m.seg, (s) => s + m.padding)
    case 'truncate':
      return proof.slice(0, at(m.length, proof.length))
    case 'segments': {
      const parts = proof.split('.')
      return m.order.map((i) => parts[i % parts.length]).join(m.separator)
    }
    case 'swap': {
      const other = (proofs[m.other % proofs.length] as BaseProof).proof.split('.')
      const parts = proof.split('.')
      for (let i = 0; i < 3; i++) if (m.take & (1 << i)) parts[i] = other[i] as string
      return parts.join('.')
    }
    case 'surround':
      return m.before + proof + m.after
    case 'reencode':
      return editSegment(proof, m.seg, (s) =>
        Buffer.from(applyJsonEdit(Buffer.from(s, 'base64url').toString('utf8'), m.edit)).toString(
          'base64url',
        ),
      )
  }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('verifyProof: property-based', () => {
  test('(a) every valid proof verifies, as a string and as a one-element list', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.boolean(), async (i, asList) => {
        const { proof, options, alg } = proofs[i % proofs.length] as BaseProof
        const result = await verifyProof(asList ? [proof] : proof, options)
        assert.equal(result.alg, alg)
        assert.equal(result.claims.iat, IAT)
        if (options.expectedJkt !== undefined) assert.equal(result.jkt, options.expectedJkt)
      }),
      { numRuns: 30 },
    )
  })

  test('(b, c) a mutated proof is never accepted unless byte-identical to a signed proof', async (t) => {
    const seen = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (i, mutations) => {
          const base = proofs[i % proofs.length] as BaseProof
          const mutated = mutations.reduce(applyMutation, base.proof)
          const outcome = await verifyOutcome(mutated, base.options)
          seen.set(outcome, (seen.get(outcome) ?? 0) + 1)
        },
      ),
      { numRuns: 3000 },
    )
    t.diagnostic(JSON.stringify(Object.fromEntries([...seen].sort((a, b) => b[1] - a[1]))))
    // The mutations reach every layer: framing, base64url, JSON, header checks and signature.
    for (const reason of [
      'malformed_jws',
      'bad_base64url',
      'bad_json',
      'not_object',
      'duplicate_member',
      'bad_typ',
      'bad_signature',
    ]) {
      assert.ok(seen.has(reason), `no mutation was refused with ${reason}`)
    }
  })

  test('(b) re-encoded JSON segments are refused by the signature or an earlier check', async () => {
    const allowed = new Set<string>(
      DPOP_FAILURE_REASONS.slice(0, DPOP_FAILURE_REASONS.indexOf('bad_signature') + 1),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.integer({ min: 0, max: 1 }),
        jsonEdit,
        async (i, index, edit) => {
          const base = proofs[i % proofs.length] as BaseProof
          const mutated = applyMutation(base.proof, { kind: 'reencode', seg: index, edit })
          const outcome = await verifyOutcome(mutated, base.options)
          if (mutated !== base.proof) assert.ok(allowed.has(outcome), `refused with ${outcome}`)
        },
      ),
      { numRuns: 1000 },
    )
  })

  test('(b) byte edits of the signature never verify', async () => {
    // Leading and trailing bytes matter most: a verifier that strips or pads them (as integer
    // encodings invite) would accept a second byte string for one signature.
    const edge = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -2, max: 2 }) }, pos)
    const sigMutation: fc.Arbitrary<Mutation> = fc.oneof(
      fc.record({
        kind: fc.constant('xorByte' as const),
        seg: fc.constant(2),
        pos: edge,
        mask: fc.integer({ min: 1, max: 255 }),
      }),
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('deleteByte' as const),
          seg: fc.constant(2),
          pos: edge,
        }),
      },
      fc.record({
        kind: fc.constant('insertByte' as const),
        seg: fc.constant(2),
        pos: edge,
        byte: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })),
      }),
      fc.record({
        kind: fc.constant('nonCanonicalTail' as const),
        seg: fc.constant(2),
        bits: fc.integer({ min: 1, max: 15 }),
      }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(sigMutation, { minLength: 1, maxLength: 2 }),
        async (i, mutations) => {
          const base = proofs[i % proofs.length] as BaseProof
          const mutated = mutations.reduce(applyMutation, base.proof)
          const outcome = await verifyOutcome(mutated, base.options)
          if (mutated !== base.proof) assert.notEqual(outcome, 'accepted')
        },
      ),
      { numRuns: 1000 },
    )
  })

  test('(b) non-canonical base64url tails are refused, exhaustively', async () => {
    for (const { proof, options } of proofs) {
      const parts = proof.split('.')
      for (let index = 0; index < 3; index++) {
        const segment = parts[index] as string
        const rest = segment.length % 4
        if (rest < 2) continue
        const last = B64URL.indexOf(segment[segment.length - 1] as string)
        const unused = rest === 2 ? 0x0f : 0x03
        for (let bits = 1; bits <= unused; bits++) {
          const twin = [...parts]
          twin[index] = segment.slice(0, -1) + (B64URL[last | bits] as string)
          // The twin decodes to the same bytes: only the canonical-form rule tells them apart.
          assert.deepEqual(
            Buffer.from(twin[index] as string, 'base64url'),
            Buffer.from(segment, 'base64url'),
          )
          assert.equal(await verifyOutcome(twin.join('.'), options), 'bad_base64url')
        }
      }
    }
  })

  test('(d) arbitrary strings never verify and are refused with a DPoPProofError', async () => {
    const b64urlText = fc.string({ unit: fc.constantFrom(...B64URL, '.', '.'), maxLength: 400 })
    const segmentsOf = (parts: Uint8Array[]) =>
      parts.map((p) => Buffer.from(p).toString('base64url')).join('.')
    const jsonSegments = fc
      .tuple(fc.json({ maxDepth: 2 }), fc.json({ maxDepth: 2 }), fc.uint8Array({ maxLength: 300 }))
      .map(([h, p, s]) => segmentsOf([Buffer.from(h), Buffer.from(p), s]))
    const input = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: 'binary-ascii' }),
      b64urlText,
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }).map(segmentsOf),
      jsonSegments,
      fc.array(b64urlText, { maxLength: 3 }),
      fc.constantFrom(undefined, '', '..', 'a'.repeat(8193), `${'A'.repeat(8189)}.A.A`),
    )
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), async (dpop, resource) => {
        const options = (proofs[resource ? 2 : 0] as BaseProof).options
        assert.notEqual(await verifyOutcome(dpop, options), 'accepted')
      }),
      { numRuns: 1500 },
    )
  })

  test('(d) forged proofs with real headers and random claims or signatures never verify', async () => {
    const claims = fc.record(
      {
        jti: fc.oneof(fc.string({ minLength: 1 }), fc.uuid()),
        htm: fc.constantFrom('POST', 'GET', 'post'),
        htu: fc.constantFrom(TOKEN_URL, API_URL, `${TOKEN_URL}/`, 'HTTPS://AS.EXAMPLE/token'),
        iat: fc.oneof(fc.constant(IAT), fc.integer({ min: IAT - 100, max: IAT + 100 })),
        ath: fc.string(),
        nonce: fc.constantFrom(NONCE, ''),
      },
      { requiredKeys: ['jti', 'htm', 'htu', 'iat'] },
    )
    const signature = fc.oneof(
      fc.uint8Array({ minLength: 64, maxLength: 64 }),
      fc.uint8Array({ minLength: 256, maxLength: 256 }),
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.nat().map((i) => {
        const proof = (proofs[i % proofs.length] as BaseProof).proof
        return Buffer.from(proof.slice(proof.lastIndexOf('.') + 1), 'base64url')
      }),
    )
    await fc.assert(
      fc.asyncProperty(fc.nat(), claims, signature, async (i, payload, sig) => {
        const base = proofs[i % proofs.length] as BaseProof
        const header = base.proof.slice(0, base.proof.indexOf('.'))
        const forged = [
          header,
          Buffer.from(JSON.stringify(payload)).toString('base64url'),
          Buffer.from(sig).toString('base64url'),
        ].join('.')
        assert.notEqual(await verifyOutcome(forged, base.options), 'accepted')
      }),
      { numRuns: 500 },
    )
  })

  test('an ECDSA (r, n - s) twin has the same jti, so a replay cache refuses it', async () => {
    // ECDSA signatures are malleable and JWS does not require low-S, so the twin is a valid
    // signature of the same proof: what keeps it from being used twice is replay detection.
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
    const { proof, options } = proofs.find((p) => p.alg === 'ES256') as BaseProof
    const [header, payload, signature] = proof.split('.') as [string, string, string]
    const sig = Buffer.from(signature, 'base64url')
    const s = BigInt(`0x${sig.subarray(32).toString('hex')}`)
    const twinS = Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')
    const twin = `${header}.${payload}.${Buffer.concat([sig.subarray(0, 32), twinS]).toString('base64url')}`
    assert.notEqual(twin, proof)
    const replayCache = createMemoryReplayCache({ now: () => CURRENT_DATE.getTime() })
    await verifyProof(proof, { ...options, replayCache })
    await assert.rejects(verifyProof(twin, { ...options, replayCache }), (err) => {
      assertRefusal(err, twin)
      assert.equal(err.reason, 'replayed_jti')
      return true
    })
  })

  test('a PS256 signature with its leading zero byte removed is refused (RFC 8017 §8.1.2)', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    for (;;) {
      const proof = await createProof({ key, alg: 'PS256', htm: 'POST', htu: TOKEN_URL, iat: IAT })
      const cut = proof.lastIndexOf('.')
      const sig = Buffer.from(proof.slice(cut + 1), 'base64url')
      if (sig[0] !== 0) continue
      // A signature of 255 bytes for a 256-byte modulus: RSASSA-PSS-VERIFY step 1 says
      // "invalid signature"; OpenSSL pads it back with a zero and accepts it.
      const shortened = `${proof.slice(0, cut)}.${sig.subarray(1).toString('base64url')}`
      assert.equal(await verifyOutcome(shortened, tokenOptions), 'bad_signature')
      return
    }
  })
})
