/**
 * Property-based tests of every endpoint but the client credentials grant (fuzz-token.test.ts)
 * over real HTTP: the authorization endpoint (GET and POST), PAR, introspection, revocation,
 * registration, and the authorization_code and refresh_token grants. Each property mutates a
 * valid request and checks the answer against a model of what must happen: never a 5xx, never a
 * stack trace, JSON errors with an RFC error code and `Cache-Control: no-store` for the API,
 * HTML with the CSP and nothing unescaped from the input for the authorization pages, and never
 * a success (a code, a token, `active: true`, a 201, a revocation) for a request that should fail.
 *
 * Logins are cheap here: the users have a scrypt hash with N=2. The login throttle counts
 * failures per username and per client address, so each run logs in from its own address
 * (`trustProxy` and `X-Forwarded-For`) and a username is retired before it could be throttled.
 */
import assert from 'node:assert/strict'
import { hash, randomBytes, scryptSync } from 'node:crypto'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { createProof } from '../../src/bindings/dpop/proof.js'
import { isBase64url } from '../../src/jose/base64url.js'
import { generateKeyPair } from '../../src/jose/generate.js'
import { jwkThumbprint } from '../../src/jose/jwk.js'
import { type KeyPair, publicJwkOf } from '../../src/jose/keys.js'
import { hiddenFields } from '../helpers/browser.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const INITIAL = 'initial-access-token-0123456789'
const PASSWORD = 'correct-password-1'
const SCOPES = ['read', 'write', 'admin']
const SPA_CB = 'https://spa.example/callback'
const WEB_CB = 'https://web.example/cb?tenant=1'
const WEB_OTHER = 'https://web.example/other'
const APP_CB = 'https://app.example/cb'
const APP_OTHER = 'https://app.example/other'
const GRANTS = ['authorization_code', 'refresh_token']
const USERS = 150

/** A scrypt hash as cheap as the format allows: thousands of logins in a few seconds. */
function cheapHash(password: string): string {
  const salt = randomBytes(16)
  const key = scryptSync(password, salt, 32, { N: 2, r: 1, p: 1 })
  return `scrypt$2$1$1$${salt.toString('base64url')}$${key.toString('base64url')}`
}

const clients = [
  // Public, first-party, DPoP required.
  {
    client_id: 'spa',
    token_endpoint_auth_method: 'none',
    grant_types: GRANTS,
    redirect_uris: [SPA_CB],
    first_party: true,
    token_binding: 'dpop',
  },
  // Confidential, asks for consent.
  {
    client_id: 'web',
    client_name: 'Web <App>',
    client_secret: SECRET,
    grant_types: GRANTS,
    redirect_uris: [WEB_CB, WEB_OTHER],
    scope: 'read write',
  },
  // Confidential, first-party, reference access tokens.
  {
    client_id: 'app',
    client_secret: SECRET,
    grant_types: GRANTS,
    redirect_uris: [APP_CB, APP_OTHER],
    scope: 'read write',
    first_party: true,
    access_token_format: 'reference',
  },
  {
    client_id: 'svc',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    token_binding: 'dpop',
  },
  {
    client_id: 'ref',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    access_token_format: 'reference',
  },
  {
    client_id: 'rs',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    introspection: true,
  },
  { client_id: 'other', client_secret: SECRET, grant_types: ['client_credentials'] },
]

let t: TestServer
let port: number
let k1: KeyPair
let k2: KeyPair
let jkt1: string
let jkt2: string

before(async () => {
  const passwordHash = cheapHash(PASSWORD)
  t = await startServer({
    clients,
    users: Array.from({ length: USERS }, (_, i) => ({
      username: `user${i}`,
      password_hash: passwordHash,
    })),
    scopes: SCOPES,
    trustProxy: true,
    registration: { enabled: true, initialAccessToken: INITIAL },
  })
  port = Number(new URL(t.issuer).port)
  k1 = await generateKeyPair('ES256')
  k2 = await generateKeyPair('ES256')
  jkt1 = jwkThumbprint(await publicJwkOf(k1.publicKey))
  jkt2 = jwkThumbprint(await publicJwkOf(k2.publicKey))
})
after(() => t.close())

// ---------------------------------------------------------------------------------------------
// HTTP

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** Sends the bytes exactly as given, with an explicit content-length for a body. */
function send(
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const bytes = body === undefined ? undefined : Buffer.from(body)
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: bytes === undefined ? headers : { ...headers, 'content-length': bytes.length },
        agent: false,
        // A redirect may carry a long `state` back.
        maxHeaderSize: 256 * 1024,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end(bytes)
  })
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/
/** Percent-encodes every byte of the UTF-8 of `s` but the unreserved ones. */
function pct(s: string): string {
  let out = ''
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += UNRESERVED.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Characters that reach the server unencoded in a query (no `&`, `=`, `+`, `#`, `%`). */
const RAW_OK = /^[A-Za-z0-9\-._~!$'()*,;:@/?<>"{}|\\^`[\]]+$/
const encode = (s: string, raw: boolean) => (raw && RAW_OK.test(s) ? s : pct(s))

/** A form body of `fields`, every byte percent-encoded. */
const formOf = (fields: ReadonlyArray<readonly [string, string]>) =>
  fields.map(([n, v]) => `${pct(n)}=${pct(v)}`).join('&')

const FORM = 'application/x-www-form-urlencoded'
const basic = (id: string, secret = SECRET) =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

/** The parameters as the server reads them: first non-empty value, and the repeated names. */
function parametersOf(query: string): { params: Map<string, string>; repeated: Set<string> } {
  const params = new Map<string, string>()
  const repeated = new Set<string>()
  for (const [name, value] of new URLSearchParams(query)) {
    if (value === '') continue
    if (params.has(name)) repeated.add(name)
    else params.set(name, value)
  }
  return { params, repeated }
}

let addresses = 0
/** A client address of its own for each login, so that the per-address throttle never trips. */
const newAddress = () => {
  const n = ++addresses
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`
}

const failures = new Map<string, number>()
let cursor = 0
/** A user with fewer than 3 failed logins: with one more failure and a retry, never throttled. */
function freshUser(): string {
  for (let tries = 0; tries < USERS; tries++, cursor++) {
    const name = `user${cursor % USERS}`
    if ((failures.get(name) ?? 0) < 3) return name
  }
  throw new Error('every test user has failed logins')
}
const failedLogin = (name: string) => failures.set(name, (failures.get(name) ?? 0) + 1)

// ---------------------------------------------------------------------------------------------
// Assertions

/**
 * Internals that must never reach a client: stack frames, node internals, source paths. Linear
 * on long runs of word characters (a body may echo 60 KB of them).
 */
const LEAK =
  /\n\s+at |node:internal|node_modules|\/work\/|\/src\/|(?<![\w-])[\w-]{1,200}\.[cm]?[tj]s:\d+/

function assertNoLeak(r: Answer, label: string) {
  assert.ok(r.status < 500, `${label}: status ${r.status}: ${r.body.slice(0, 500)}`)
  assert.doesNotMatch(r.body, LEAK, `${label}: internals in the body`)
}

const TOKEN_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_dpop_proof',
  'use_dpop_nonce',
])
/** RFC 9126 §2.3: the authorization endpoint's errors, as JSON. */
const PAR_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'unauthorized_client',
  'unsupported_response_type',
  'invalid_scope',
  'invalid_dpop_proof',
  'use_dpop_nonce',
])
const INTROSPECT_ERRORS = new Set(['invalid_request', 'invalid_client'])
const REVOKE_ERRORS = new Set(['invalid_request', 'invalid_client', 'unsupported_token_type'])
const REGISTER_ERRORS = new Set([
  'invalid_request',
  'invalid_token',
  'invalid_client_metadata',
  'invalid_redirect_uri',
])

/** An API answer: no-store, and a JSON error with one of `codes` for a failure. */
function assertApi(r: Answer, codes: ReadonlySet<string>, label: string): Record<string, unknown> {
  assertNoLeak(r, label)
  assert.equal(r.headers['cache-control'], 'no-store', `${label}: Cache-Control`)
  if (r.status >= 400) {
    assert.match(String(r.headers['content-type']), /^application\/json/, label)
    const body = JSON.parse(r.body) as Record<string, unknown>
    assert.equal(typeof body.error, 'string', `${label}: ${r.body}`)
    assert.ok(codes.has(body.error as string), `${label}: unexpected error ${r.body}`)
    return body
  }
  return r.body === '' ? {} : (JSON.parse(r.body) as Record<string, unknown>)
}

/** Tags an attack could have injected; the pages have none of them. */
const INJECTED = /<\s*(script|img|svg|iframe)\b/i

/** An answer of the authorization endpoint: HTML (or a redirect) under its policy. */
function assertPage(r: Answer, label: string) {
  assertNoLeak(r, label)
  const csp = String(r.headers['content-security-policy'] ?? '')
  assert.match(csp, /^default-src 'none';/, `${label}: CSP`)
  assert.match(csp, /frame-ancestors 'none'/, `${label}: CSP`)
  assert.equal(r.headers['cache-control'], 'no-store', `${label}: Cache-Control`)
  assert.equal(r.headers['x-frame-options'], 'DENY', `${label}: X-Frame-Options`)
  if (r.body !== '') {
    assert.match(String(r.headers['content-type']), /^text\/html/, `${label}: ${r.body}`)
    assert.doesNotMatch(r.body, INJECTED, `${label}: unescaped input in the page`)
  }
}

/** The redirect's URL, checked to go to `redirectUri` with the issuer; `code` or `error`. */
function redirectOf(r: Answer, redirectUri: string, label: string): URL {
  const location = r.headers.location
  assert.ok(location, `${label}: no Location (${r.status})`)
  assert.ok(
    location.startsWith(`${redirectUri}${redirectUri.includes('?') ? '&' : '?'}`),
    `${label}: redirect to ${location.slice(0, 200)}, not ${redirectUri}`,
  )
  const url = new URL(location)
  assert.equal(url.searchParams.get('iss'), t.issuer, label)
  return url
}

const hasCode = (r: Answer) =>
  r.headers.location !== undefined && new URL(r.headers.location).searchParams.has('code')

// ---------------------------------------------------------------------------------------------
// Inputs

const XSS = [
  '<script>alert(1)</script>',
  '"><script>alert(1)</script>',
  "'><img src=x onerror=alert(1)>",
  '<svg/onload=alert(1)>',
  '</title><script>alert(1)</script>',
  '<ScRiPt >alert(1)</sCrIpT>',
  'javascript:alert(1)',
  '<iframe src=//evil.example>',
]
const WEIRD = [
  'a\u0000b',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u0646\u0635',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🦄',
  'a\r\nSet-Cookie: x=1',
  '%',
  '%ZZ',
  '../../../etc/passwd',
  '{"a":1}',
  'null',
  '__proto__',
  'constructor',
  ' ',
  '+',
  '&',
  '=',
  '#',
  '\\',
  '\u00ff\u00fe',
]

/** Values no valid request carries: injections, unicode, control characters, huge strings. */
const nasty: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...XSS), weight: 3 },
  { arbitrary: fc.constantFrom(...WEIRD), weight: 3 },
  // U+0000, which PostgreSQL text cannot hold, alone and inside real values.
  { arbitrary: fc.constantFrom('\u0000', 'spa\u0000', 'a\u0000b', 'user0\u0000'), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }), weight: 2 },
  { arbitrary: fc.string({ minLength: 1, maxLength: 40 }), weight: 2 },
  {
    arbitrary: fc
      .record({
        c: fc.constantFrom('A', 'é', '<', '%', '\u{1F600}'),
        n: fc.integer({ min: 500, max: 4000 }),
      })
      .map(({ c, n }) => c.repeat(n)),
    weight: 1,
  },
)

/** Percent sequences that do not decode: truncated, not hex, overlong, surrogates, bare bytes. */
const badEncoding = fc.constantFrom(
  '%',
  '%Z',
  '%ZZ',
  '%E0%A4%A',
  '%C0%80',
  '%C0%AF',
  '%ED%A0%80',
  '%FF%FE',
  '%00',
  'a%2',
  '%%41',
  '%u0041',
)

const extraName = fc.oneof(
  fc.stringMatching(/^x_[a-z]{1,8}$/),
  fc.constantFrom(...XSS, 'ünï', '%ZZ', '__proto__', 'constructor', 'prototype'),
)

/** A value picked with weights. */
function weighted<T>(...choices: Array<[T, number]>): fc.Arbitrary<T> {
  return fc.oneof(...choices.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })))
}

/** Replaces the character at `at` (modulo the length); may give `s` back unchanged. */
const flip = (s: string, at: number, char: string) => {
  const i = at % s.length
  return `${s.slice(0, i)}${char}${s.slice(i + 1)}`
}
const flipChar = fc.constantFrom('A', 'b', '-', '_', '0', '.')

/**
 * Whether two JWS are the same token: header and payload identical, and signatures that decode
 * to the same bytes (jose accepts a signature whose last character differs in unused bits).
 */
function sameJws(a: string, b: string): boolean {
  if (a === b) return true
  const [x, y] = [a.split('.'), b.split('.')]
  if (x.length !== 3 || y.length !== 3 || x[0] !== y[0] || x[1] !== y[1]) return false
  const [s, u] = [x[2] as string, y[2] as string]
  return (
    /^[\w-]+$/.test(s) &&
    /^[\w-]+$/.test(u) &&
    s.length === u.length &&
    Buffer.from(s, 'base64url').equals(Buffer.from(u, 'base64url'))
  )
}

const isSha256 = (value: string) => value.length === 43 && isBase64url(value)
const sha256 = (value: string) => hash('sha256', value, 'base64url')

// ---------------------------------------------------------------------------------------------
// A model of the authorization request (RFC 6749 §4.1.1 as keybound checks it)

interface ModelClient {
  redirectUris: string[]
  isPublic: boolean
  codeGrant: boolean
  scopes: string[]
}
const NO_CODE: ModelClient = { redirectUris: [], isPublic: false, codeGrant: false, scopes: SCOPES }
const MODEL: Record<string, ModelClient> = {
  spa: { redirectUris: [SPA_CB], isPublic: true, codeGrant: true, scopes: SCOPES },
  web: {
    redirectUris: [WEB_CB, WEB_OTHER],
    isPublic: false,
    codeGrant: true,
    scopes: ['read', 'write'],
  },
  app: {
    redirectUris: [APP_CB, APP_OTHER],
    isPublic: false,
    codeGrant: true,
    scopes: ['read', 'write'],
  },
  svc: NO_CODE,
  ref: NO_CODE,
  rs: NO_CODE,
  other: NO_CODE,
}

function scopeOk(requested: string | undefined, allowed: readonly string[]): boolean {
  if (requested === undefined) return true
  const scopes = requested.split(' ').filter(Boolean)
  return (
    scopes.length > 0 && requested === scopes.join(' ') && scopes.every((s) => allowed.includes(s))
  )
}

/** The redirect URI the request resolves to, or `undefined` when it must not be redirected to. */
function redirectUriOf(params: Map<string, string>, client: ModelClient): string | undefined {
  const uri = params.get('redirect_uri')
  if (uri === undefined)
    return client.redirectUris.length === 1 ? client.redirectUris[0] : undefined
  return client.redirectUris.includes(uri) ? uri : undefined
}

/** Whether the rest of the request (answered at the redirect URI) is wrong. */
function requestProblem(params: Map<string, string>, client: ModelClient): boolean {
  if (params.has('request') || params.get('response_type') !== 'code') return true
  const mode = params.get('response_mode')
  if (mode !== undefined && mode !== 'query') return true
  if (!client.codeGrant) return true
  const challenge = params.get('code_challenge')
  const method = params.get('code_challenge_method')
  if (challenge === undefined) {
    if (method !== undefined || client.isPublic) return true
  } else if (method !== 'S256' || !isSha256(challenge)) return true
  if (!scopeOk(params.get('scope'), client.scopes)) return true
  const jkt = params.get('dpop_jkt')
  return jkt !== undefined && !isSha256(jkt)
}

type GetOutcome =
  | { kind: 'login'; redirectUri: string }
  | { kind: 'redirect'; redirectUri: string }
  | { kind: 'page' }

/** What GET /authorize must answer, in the order the endpoint checks. */
function expectedAuthorize(query: string): GetOutcome {
  const { params, repeated } = parametersOf(query)
  const id = params.get('client_id')
  const client =
    id === undefined || repeated.has('client_id') || !Object.hasOwn(MODEL, id)
      ? undefined
      : MODEL[id]
  if (!client) return { kind: 'page' }
  // A request_uri this test never pushed: unknown.
  if (params.has('request_uri') && !repeated.has('request_uri')) return { kind: 'page' }
  const redirectUri = repeated.has('redirect_uri') ? undefined : redirectUriOf(params, client)
  if (redirectUri === undefined) return { kind: 'page' }
  if (repeated.size > 0 || requestProblem(params, client)) return { kind: 'redirect', redirectUri }
  return { kind: 'login', redirectUri }
}

// ---------------------------------------------------------------------------------------------
// Mutations of a list of parameters (a query string or a form body)

type ParamMutation =
  | { kind: 'drop'; name: string }
  | { kind: 'dup'; name: string }
  | { kind: 'empty'; name: string }
  | { kind: 'set'; name: string; value: string; raw: boolean }
  | { kind: 'add'; name: string; value: string; raw: boolean }
  | { kind: 'bad'; name: string; encoded: string }
  | { kind: 'script_all' }

/** One encoded `name=value` pair, with its plain name. */
interface Pair {
  name: string
  text: string
}

function paramMutation(names: readonly string[], extra: readonly string[]) {
  const name = fc.constantFrom(...names)
  const anyName = fc.oneof(fc.constantFrom(...names, ...extra), extraName)
  return fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), name }),
    fc.record({ kind: fc.constant('dup' as const), name }),
    fc.record({ kind: fc.constant('empty' as const), name }),
    fc.record({ kind: fc.constant('set' as const), name, value: nasty, raw: fc.boolean() }),
    fc.record({
      kind: fc.constant('add' as const),
      name: anyName,
      value: nasty,
      raw: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('bad' as const), name: anyName, encoded: badEncoding }),
    fc.constant({ kind: 'script_all' as const }),
  ) as fc.Arbitrary<ParamMutation>
}

const pairsOf = (fields: Record<string, string>): Pair[] =>
  Object.entries(fields).map(([name, value]) => ({ name, text: `${pct(name)}=${pct(value)}` }))

function mutate(pairs: Pair[], m: ParamMutation): Pair[] {
  const pair = (name: string, encodedValue: string) => ({
    name,
    text: `${pct(name)}=${encodedValue}`,
  })
  switch (m.kind) {
    case 'drop':
      return pairs.filter((p) => p.name !== m.name)
    case 'dup': {
      const first = pairs.find((p) => p.name === m.name)
      return first ? [...pairs, first] : pairs
    }
    case 'empty':
      return pairs.map((p) => (p.name === m.name ? pair(p.name, '') : p))
    case 'set':
      return pairs.map((p) => (p.name === m.name ? pair(p.name, encode(m.value, m.raw)) : p))
    case 'add':
      return [
        ...pairs,
        { name: m.name, text: `${encode(m.name, m.raw)}=${encode(m.value, m.raw)}` },
      ]
    case 'bad':
      return pairs.some((p) => p.name === m.name)
        ? pairs.map((p) => (p.name === m.name ? pair(p.name, m.encoded) : p))
        : [...pairs, pair(m.name, m.encoded)]
    case 'script_all':
      return pairs.map((p) => pair(p.name, pct('<script>alert(1)</script>')))
  }
}

const joinPairs = (pairs: Pair[]) => pairs.map((p) => p.text).join('&')

/** A PKCE pair. */
function pkce() {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: sha256(verifier) }
}

// ---------------------------------------------------------------------------------------------
// Flows

interface LoginForm {
  tx: string
  csrf: string
  cookie: string
}

const cookieOf = (r: Answer) =>
  (r.headers['set-cookie'] ?? [])
    .map((c) => c.split(';')[0] as string)
    .find((c) => c.startsWith('keybound_browser='))

/** GET /authorize for a valid query: the login form's fields, and the browser cookie. */
async function startLogin(query: Record<string, string>, cookie?: string): Promise<LoginForm> {
  const r = await send('GET', `/authorize?${new URLSearchParams(query)}`, cookie ? { cookie } : {})
  assert.equal(r.status, 200, `GET /authorize: ${r.status} ${r.headers.location ?? r.body}`)
  const fields = hiddenFields(r.body)
  const browser = cookie ?? cookieOf(r)
  assert.ok(fields.tx && fields.csrf_token && browser, 'a login form and a cookie')
  return { tx: fields.tx, csrf: fields.csrf_token, cookie: browser }
}

function postAuthorize(
  fields: ReadonlyArray<readonly [string, string]>,
  headers: Record<string, string>,
): Promise<Answer> {
  return send('POST', '/authorize', { 'content-type': FORM, ...headers }, formOf(fields))
}

type CodeClient = 'spa' | 'app'
const REDIRECT: Record<CodeClient, string> = { spa: SPA_CB, app: APP_CB }

/** A fresh code of `client` for a first-party login, through the login form. */
async function newCode(
  client: CodeClient,
  options: { pkce: boolean; jkt?: string | undefined },
): Promise<{ code: string; verifier: string | undefined }> {
  const p = options.pkce ? pkce() : undefined
  const query: Record<string, string> = {
    response_type: 'code',
    client_id: client,
    redirect_uri: REDIRECT[client],
    scope: 'read write',
    state: 'st',
    ...(p ? { code_challenge: p.challenge, code_challenge_method: 'S256' } : {}),
    ...(options.jkt ? { dpop_jkt: options.jkt } : {}),
  }
  const login = await startLogin(query)
  const r = await postAuthorize(
    [
      ['tx', login.tx],
      ['csrf_token', login.csrf],
      ['username', freshUser()],
      ['password', PASSWORD],
    ],
    { cookie: login.cookie, 'x-forwarded-for': newAddress() },
  )
  assert.equal(r.status, 303, `login: ${r.status} ${r.body}`)
  const code = new URL(r.headers.location as string).searchParams.get('code')
  assert.ok(code)
  return { code, verifier: p?.verifier }
}

const tokenPath = () => `${t.issuer}/token`
const proof = (key: KeyPair, htu = tokenPath(), extra: { htm?: string; iat?: number } = {}) =>
  createProof({ key, htm: extra.htm ?? 'POST', htu, ...(extra.iat ? { iat: extra.iat } : {}) })

/** The credentials of a request at the token endpoint for `client`. */
function credentials(client: string): {
  headers: Record<string, string>
  fields: [string, string][]
} {
  return client === 'spa'
    ? { headers: {}, fields: [['client_id', 'spa']] }
    : { headers: { authorization: basic(client) }, fields: [] }
}

function tokenRequest(
  fields: ReadonlyArray<readonly [string, string]>,
  headers: Record<string, string | string[]>,
) {
  return send('POST', '/token', { 'content-type': FORM, ...headers }, formOf(fields))
}

/** A valid redemption of `code`, with a proof of k1. */
async function redeem(client: CodeClient, code: string, verifier: string | undefined) {
  const c = credentials(client)
  const r = await tokenRequest(
    [
      ['grant_type', 'authorization_code'],
      ['code', code],
      ['redirect_uri', REDIRECT[client]],
      ...(verifier ? ([['code_verifier', verifier]] as [string, string][]) : []),
      ...c.fields,
    ],
    { ...c.headers, dpop: await proof(k1) },
  )
  assert.equal(r.status, 200, `redeem: ${r.body}`)
  return JSON.parse(r.body) as { access_token: string; refresh_token: string; token_type: string }
}

/** A valid refresh of `refreshToken`, with a proof of k1. */
async function refresh(client: CodeClient, refreshToken: string) {
  const c = credentials(client)
  return tokenRequest(
    [['grant_type', 'refresh_token'], ['refresh_token', refreshToken], ...c.fields],
    { ...c.headers, dpop: await proof(k1) },
  )
}

async function clientCredentialsToken(client: string, key?: KeyPair): Promise<string> {
  const r = await tokenRequest([['grant_type', 'client_credentials']], {
    authorization: basic(client),
    ...(key ? { dpop: await proof(key) } : {}),
  })
  assert.equal(r.status, 200, r.body)
  return (JSON.parse(r.body) as { access_token: string }).access_token
}

/** Whether the owner, introspecting, sees `token` active. */
async function isActive(owner: string, token: string): Promise<boolean> {
  const r = await send(
    'POST',
    '/introspect',
    { 'content-type': FORM, authorization: basic(owner) },
    formOf([['token', token]]),
  )
  assert.equal(r.status, 200, r.body)
  return (JSON.parse(r.body) as { active: boolean }).active
}

type DpopKind =
  | 'none'
  | 'valid'
  | 'other_key'
  | 'flip'
  | 'wrong_htu'
  | 'get'
  | 'stale'
  | 'replayed'
  | 'double'

/** The `DPoP` header of `kind` for `htu`, and the key of a proof that must verify. */
async function dpopHeader(
  kind: DpopKind,
  htu: string,
  at: number,
): Promise<{ headers: Record<string, string | string[]>; key: 'k1' | 'k2' | undefined }> {
  switch (kind) {
    case 'none':
      return { headers: {}, key: undefined }
    case 'valid':
      return { headers: { dpop: await proof(k1, htu) }, key: 'k1' }
    case 'other_key':
      return { headers: { dpop: await proof(k2, htu) }, key: 'k2' }
    case 'flip': {
      // Any change breaks it: keybound's verifier takes canonical base64url only.
      const p = await proof(k1, htu)
      const i = at % p.length
      return { headers: { dpop: flip(p, i, p[i] === 'A' ? 'B' : 'A') }, key: undefined }
    }
    case 'wrong_htu':
      return { headers: { dpop: await proof(k1, `${t.issuer}/revoke`) }, key: undefined }
    case 'get':
      return { headers: { dpop: await proof(k1, htu, { htm: 'GET' }) }, key: undefined }
    case 'stale': {
      const iat = Math.floor(Date.now() / 1000) - 3600
      return { headers: { dpop: await proof(k1, htu, { iat }) }, key: undefined }
    }
    case 'replayed': {
      // Accepted once with a client credentials request, then sent again.
      const p = await proof(k1, htu)
      const r =
        htu === tokenPath()
          ? await tokenRequest([['grant_type', 'client_credentials']], {
              authorization: basic('ref'),
              dpop: p,
            })
          : await parRequest(formOf(Object.entries(parBase())), {
              authorization: basic('web'),
              dpop: p,
            })
      assert.ok(r.status === 200 || r.status === 201, r.body)
      return { headers: { dpop: p }, key: undefined }
    }
    case 'double':
      return { headers: { dpop: [await proof(k1, htu), await proof(k1, htu)] }, key: undefined }
  }
}

const dpopKind = weighted<DpopKind>(
  ['valid', 8],
  ['none', 3],
  ['other_key', 2],
  ['flip', 1],
  ['wrong_htu', 1],
  ['get', 1],
  ['stale', 1],
  ['replayed', 1],
  ['double', 1],
)

// ---------------------------------------------------------------------------------------------
// GET /authorize

const AUTHZ_NAMES = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
]
const SPECIAL_NAMES = ['request', 'request_uri', 'response_mode', 'dpop_jkt']

const queryMutation = fc.oneof(
  { arbitrary: paramMutation(AUTHZ_NAMES, SPECIAL_NAMES), weight: 20 },
  // A raw non-ASCII byte: the HTTP parser refuses the request line before any route.
  { arbitrary: fc.constant({ kind: 'raw_byte' as const }), weight: 1 },
)

function validQuery(client: 'spa' | 'web'): Record<string, string> {
  return client === 'spa'
    ? {
        response_type: 'code',
        client_id: 'spa',
        redirect_uri: SPA_CB,
        scope: 'read',
        state: 'xyz',
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }
    : { response_type: 'code', client_id: 'web', redirect_uri: WEB_CB, scope: 'read', state: 'xyz' }
}

test('GET /authorize: mutated queries get the login form only when valid, never a code, never unescaped input', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('spa' as const, 'web' as const),
      fc.array(queryMutation, { minLength: 0, maxLength: 4 }),
      async (client, mutations) => {
        let pairs = pairsOf(validQuery(client))
        let rawByte = false
        for (const m of mutations) {
          if (m.kind === 'raw_byte') rawByte = true
          else pairs = mutate(pairs, m)
        }
        const query = joinPairs(pairs)
        const path = `/authorize?${query}${rawByte ? '&x=\u00e9' : ''}`
        const label = `GET ${path.slice(0, 300)}`
        const r = await send('GET', path, {})
        if (rawByte || path.length > 15_500) {
          // Refused by the HTTP layer (400 bad request line, 431 too long) or answered.
          assertNoLeak(r, label)
          if (rawByte) assert.ok([400, 431].includes(r.status), `${label}: ${r.status}`)
          else if (path.length > 16_500) assert.equal(r.status, 431, label)
          assert.ok(!hasCode(r), label)
          return
        }
        assertPage(r, label)
        assert.ok(!hasCode(r), `${label}: a code from GET`)
        const expected = expectedAuthorize(query)
        if (expected.kind === 'login') {
          assert.equal(r.status, 200, `${label}: ${r.headers.location ?? r.body.slice(0, 300)}`)
          assert.match(r.body, /name="password"/, label)
          assert.ok(hiddenFields(r.body).tx, label)
        } else if (expected.kind === 'redirect') {
          assert.equal(r.status, 302, `${label}: ${r.body.slice(0, 300)}`)
          const url = redirectOf(r, expected.redirectUri, label)
          assert.equal(typeof url.searchParams.get('error'), 'string', label)
          // `state` goes back exactly as it came, encoded.
          assert.equal(
            url.searchParams.get('state'),
            parametersOf(query).params.get('state') ?? null,
            label,
          )
        } else {
          assert.equal(r.status, 400, `${label}: ${r.headers.location ?? ''}`)
          assert.equal(r.headers.location, undefined, label)
          assert.doesNotMatch(r.body, /<form/, `${label}: a form on an error page`)
        }
      },
    ),
    { numRuns: 500 },
  )
})

// ---------------------------------------------------------------------------------------------
// POST /authorize

type FieldChange = 'keep' | 'drop' | 'flip' | 'nasty' | 'other'
const fieldChange = weighted<FieldChange>(
  ['keep', 14],
  ['drop', 1],
  ['flip', 1],
  ['nasty', 1],
  ['other', 1],
)
const cookieChange = weighted<'keep' | 'drop' | 'other' | 'garbage'>(
  ['keep', 14],
  ['drop', 1],
  ['other', 1],
  ['garbage', 1],
)

const loginMutation = fc.record({
  tx: fieldChange,
  csrf: fieldChange,
  cookie: cookieChange,
  // Unknown usernames cost a full scrypt (the dummy hash): a few.
  username: weighted<'keep' | 'unknown' | 'huge'>(['keep', 24], ['unknown', 2], ['huge', 1]),
  password: weighted<'keep' | 'wrong' | 'huge' | 'drop'>(
    ['keep', 12],
    ['wrong', 2],
    ['huge', 1],
    ['drop', 1],
  ),
  extra: fc.array(fc.tuple(extraName, nasty), { maxLength: 2 }),
  repeat: weighted<string | undefined>(
    [undefined, 24],
    ['tx', 1],
    ['csrf_token', 1],
    ['username', 1],
    ['password', 1],
  ),
  contentType: weighted<string>(
    [FORM, 24],
    [`${FORM}; charset=utf-8`, 2],
    ['application/json', 1],
    ['text/plain', 1],
    ['multipart/form-data; boundary=x', 1],
  ),
  at: fc.nat(),
  char: flipChar,
  value: nasty,
})

const consentMutation = fc.record({
  tx: fieldChange,
  csrf: weighted<'keep' | 'drop' | 'old' | 'nasty'>(
    ['keep', 12],
    ['drop', 1],
    ['old', 1],
    ['nasty', 1],
  ),
  cookie: cookieChange,
  decision: weighted<string | undefined>(
    ['allow', 10],
    ['deny', 2],
    [undefined, 1],
    ['Allow', 1],
    ['allow ', 1],
    ['<script>alert(1)</script>', 1],
  ),
  at: fc.nat(),
  char: flipChar,
  value: nasty,
})

/** A field after `change`: the value, and whether it is still the right one. */
function changed(
  change: FieldChange,
  value: string,
  other: string,
  m: { at: number; char: string; value: string },
): string | undefined {
  switch (change) {
    case 'keep':
      return value
    case 'drop':
      return undefined
    case 'flip':
      return flip(value, m.at, m.char)
    case 'nasty':
      return m.value
    case 'other':
      return other
  }
}

test('POST /authorize: a code only for the right transaction, CSRF token, browser, password and consent', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('spa' as const, 'web' as const),
      loginMutation,
      consentMutation,
      async (client, lm, cm) => {
        const query = validQuery(client)
        const redirectUri = query.redirect_uri as string
        const login = await startLogin(query)
        // A transaction of another browser, for the cross-browser mutations.
        const needsOther =
          lm.tx === 'other' || lm.csrf === 'other' || lm.cookie === 'other' || cm.cookie === 'other'
        const other = needsOther ? await startLogin(validQuery('web')) : login
        const user = freshUser()
        const address = newAddress()

        const cookieFor = (change: string) =>
          change === 'keep'
            ? login.cookie
            : change === 'other'
              ? other.cookie
              : change === 'garbage'
                ? 'keybound_browser=<script>; x=1'
                : undefined
        const headersFor = (change: string, contentType = FORM) => {
          const cookie = cookieFor(change)
          return {
            'content-type': contentType,
            'x-forwarded-for': address,
            ...(cookie ? { cookie } : {}),
          }
        }

        // 1. The login form.
        const tx = changed(lm.tx, login.tx, other.tx, lm)
        const csrf = changed(lm.csrf, login.csrf, other.csrf, lm)
        // Unknown usernames are unique, so that none is throttled after five runs.
        const username =
          lm.username === 'keep'
            ? user
            : lm.username === 'huge'
              ? `${'u'.repeat(2000)}${address}`
              : `${lm.value}${address}`
        const password =
          lm.password === 'keep'
            ? PASSWORD
            : lm.password === 'wrong'
              ? `${PASSWORD}x`
              : lm.password === 'huge'
                ? 'p'.repeat(2000)
                : undefined
        const fields: [string, string][] = []
        if (tx !== undefined) fields.push(['tx', tx])
        if (csrf !== undefined) fields.push(['csrf_token', csrf])
        fields.push(['username', username])
        if (password !== undefined) fields.push(['password', password])
        fields.push(...lm.extra)
        const repeated = lm.repeat && fields.find(([n]) => n === lm.repeat)
        if (repeated) fields.push(repeated)

        const body =
          lm.contentType === 'application/json'
            ? JSON.stringify(Object.fromEntries(fields))
            : formOf(fields)
        const formOk =
          lm.contentType.startsWith(FORM) &&
          parametersOf(body).repeated.size === 0 &&
          body.length <= 64 * 1024
        const sessionOk =
          tx === login.tx && csrf === login.csrf && cookieFor(lm.cookie) === login.cookie
        // All three of the other browser: a login to its own transaction (web, with consent).
        const otherSession =
          other !== login &&
          tx === other.tx &&
          csrf === other.csrf &&
          cookieFor(lm.cookie) === other.cookie
        const passwordOk = username === user && password === PASSWORD
        if (formOk && (sessionOk || otherSession) && !passwordOk) failedLogin(username)
        const loginOk = formOk && sessionOk && passwordOk

        const label = `${client} login ${JSON.stringify({ ...lm, value: lm.value.slice(0, 40) })}`
        let r = await send('POST', '/authorize', headersFor(lm.cookie, lm.contentType), body)
        assertPage(r, label)
        if (!loginOk) {
          assert.ok(!hasCode(r), `${label}: a code`)
          assert.ok([200, 400, 403, 413].includes(r.status), `${label}: ${r.status}`)
          if (formOk && otherSession && passwordOk) {
            assert.equal(r.status, 200, label)
            assert.match(r.body, /name="decision"/, `${label}: the other transaction's consent`)
          } else {
            assert.doesNotMatch(r.body, /name="decision"/, `${label}: the consent form`)
          }
          if (formOk && (sessionOk || otherSession) && !passwordOk) {
            assert.match(r.body, /Wrong username or password/, label)
          }
          // The transaction is intact: the right form still works.
          r = await postAuthorize(
            [
              ['tx', login.tx],
              ['csrf_token', login.csrf],
              ['username', user],
              ['password', PASSWORD],
            ],
            { cookie: login.cookie, 'x-forwarded-for': address },
          )
          assertPage(r, `${label}, then the right form`)
        }
        if (client === 'spa') {
          assert.equal(r.status, 303, `${label}: ${r.body}`)
          assert.ok(redirectOf(r, redirectUri, label).searchParams.get('code'), label)
          // The transaction has ended.
          const again = await postAuthorize(
            [
              ['tx', login.tx],
              ['csrf_token', login.csrf],
              ['username', user],
              ['password', PASSWORD],
            ],
            { cookie: login.cookie, 'x-forwarded-for': address },
          )
          assertPage(again, `${label}, replayed`)
          assert.equal(again.status, 400, `${label}, replayed`)
          assert.ok(!hasCode(again), `${label}, replayed`)
          return
        }

        // 2. The consent form (web).
        assert.equal(r.status, 200, `${label}: ${r.body}`)
        assert.match(r.body, /name="decision"/, label)
        assert.match(r.body, /Web &lt;App&gt;/, label)
        const consent = hiddenFields(r.body)
        const newCsrf = consent.csrf_token as string
        assert.notEqual(newCsrf, login.csrf, 'a new CSRF token after login')
        const ctx = changed(cm.tx, login.tx, other.tx, cm)
        const ccsrf =
          cm.csrf === 'keep'
            ? newCsrf
            : cm.csrf === 'old'
              ? login.csrf
              : cm.csrf === 'nasty'
                ? cm.value
                : undefined
        const cfields: [string, string][] = []
        if (ctx !== undefined) cfields.push(['tx', ctx])
        if (ccsrf !== undefined) cfields.push(['csrf_token', ccsrf])
        if (cm.decision !== undefined) cfields.push(['decision', cm.decision])
        const clabel = `${label} consent ${JSON.stringify({ ...cm, value: cm.value.slice(0, 40) })}`
        const consentSessionOk =
          ctx === login.tx && ccsrf === newCsrf && cookieFor(cm.cookie) === login.cookie
        let c = await postAuthorize(cfields, headersFor(cm.cookie))
        assertPage(c, clabel)
        if (!consentSessionOk) {
          assert.ok([400, 403, 413].includes(c.status), `${clabel}: ${c.status}`)
          assert.ok(!hasCode(c) && c.headers.location === undefined, clabel)
          // Still pending: the right form decides.
          c = await postAuthorize(
            [
              ['tx', login.tx],
              ['csrf_token', newCsrf],
              ['decision', 'allow'],
            ],
            { cookie: login.cookie },
          )
          assertPage(c, `${clabel}, then the right form`)
        }
        assert.equal(c.status, 303, `${clabel}: ${c.body}`)
        const url = redirectOf(c, redirectUri, clabel)
        assert.equal(url.searchParams.get('tenant'), '1', clabel)
        assert.equal(url.searchParams.get('state'), 'xyz', clabel)
        if (!consentSessionOk || cm.decision === 'allow') {
          assert.ok(url.searchParams.get('code'), `${clabel}: no code`)
        } else {
          assert.equal(url.searchParams.get('code'), null, `${clabel}: a code without consent`)
          assert.equal(url.searchParams.get('error'), 'access_denied', clabel)
        }
        // The transaction has ended.
        const again = await postAuthorize(
          [
            ['tx', login.tx],
            ['csrf_token', newCsrf],
            ['decision', 'allow'],
          ],
          { cookie: login.cookie },
        )
        assertPage(again, `${clabel}, replayed`)
        assert.equal(again.status, 400, `${clabel}, replayed`)
        assert.ok(!hasCode(again), `${clabel}, replayed`)
      },
    ),
    { numRuns: 300 },
  )
})

// ---------------------------------------------------------------------------------------------
// POST /par

function parBase(): Record<string, string> {
  return {
    response_type: 'code',
    redirect_uri: WEB_CB,
    scope: 'read',
    state: 'xyz',
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
  }
}

function parRequest(body: string, headers: Record<string, string | string[]>, contentType = FORM) {
  return send('POST', '/par', { 'content-type': contentType, ...headers }, body)
}

type ParAuth =
  | 'basic'
  | 'wrong_secret'
  | 'none'
  | 'malformed'
  | 'post'
  | 'body_id'
  | 'body_other_id'

test('POST /par: a request_uri only for an authenticated, valid request; it is used once, by its client', async () => {
  await fc.assert(
    fc.asyncProperty(
      weighted<ParAuth>(
        ['basic', 12],
        ['wrong_secret', 1],
        ['none', 1],
        ['malformed', 1],
        ['post', 1],
        ['body_id', 1],
        ['body_other_id', 1],
      ),
      fc.array(
        paramMutation(
          [...AUTHZ_NAMES.filter((n) => n !== 'client_id')],
          ['request', 'request_uri', 'response_mode', 'dpop_jkt'],
        ),
        { maxLength: 3 },
      ),
      weighted<DpopKind>(
        ['none', 6],
        ['valid', 6],
        ['other_key', 2],
        ['flip', 1],
        ['wrong_htu', 1],
        ['get', 1],
        ['stale', 1],
        ['replayed', 1],
        ['double', 1],
      ),
      weighted<'none' | 'k1' | 'k2' | 'nasty'>(['none', 6], ['k1', 3], ['k2', 1], ['nasty', 1]),
      weighted<string>([FORM, 20], ['application/json', 1], ['text/plain', 1]),
      weighted<'valid' | 'mutated' | 'forged' | 'other_client' | 'junk'>(
        ['valid', 4],
        ['mutated', 1],
        ['forged', 1],
        ['other_client', 1],
        ['junk', 1],
      ),
      fc.nat(),
      nasty,
      async (auth, mutations, dpop, jkt, contentType, use, at, value) => {
        const base = parBase()
        if (jkt !== 'none') base.dpop_jkt = jkt === 'k1' ? jkt1 : jkt === 'k2' ? jkt2 : value
        let pairs = pairsOf(base)
        for (const m of mutations) pairs = mutate(pairs, m)
        if (auth === 'post') pairs.push(...pairsOf({ client_id: 'web', client_secret: SECRET }))
        if (auth === 'body_id') pairs.push(...pairsOf({ client_id: 'web' }))
        if (auth === 'body_other_id') pairs.push(...pairsOf({ client_id: 'app' }))
        const body = joinPairs(pairs)
        const authorization =
          auth === 'wrong_secret'
            ? basic('web', `${SECRET}x`)
            : auth === 'malformed'
              ? 'Basic !!!'
              : auth === 'none' || auth === 'post'
                ? undefined
                : basic('web')
        const proofOf = await dpopHeader(dpop, `${t.issuer}/par`, at)
        const headers = { ...(authorization ? { authorization } : {}), ...proofOf.headers }

        // The model: the form, the client, the request, the key.
        const { params, repeated } = parametersOf(body)
        const jktParam = params.get('dpop_jkt')
        const keyOk =
          dpop === 'none'
            ? true
            : proofOf.key !== undefined &&
              (jktParam === undefined || jktParam === (proofOf.key === 'k1' ? jkt1 : jkt2))
        const ok =
          contentType === FORM &&
          body.length <= 64 * 1024 &&
          repeated.size === 0 &&
          !params.has('request_uri') &&
          (auth === 'basic' || auth === 'body_id') &&
          redirectUriOf(params, MODEL.web as ModelClient) !== undefined &&
          !requestProblem(params, MODEL.web as ModelClient) &&
          keyOk

        const label = `PAR ${auth} ${dpop} ${contentType} ${body.slice(0, 300)}`
        const r = await parRequest(body, headers, contentType)
        const answer = assertApi(r, PAR_ERRORS, label)
        if (!ok) {
          assert.ok(r.status >= 400, `${label}: ${r.status} ${r.body}`)
          assert.equal(answer.request_uri, undefined, label)
          return
        }
        assert.equal(r.status, 201, `${label}: ${r.body}`)
        const requestUri = answer.request_uri as string
        assert.match(requestUri, /^urn:ietf:params:oauth:request_uri:[\w-]{43}$/, label)
        assert.equal(typeof answer.expires_in, 'number', label)

        // The request_uri at /authorize: once, by its client, and only its pushed parameters.
        const authorize = (q: string) => send('GET', `/authorize?${q}`, {})
        const valid = `client_id=web&request_uri=${pct(requestUri)}`
        if (use === 'mutated' || use === 'forged' || use === 'other_client') {
          const i = requestUri.length - 1 - (at % 43)
          const mutated =
            use === 'mutated'
              ? flip(requestUri, i, requestUri[i] === 'A' ? 'B' : 'A')
              : `urn:ietf:params:oauth:request_uri:${value.slice(0, 200)}`
          const q =
            use === 'other_client'
              ? `client_id=app&request_uri=${pct(requestUri)}`
              : `client_id=web&request_uri=${pct(mutated)}`
          const wrong = await authorize(q)
          assertPage(wrong, `${label} ${q}`)
          assert.equal(wrong.status, 400, `${label} ${q}`)
          assert.doesNotMatch(wrong.body, /name="password"/, `${label} ${q}: a login form`)
          // Another client's attempt spends it (it is consumed, then refused).
          if (use === 'other_client') return
        }
        const junk =
          use === 'junk'
            ? `&redirect_uri=${pct('https://evil.example/')}&scope=admin&response_type=token`
            : ''
        const first = await authorize(`${valid}${junk}`)
        assertPage(first, `${label}: use`)
        assert.equal(first.status, 200, `${label}: use ${first.headers.location ?? first.body}`)
        assert.match(first.body, /name="password"/, label)
        assert.doesNotMatch(String(first.headers['content-security-policy']), /evil/, label)
        const second = await authorize(valid)
        assertPage(second, `${label}: second use`)
        assert.equal(second.status, 400, `${label}: second use`)
        assert.doesNotMatch(second.body, /name="password"/, `${label}: second use`)
      },
    ),
    { numRuns: 300 },
  )
})

// ---------------------------------------------------------------------------------------------
// POST /introspect and POST /revoke

type Target = 'jwt' | 'ref' | 'refresh'
const OWNER: Record<Target, string> = { jwt: 'svc', ref: 'ref', refresh: 'app' }
type Caller = 'owner' | 'owner_wrong' | 'rs' | 'other' | 'public' | 'none' | 'malformed' | 'unknown'
const caller = weighted<Caller>(
  ['owner', 8],
  ['owner_wrong', 1],
  ['unknown', 1],
  ['rs', 3],
  ['other', 2],
  ['public', 1],
  ['none', 1],
  ['malformed', 1],
)
type TokenChange = 'keep' | 'flip' | 'truncate' | 'append' | 'nasty' | 'drop' | 'huge' | 'too_large'
const tokenChange = weighted<TokenChange>(
  ['keep', 8],
  ['flip', 6],
  ['truncate', 1],
  ['append', 1],
  ['nasty', 1],
  ['drop', 1],
  ['huge', 1],
  ['too_large', 1],
)

function changedToken(
  token: string,
  change: TokenChange,
  m: { at: number; char: string; value: string },
): string | undefined {
  switch (change) {
    case 'keep':
      return token
    case 'flip':
      return flip(token, m.at, m.char)
    case 'truncate':
      return token.slice(0, 1 + (m.at % (token.length - 1)))
    case 'append':
      return `${token}${m.char}`
    case 'nasty':
      return m.value
    case 'drop':
      return undefined
    case 'huge':
      return `${token}${'A'.repeat(40_000)}`
    case 'too_large':
      return `${token}${'A'.repeat(70_000)}`
  }
}

function callerAuth(
  c: Caller,
  owner: string,
  value: string,
): { headers: Record<string, string>; fields: [string, string][] } {
  switch (c) {
    case 'unknown':
      // Never a registered id (a short random string could be "rs"); short enough for a header.
      return {
        headers: { authorization: basic(pct(`unknown-${value.slice(0, 100)}`)) },
        fields: [],
      }
    case 'owner':
      return { headers: { authorization: basic(owner) }, fields: [] }
    case 'owner_wrong':
      return { headers: { authorization: basic(owner, `${SECRET}!`) }, fields: [] }
    case 'rs':
      return { headers: { authorization: basic('rs') }, fields: [] }
    case 'other':
      return { headers: { authorization: basic('other') }, fields: [] }
    case 'public':
      return { headers: {}, fields: [['client_id', 'spa']] }
    case 'none':
      return { headers: {}, fields: [] }
    case 'malformed':
      return { headers: { authorization: 'Basic !!!' }, fields: [] }
  }
}

let introspected: Record<Target, string>

test('POST /introspect: active only for the unchanged token and a client allowed to see it', async () => {
  const code = await newCode('app', { pkce: true })
  introspected = {
    jwt: await clientCredentialsToken('svc', k1),
    ref: await clientCredentialsToken('ref'),
    refresh: (await redeem('app', code.code, code.verifier)).refresh_token,
  }
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<Target>('jwt', 'ref', 'refresh'),
      caller,
      tokenChange,
      fc.option(fc.oneof(fc.constantFrom('access_token', 'refresh_token'), nasty)),
      fc.array(fc.tuple(extraName, nasty), { maxLength: 2 }),
      weighted<'none' | 'token' | 'hint'>(['none', 12], ['token', 1], ['hint', 1]),
      weighted<string>([FORM, 20], ['application/json', 1], ['text/plain', 1]),
      fc.record({ at: fc.nat(), char: flipChar, value: nasty }),
      async (target, who, change, hint, extra, repeat, contentType, m) => {
        const original = introspected[target]
        const owner = OWNER[target]
        const token = changedToken(original, change, m)
        const auth = callerAuth(who, owner, m.value)
        const fields: [string, string][] = [...auth.fields]
        if (token !== undefined) fields.push(['token', token])
        if (hint !== null) fields.push(['token_type_hint', hint])
        fields.push(...extra)
        if (repeat === 'token' && token !== undefined) fields.push(['token', token])
        if (repeat === 'hint' && hint !== null) fields.push(['token_type_hint', `${hint}x`])
        const body =
          contentType === 'application/json'
            ? JSON.stringify(Object.fromEntries(fields))
            : formOf(fields)
        const label = `introspect ${target} by ${who}, ${change} (${token?.slice(0, 80)}), ${contentType}`
        const r = await send(
          'POST',
          '/introspect',
          { 'content-type': contentType, ...auth.headers },
          body,
        )
        const answer = assertApi(r, INTROSPECT_ERRORS, label)

        const { repeated } = parametersOf(body)
        const authenticated = ['owner', 'rs', 'other'].includes(who)
        if (body.length > 64 * 1024) {
          assert.equal(r.status, 413, label)
          return
        }
        if (contentType !== FORM || repeated.size > 0 || !authenticated || token === undefined) {
          assert.ok(r.status >= 400, `${label}: ${r.status} ${r.body}`)
          assert.notEqual(answer.active, true, label)
          if (
            contentType === FORM &&
            repeated.size === 0 &&
            !authenticated &&
            who !== 'malformed'
          ) {
            assert.equal(r.status, 401, label)
            assert.equal(answer.error, 'invalid_client', label)
          }
          return
        }
        assert.equal(r.status, 200, `${label}: ${r.body}`)
        assert.equal(typeof answer.active, 'boolean', label)
        const maySee = who === 'owner' || (who === 'rs' && target !== 'refresh')
        if (token === original) {
          assert.equal(answer.active, maySee, `${label}: ${r.body}`)
        } else if (target === 'jwt' && sameJws(original, token)) {
          // The same signature in another (non-canonical) base64url spelling: either answer.
        } else {
          assert.equal(answer.active, false, `${label}: a changed token is active`)
        }
        if (answer.active === true) {
          assert.equal(answer.client_id, owner, label)
          assert.equal(typeof answer.exp, 'number', label)
        } else {
          assert.deepEqual(answer, { active: false }, label)
        }
      },
    ),
    { numRuns: 400 },
  )
})

test('POST /revoke: only the owner revokes, only the unchanged token; others are left active', async () => {
  const jwt = await clientCredentialsToken('svc', k1)
  let liveRefresh: string | undefined
  await fc.assert(
    fc.asyncProperty(
      weighted<Target>(['ref', 5], ['refresh', 2], ['jwt', 1]),
      weighted<Caller>(
        ['owner', 8],
        ['owner_wrong', 1],
        ['unknown', 1],
        ['rs', 1],
        ['other', 1],
        ['public', 1],
        ['none', 1],
        ['malformed', 1],
      ),
      weighted<TokenChange>(['keep', 8], ['flip', 3], ['truncate', 1], ['nasty', 1], ['drop', 1]),
      fc.option(fc.oneof(fc.constantFrom('access_token', 'refresh_token'), nasty)),
      weighted<string>([FORM, 20], ['application/json', 1]),
      fc.record({ at: fc.nat(), char: flipChar, value: nasty }),
      async (target, who, change, hint, contentType, m) => {
        let original: string
        if (target === 'ref') original = await clientCredentialsToken('ref')
        else if (target === 'jwt') original = jwt
        else {
          if (liveRefresh === undefined) {
            const code = await newCode('app', { pkce: false })
            liveRefresh = (await redeem('app', code.code, undefined)).refresh_token
          }
          original = liveRefresh
        }
        const owner = OWNER[target]
        const token = changedToken(original, change, m)
        const auth = callerAuth(who, owner, m.value)
        const fields: [string, string][] = [...auth.fields]
        if (token !== undefined) fields.push(['token', token])
        if (hint !== null) fields.push(['token_type_hint', hint])
        const body =
          contentType === FORM ? formOf(fields) : JSON.stringify(Object.fromEntries(fields))
        const label = `revoke ${target} by ${who}, ${change} (${token?.slice(0, 80)}), ${contentType}`
        const r = await send(
          'POST',
          '/revoke',
          { 'content-type': contentType, ...auth.headers },
          body,
        )
        assertApi(r, REVOKE_ERRORS, label)

        // `public` is spa, a client that may revoke its own tokens: none of these.
        const authenticated = ['owner', 'rs', 'other', 'public'].includes(who)
        const same = token === original
        const equivalent = target === 'jwt' && token !== undefined && sameJws(original, token)
        let revoked = false
        if (body.length > 64 * 1024) {
          assert.equal(r.status, 413, label)
        } else if (contentType !== FORM || !authenticated || token === undefined) {
          assert.ok(r.status >= 400, `${label}: ${r.status}`)
        } else if (who === 'owner' && target === 'jwt' && (same || equivalent)) {
          // A JWT cannot be revoked: the owner is told so. A non-canonical spelling of it may be
          // taken as the same token, or as an unknown one.
          if (same || r.status !== 200) {
            assert.equal(r.status, 400, label)
            assert.equal((JSON.parse(r.body) as { error: string }).error, 'unsupported_token_type')
          }
        } else {
          assert.equal(r.status, 200, `${label}: ${r.body}`)
          assert.equal(r.body, '', label)
          revoked = who === 'owner' && same && target !== 'jwt'
        }
        assert.equal(await isActive(owner, original), !revoked, `${label}: revoked=${revoked}`)
        if (revoked && target === 'refresh') liveRefresh = undefined
      },
    ),
    { numRuns: 300 },
  )
})

// ---------------------------------------------------------------------------------------------
// POST /register

type RegisterAuth = 'valid' | 'lowercase' | 'missing' | 'wrong' | 'prefix' | 'basic' | 'two_spaces'
const REGISTER_AUTH: Record<RegisterAuth, string | undefined> = {
  valid: `Bearer ${INITIAL}`,
  lowercase: `bearer ${INITIAL}`,
  missing: undefined,
  wrong: 'Bearer not-the-initial-access-token',
  prefix: `Bearer ${INITIAL}x`,
  basic: basic('web'),
  two_spaces: `Bearer  ${INITIAL}`,
}

/** A body, and whether the server must register it (given a valid token and JSON type). */
interface RegisterBody {
  text: string
  mustRegister: boolean
}

const metadataValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nasty)
const metadataObject = fc
  .record(
    {
      client_name: fc.oneof(nasty, fc.constant('A client')),
      grant_types: fc.subarray([
        'client_credentials',
        'authorization_code',
        'refresh_token',
        'password',
        'implicit',
      ]),
      redirect_uris: fc.array(
        fc.oneof(
          fc.constantFrom(
            'https://r.example/cb',
            'http://localhost/cb',
            'javascript:alert(1)',
            'https://x.example/#f',
            'app.example:/cb',
          ),
          nasty,
        ),
        { maxLength: 3 },
      ),
      token_endpoint_auth_method: fc.constantFrom(
        'client_secret_basic',
        'client_secret_post',
        'none',
        'private_key_jwt',
        'tls_client_auth',
        'bogus',
      ),
      scope: fc.constantFrom('read', 'read write', 'admin', 'bogus', '', 'read  write'),
      token_binding: fc.constantFrom('none', 'dpop', 'mtls', 'pop', 'x'),
      dpop_bound_access_tokens: fc.oneof(fc.boolean(), metadataValue),
      jwks_uri: fc.constantFrom('https://k.example/jwks', 'http://k.example/jwks', '<script>'),
      first_party: fc.constant(true),
      introspection: fc.constant(true),
      client_id: fc.constant('chosen-id'),
      client_secret: fc.constant('chosen-secret-0123456789'),
      metadata: fc.constant({}),
      source: fc.constant('config'),
    },
    { requiredKeys: [] },
  )
  .chain((known) =>
    fc
      .dictionary(fc.oneof(fc.string({ maxLength: 12 }), extraName), metadataValue, { maxKeys: 4 })
      .map((extra) => ({ ...extra, ...known })),
  )

const registerBody: fc.Arbitrary<RegisterBody> = fc.oneof(
  // Valid metadata, the client name aside.
  {
    arbitrary: fc.oneof(nasty, fc.constant('Registered')).map((name) => ({
      text: JSON.stringify({
        client_name: name,
        grant_types: ['client_credentials'],
        scope: 'read',
      }),
      mustRegister: !name.includes('\u0000'),
    })),
    weight: 4,
  },
  {
    arbitrary: metadataObject.map((o) => ({ text: JSON.stringify(o), mustRegister: false })),
    weight: 8,
  },
  {
    arbitrary: fc
      .jsonValue()
      .map((v) => ({ text: JSON.stringify(v) ?? 'null', mustRegister: false })),
    weight: 2,
  },
  // Deep nesting, within and beyond the body limit.
  {
    arbitrary: fc
      .record({ depth: fc.integer({ min: 30, max: 40_000 }), open: fc.constantFrom('[', '{"a":') })
      .map(({ depth, open }) => {
        const close = open === '[' ? ']' : '}'
        return {
          text: `{"grant_types":["client_credentials"],"x":${open.repeat(depth)}1${close.repeat(depth)}}`,
          mustRegister: false,
        }
      }),
    weight: 2,
  },
  // Prototype pollution.
  {
    arbitrary: fc
      .constantFrom(
        '{"__proto__":{"polluted":"yes"}}',
        '{"grant_types":["client_credentials"],"__proto__":{"first_party":true,"introspection":true}}',
        '{"constructor":{"prototype":{"polluted":"yes"}}}',
        '{"grant_types":["client_credentials"],"x":{"__proto__":{"polluted":"yes"}}}',
        '{"grant_types":["client_credentials"],"x":{"constructor":{"prototype":{"polluted":"yes"}}}}',
        '[{"__proto__":{"polluted":"yes"}}]',
        '{"grant_types":["client_credentials"],"constructor":"x","prototype":{"polluted":"yes"},"toString":1,"hasOwnProperty":1}',
        '{"grant_types":["client_credentials"],"jwks":{"keys":[{"__proto__":{"kty":"oct"}}]}}',
      )
      .map((text) => ({ text, mustRegister: false })),
    weight: 2,
  },
  // Not JSON, or not an object.
  {
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 60 }),
        fc.constantFrom(
          '',
          'null',
          '[]',
          '"x"',
          '1',
          'true',
          '{',
          '{"a":1,}',
          '\u0000',
          '{"a":"\\ud800"}',
          "{'a':1}",
        ),
        fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString('latin1')),
      )
      .map((text) => ({ text, mustRegister: false })),
    weight: 2,
  },
  // Huge, within and beyond the body limit.
  {
    arbitrary: fc.integer({ min: 50_000, max: 80_000 }).map((n) => ({
      text: JSON.stringify({ grant_types: ['client_credentials'], client_name: 'n'.repeat(n) }),
      mustRegister: false,
    })),
    weight: 1,
  },
)

/** The own properties of Object.prototype, to see pollution. */
const PROTOTYPE = Object.getOwnPropertyNames(Object.prototype).sort().join()

test('POST /register: 201 only with the initial access token; never 5xx, never pollution, never granted rights', async () => {
  await fc.assert(
    fc.asyncProperty(
      weighted<RegisterAuth>(
        ['valid', 12],
        ['lowercase', 1],
        ['missing', 2],
        ['wrong', 2],
        ['prefix', 1],
        ['basic', 1],
        ['two_spaces', 1],
      ),
      weighted<string>(
        ['application/json', 14],
        ['application/json; charset=utf-8', 2],
        ['Application/JSON', 1],
        ['text/plain', 1],
        [FORM, 1],
        ['application/xml', 1],
        ['application/jsonx', 1],
        ['', 1],
      ),
      registerBody,
      async (auth, contentType, { text, mustRegister }) => {
        const authorization = REGISTER_AUTH[auth]
        const headers: Record<string, string> = {
          ...(authorization ? { authorization } : {}),
          ...(contentType ? { 'content-type': contentType } : {}),
        }
        const label = `register ${auth} ${contentType} ${text.slice(0, 200)}`
        const r = await send('POST', '/register', headers, text)
        const answer = assertApi(r, REGISTER_ERRORS, label)
        assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(), PROTOTYPE, label)
        assert.equal(({} as Record<string, unknown>).polluted, undefined, label)

        if (auth !== 'valid' && auth !== 'lowercase') {
          assert.equal(r.status, 401, `${label}: ${r.body}`)
          assert.equal(answer.error, 'invalid_token', label)
          assert.match(String(r.headers['www-authenticate']), /^Bearer /, label)
          return
        }
        assert.ok([201, 400, 413].includes(r.status), `${label}: ${r.status}`)
        // Too large for a type the server reads; a type it does not read is refused unread.
        if (
          Buffer.byteLength(text) > 64 * 1024 &&
          /^(application\/json|text\/plain)\s*(;|$)/.test(contentType)
        ) {
          assert.equal(r.status, 413, label)
        }
        const jsonType = /^application\/json\s*(;|$)/i.test(contentType)
        if (
          mustRegister &&
          ['application/json', 'application/json; charset=utf-8'].includes(contentType)
        ) {
          assert.equal(r.status, 201, `${label}: ${r.body}`)
        }
        if (r.status !== 201) return
        assert.ok(jsonType, `${label}: registered from ${contentType}`)
        let sent: unknown
        assert.doesNotThrow(() => {
          sent = JSON.parse(text)
        }, label)
        assert.ok(typeof sent === 'object' && sent !== null && !Array.isArray(sent), label)
        for (const name of [
          'first_party',
          'introspection',
          'client_id',
          'client_secret',
          'metadata',
          'source',
        ]) {
          assert.ok(!Object.hasOwn(sent as object, name), `${label}: registered with ${name}`)
        }
        assert.equal(typeof answer.client_id, 'string', label)
        assert.notEqual(answer.first_party, true, label)
        assert.notEqual(answer.introspection, true, label)
        const stored = await t.server.context.store.getClient(answer.client_id as string)
        assert.ok(stored, label)
        assert.equal(stored.first_party, false, label)
        assert.notEqual(stored.metadata.introspection, true, label)
        assert.equal(stored.source, 'registration', label)
      },
    ),
    { numRuns: 500 },
  )
})

// ---------------------------------------------------------------------------------------------
// POST /token: authorization_code

test('POST /token authorization_code: a token only for the unchanged code, verifier, redirect URI, client and key', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<CodeClient>('spa', 'app'),
      fc.boolean(),
      fc.boolean(),
      fc.record({
        code: weighted<'keep' | 'flip' | 'nasty' | 'drop' | 'replay'>(
          ['keep', 14],
          ['flip', 2],
          ['nasty', 1],
          ['drop', 1],
          ['replay', 2],
        ),
        verifier: weighted<'keep' | 'flip' | 'drop' | 'nasty' | 'other'>(
          ['keep', 14],
          ['flip', 1],
          ['drop', 1],
          ['nasty', 1],
          ['other', 1],
        ),
        redirect: weighted<'keep' | 'drop' | 'other' | 'nasty'>(
          ['keep', 14],
          ['drop', 2],
          ['other', 1],
          ['nasty', 1],
        ),
        auth: weighted<'ok' | 'wrong' | 'none' | 'mismatch'>(
          ['ok', 14],
          ['wrong', 1],
          ['none', 1],
          ['mismatch', 1],
        ),
        dpop: dpopKind,
        repeat: weighted<string | undefined>([undefined, 20], ['grant_type', 1], ['code', 1]),
        extra: fc.array(fc.tuple(fc.stringMatching(/^x_[a-z]{1,8}$/), nasty), { maxLength: 1 }),
        at: fc.nat(),
        char: flipChar,
        value: nasty,
      }),
      async (client, withPkce, bind, m) => {
        const usePkce = client === 'spa' || withPkce
        const issued = await newCode(client, { pkce: usePkce, jkt: bind ? jkt1 : undefined })
        let firstRefresh: string | undefined
        if (m.code === 'replay')
          firstRefresh = (await redeem(client, issued.code, issued.verifier)).refresh_token

        const code =
          m.code === 'keep' || m.code === 'replay'
            ? issued.code
            : m.code === 'flip'
              ? flip(issued.code, m.at, m.char)
              : m.code === 'nasty'
                ? m.value
                : undefined
        const otherVerifier = pkce().verifier
        const verifier =
          m.verifier === 'keep'
            ? issued.verifier
            : m.verifier === 'flip'
              ? flip(issued.verifier ?? otherVerifier, m.at, m.char === '.' ? '~' : m.char)
              : m.verifier === 'nasty'
                ? m.value
                : m.verifier === 'other'
                  ? otherVerifier
                  : undefined
        const redirectUri =
          m.redirect === 'keep'
            ? REDIRECT[client]
            : m.redirect === 'other'
              ? client === 'app'
                ? APP_OTHER
                : 'https://spa.example/other'
              : m.redirect === 'nasty'
                ? m.value
                : undefined
        const fields: [string, string][] = [['grant_type', 'authorization_code']]
        if (code !== undefined) fields.push(['code', code])
        if (verifier !== undefined) fields.push(['code_verifier', verifier])
        if (redirectUri !== undefined) fields.push(['redirect_uri', redirectUri])
        const headers: Record<string, string | string[]> = {}
        if (client === 'spa') {
          if (m.auth === 'ok') fields.push(['client_id', 'spa'])
          if (m.auth === 'wrong') fields.push(['client_id', 'app'])
          if (m.auth === 'mismatch') fields.push(['client_id', `unknown-${m.value}`])
        } else {
          if (m.auth === 'ok' || m.auth === 'mismatch') headers.authorization = basic('app')
          if (m.auth === 'wrong') headers.authorization = basic('app', `${SECRET}x`)
          if (m.auth === 'mismatch') fields.push(['client_id', 'spa'])
        }
        fields.push(...m.extra)
        const again = m.repeat && fields.find(([n]) => n === m.repeat)
        if (again) fields.push(again)
        const proofOf = await dpopHeader(m.dpop, tokenPath(), m.at)
        Object.assign(headers, proofOf.headers)

        const { params, repeated } = parametersOf(formOf(fields))
        const verifierOk = usePkce
          ? verifier === issued.verifier
          : params.get('code_verifier') === undefined
        const redirectOk =
          params.get('redirect_uri') === REDIRECT[client] ||
          (params.get('redirect_uri') === undefined && client === 'spa')
        const proofRequired = client === 'spa' || bind
        const keyOk =
          m.dpop === 'none'
            ? !proofRequired
            : proofOf.key !== undefined && (!bind || proofOf.key === 'k1')
        const ok =
          code === issued.code &&
          m.code !== 'replay' &&
          repeated.size === 0 &&
          verifierOk &&
          redirectOk &&
          m.auth === 'ok' &&
          keyOk

        const label = `code ${client} pkce=${usePkce} bind=${bind} ${JSON.stringify({ ...m, value: m.value.slice(0, 40) })}`
        const r = await tokenRequest(fields, headers)
        const answer = assertApi(r, TOKEN_ERRORS, label)
        if (!ok) {
          assert.ok(r.status >= 400, `${label}: ${r.status} ${r.body}`)
          assert.equal(answer.access_token, undefined, label)
          if (
            m.code === 'replay' &&
            firstRefresh !== undefined &&
            r.status === 400 &&
            answer.error === 'invalid_grant'
          ) {
            // A used code presented again revokes what it gave (RFC 6749 §4.1.2).
            const after = await refresh(client, firstRefresh)
            assert.equal(after.status, 400, `${label}: refresh after a replay: ${after.body}`)
          }
          return
        }
        assert.equal(r.status, 200, `${label}: ${r.body}`)
        assert.equal(typeof answer.access_token, 'string', label)
        assert.equal(answer.token_type, m.dpop === 'none' ? 'Bearer' : 'DPoP', label)
        assert.equal(typeof answer.refresh_token, 'string', label)
      },
    ),
    { numRuns: 300 },
  )
})

// ---------------------------------------------------------------------------------------------
// POST /token: refresh_token

test('POST /token refresh_token: a token only for the live token of the client, within its scope and key', async () => {
  const foreign: Record<CodeClient, string> = { spa: '', app: '' }
  for (const client of ['spa', 'app'] as const) {
    const code = await newCode(client, { pkce: true })
    foreign[client === 'spa' ? 'app' : 'spa'] = (
      await redeem(client, code.code, code.verifier)
    ).refresh_token
  }
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<CodeClient>('spa', 'app'),
      fc.record({
        token: weighted<'keep' | 'flip' | 'nasty' | 'drop' | 'retired' | 'foreign'>(
          ['keep', 14],
          ['flip', 2],
          ['nasty', 1],
          ['drop', 1],
          ['retired', 2],
          ['foreign', 1],
        ),
        scope: weighted<string | undefined>(
          [undefined, 10],
          ['read', 3],
          ['read write', 1],
          ['write read', 1],
          ['read write admin', 1],
          ['admin', 1],
          ['<script>', 1],
          ['read  write', 1],
        ),
        auth: weighted<'ok' | 'wrong' | 'none'>(['ok', 14], ['wrong', 1], ['none', 1]),
        dpop: dpopKind,
        repeat: weighted<string | undefined>(
          [undefined, 20],
          ['grant_type', 1],
          ['refresh_token', 1],
        ),
        at: fc.nat(),
        char: flipChar,
        value: nasty,
      }),
      async (client, m) => {
        const issued = await newCode(client, { pkce: true })
        const original = (await redeem(client, issued.code, issued.verifier)).refresh_token
        let successor: string | undefined
        if (m.token === 'retired') {
          const first = await refresh(client, original)
          assert.equal(first.status, 200, first.body)
          successor = (JSON.parse(first.body) as { refresh_token: string }).refresh_token
        }
        const token =
          m.token === 'keep' || m.token === 'retired'
            ? original
            : m.token === 'flip'
              ? flip(original, m.at, m.char)
              : m.token === 'nasty'
                ? m.value
                : m.token === 'foreign'
                  ? foreign[client]
                  : undefined
        const fields: [string, string][] = [['grant_type', 'refresh_token']]
        if (token !== undefined) fields.push(['refresh_token', token])
        if (m.scope !== undefined) fields.push(['scope', m.scope])
        const headers: Record<string, string | string[]> = {}
        if (client === 'spa') {
          if (m.auth === 'ok') fields.push(['client_id', 'spa'])
          if (m.auth === 'wrong') fields.push(['client_id', 'app'])
        } else {
          if (m.auth === 'ok') headers.authorization = basic('app')
          if (m.auth === 'wrong') headers.authorization = basic('app', `${SECRET}x`)
        }
        const again = m.repeat && fields.find(([n]) => n === m.repeat)
        if (again) fields.push(again)
        const proofOf = await dpopHeader(m.dpop, tokenPath(), m.at)
        Object.assign(headers, proofOf.headers)

        const { repeated } = parametersOf(formOf(fields))
        // spa's refresh token is bound to k1 (a public client's, RFC 9449 §5); app's to nothing.
        const keyOk =
          client === 'spa' ? proofOf.key === 'k1' : m.dpop === 'none' || proofOf.key !== undefined
        const scopeOk =
          m.scope === undefined || ['read', 'read write', 'write read'].includes(m.scope)
        const ok =
          token === original &&
          m.token !== 'retired' &&
          repeated.size === 0 &&
          m.auth === 'ok' &&
          scopeOk &&
          keyOk

        const label = `refresh ${client} ${JSON.stringify({ ...m, value: m.value.slice(0, 40) })}`
        const r = await tokenRequest(fields, headers)
        const answer = assertApi(r, TOKEN_ERRORS, label)
        if (!ok) {
          assert.ok(r.status >= 400, `${label}: ${r.status} ${r.body}`)
          assert.equal(answer.access_token, undefined, label)
          if (m.token === 'retired') {
            // Reuse of a retired token, once the client is authenticated, revokes the family.
            const reused = repeated.size === 0 && m.auth === 'ok'
            const next = await refresh(client, successor as string)
            assert.equal(next.status, reused ? 400 : 200, `${label}: the successor: ${next.body}`)
          } else {
            // A refused attempt neither rotates nor revokes the token.
            const next = await refresh(client, original)
            assert.equal(
              next.status,
              200,
              `${label}: the token after a refused attempt: ${next.body}`,
            )
          }
          return
        }
        assert.equal(r.status, 200, `${label}: ${r.body}`)
        assert.equal(typeof answer.access_token, 'string', label)
        assert.equal(answer.token_type, m.dpop === 'none' ? 'Bearer' : 'DPoP', label)
        assert.equal(typeof answer.refresh_token, 'string', label)
        assert.notEqual(answer.refresh_token, original, `${label}: not rotated`)
        if (m.scope !== undefined)
          assert.equal(answer.scope, [...new Set(m.scope.split(' '))].join(' '), label)
        // Rotated: the presented token is retired.
        const reuse = await refresh(client, original)
        assert.equal(reuse.status, 400, `${label}: the rotated token again: ${reuse.body}`)
      },
    ),
    { numRuns: 250 },
  )
})
