import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  CONFIG_EXAMPLE,
  ConfigError,
  hashClientSecret,
  hashPassword,
  loadConfig,
  locateJsonError,
  parseConfig,
  verifyPassword,
} from '../../src/config/index.js'
import { ASYMMETRIC_ALGS } from '../../src/jose/algs.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SECRET = 'an-example-secret-of-some-length'
const dir = mkdtempSync(join(tmpdir(), 'keybound-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** Parses `input`, expecting a ConfigError; returns it. */
function configError(input: unknown): ConfigError {
  try {
    parseConfig(input)
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`)
    return error
  }
  assert.fail(`no error for ${JSON.stringify(input)}`)
}

const publicJwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
  format: 'jwk',
})
const privateJwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
  format: 'jwk',
})

describe('parseConfig', () => {
  it('gives every default for an empty object', () => {
    const { config, warnings } = parseConfig({})
    assert.deepEqual(config, {
      issuer: 'http://localhost:4000',
      host: '127.0.0.1',
      port: 4000,
      database: 'sqlite:.keybound/keybound.db',
      keys: { algs: ['ES256'], rotationPeriod: 30 * 86_400, retention: 7 * 86_400 },
      accessToken: { format: 'jwt', ttl: 600 },
      refreshToken: { ttl: 14 * 86_400, rotation: true },
      authorizationCode: { ttl: 60 },
      par: { ttl: 60, required: false },
      dpop: {
        algs: [...ASYMMETRIC_ALGS],
        iatWindow: 60,
        clockTolerance: 5,
        nonce: 'off',
        nonceStep: 60,
      },
      replayCache: 'memory',
      replayCacheMaxEntries: 1_000_000,
      scopes: ['read', 'write'],
      clients: [],
      users: [],
      registration: { enabled: false },
      mtls: { alwaysEmitConfirmation: false },
      trustProxy: false,
      log: { level: 'info' },
      demo: false,
    })
    assert.deepEqual(warnings, [])
  })

  it('derives the default issuer from the port', () => {
    assert.equal(parseConfig({ port: 5000 }).config.issuer, 'http://localhost:5000')
    assert.equal(parseConfig({ port: 0 }).config.issuer, 'http://localhost:4000')
    assert.equal(
      parseConfig({ port: 5000, issuer: 'https://as.example' }).config.issuer,
      'https://as.example',
    )
  })

  it('accepts the documented example and a full client, with every field mapped', async () => {
    const { config, warnings } = parseConfig({
      ...CONFIG_EXAMPLE,
      clients: [
        ...CONFIG_EXAMPLE.clients,
        {
          client_id: 'signer',
          client_name: 'Signer',
          token_endpoint_auth_method: 'private_key_jwt',
          grant_types: ['client_credentials', 'refresh_token'],
          jwks: { keys: [publicJwk] },
          scope: 'admin',
          token_binding: 'pop',
          access_token_format: 'jwt',
          first_party: true,
          software_id: 'example-signer',
          contacts: ['ops@example.com'],
        },
        {
          client_id: 'native',
          redirect_uris: ['com.example.app:/callback', 'http://127.0.0.1:8123/cb'],
          token_binding: 'dpop',
          dpop_bound_access_tokens: true,
        },
      ],
    })
    assert.deepEqual(warnings, [])
    assert.equal(config.issuer, 'https://auth.example.com')
    assert.deepEqual(config.keys.algs, ['ES256', 'PS256'])
    assert.equal(config.dpop.nonce, 'required')
    assert.deepEqual(config.trustProxy, ['10.0.0.0/8'])
    assert.equal(config.clients.length, 5)

    const [web, spa, billing, signer, native] = config.clients
    assert.deepEqual(web, {
      client_id: 'web-app',
      client_secret_hash: hashClientSecret('replace-with-32-random-characters'),
      client_name: 'Example web app',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example.com/callback'],
      scope: 'read write',
      jwks: null,
      jwks_uri: null,
      token_binding: 'dpop',
      dpop_bound_access_tokens: true,
      access_token_format: null,
      first_party: true,
      metadata: {},
    })
    assert.equal(spa?.token_endpoint_auth_method, 'none')
    assert.equal(spa?.client_secret_hash, null)
    assert.equal(billing?.token_endpoint_auth_method, 'tls_client_auth')
    assert.deepEqual(billing?.metadata, {
      tls_client_auth_subject_dn: 'CN=billing-service,O=Example',
    })
    assert.equal(billing?.access_token_format, 'reference')
    assert.equal(billing?.dpop_bound_access_tokens, false)
    assert.deepEqual(signer?.jwks, { keys: [publicJwk] })
    assert.deepEqual(signer?.metadata, {
      software_id: 'example-signer',
      contacts: ['ops@example.com'],
    })
    assert.equal(signer?.token_binding, 'pop')
    assert.deepEqual(native?.grant_types, ['authorization_code'])
    assert.equal(native?.token_endpoint_auth_method, 'none')

    const [alice] = config.users
    assert.equal(alice?.username, 'alice')
    assert.deepEqual(alice?.claims, { name: 'Alice', email: 'alice@example.com' })
    assert.ok(await verifyPassword('correct horse battery staple', alice?.password_hash ?? ''))
  })

  it('keeps no plain client secret or password', () => {
    const password = 'a-plain-password'
    const { config } = parseConfig({
      clients: [
        { client_id: 'a', client_secret: SECRET, grant_types: ['client_credentials'] },
        {
          client_id: 'b',
          client_secret: `${SECRET}-2`,
          token_endpoint_auth_method: 'client_secret_post',
          grant_types: ['client_credentials'],
        },
      ],
      users: [{ username: 'u', password }],
    })
    const json = JSON.stringify(config)
    assert.ok(!json.includes(SECRET))
    assert.ok(!json.includes(password))
    assert.ok(!json.includes('client_secret"'))
    assert.equal(config.clients[0]?.client_secret_hash, hashClientSecret(SECRET))
    assert.match(
      config.users[0]?.password_hash ?? '',
      /^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/,
    )
  })

  it('keeps a given password hash as is', () => {
    const hash = hashPassword('hunter2-hunter2')
    const { config } = parseConfig({ users: [{ username: 'u', password_hash: hash }] })
    assert.equal(config.users[0]?.password_hash, hash)
    assert.deepEqual(config.users[0]?.claims, {})
  })

  const code = (extra: Record<string, unknown> = {}) => ({
    client_id: 'c',
    redirect_uris: ['https://app.example/cb'],
    ...extra,
  })
  const service = (extra: Record<string, unknown> = {}) => ({
    client_id: 's',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    ...extra,
  })

  /** [what, input, the dotted path the message starts with, a pattern of the rest] */
  const mistakes: [string, unknown, string, RegExp][] = [
    [
      'an issuer that is not a URL',
      { issuer: 'auth.example.com' },
      'issuer',
      /absolute http\(s\) URL/,
    ],
    ['an issuer with a query', { issuer: 'https://as.example/?x=1' }, 'issuer', /without query/],
    ['an issuer with another scheme', { issuer: 'ftp://as.example' }, 'issuer', /http\(s\)/],
    ['port 70000', { port: 70000 }, 'port', /between 0 and 65535/],
    ['a port that is not an integer', { port: '4000' }, 'port', /integer/],
    ['an unknown top-level key', { isuer: 'https://as.example' }, 'isuer', /unknown option/],
    [
      'an unknown nested key',
      { accessToken: { ttl: 60, tll: 5 } },
      'accessToken.tll',
      /unknown option/,
    ],
    ['an unknown key alg', { keys: { algs: ['HS256'] } }, 'keys.algs[0]', /one of "ES256"/],
    ['no key alg', { keys: { algs: [] } }, 'keys.algs', /must not be empty/],
    ['an unknown proof alg', { dpop: { algs: ['none'] } }, 'dpop.algs[0]', /one of/],
    [
      'a fractional duration',
      { accessToken: { ttl: 1.5 } },
      'accessToken.ttl',
      /integer number of seconds/,
    ],
    ['a zero duration', { refreshToken: { ttl: 0 } }, 'refreshToken.ttl', /at least 1/],
    [
      'a retention shorter than the access token ttl',
      { keys: { retention: 60 } },
      'keys.retention',
      /at least accessToken.ttl \(600\)/,
    ],
    [
      'a duplicate client_id',
      { clients: [code(), service(), code()] },
      'clients[2].client_id',
      /duplicate client_id "c" \(also clients\[0\]\)/,
    ],
    [
      'an empty client_id',
      { clients: [code({ client_id: '' })] },
      'clients[0].client_id',
      /must not be empty/,
    ],
    [
      'a missing client_id',
      { clients: [{ redirect_uris: ['https://a.example/cb'] }] },
      'clients[0].client_id',
      /required/,
    ],
    [
      'a short client secret',
      { clients: [service({ client_secret: 'short' })] },
      'clients[0].client_secret',
      /at least 16 characters/,
    ],
    [
      'private_key_jwt without keys',
      {
        clients: [
          service({ client_secret: undefined, token_endpoint_auth_method: 'private_key_jwt' }),
        ],
      },
      'clients[0].jwks',
      /private_key_jwt needs .* jwks or jwks_uri/,
    ],
    [
      'self_signed_tls_client_auth without keys',
      {
        clients: [
          service({
            client_secret: undefined,
            token_endpoint_auth_method: 'self_signed_tls_client_auth',
          }),
        ],
      },
      'clients[0].jwks',
      /jwks or jwks_uri/,
    ],
    [
      'both jwks and jwks_uri',
      {
        clients: [
          service({
            client_secret: undefined,
            token_endpoint_auth_method: 'private_key_jwt',
            jwks: { keys: [publicJwk] },
            jwks_uri: 'https://a.example/jwks',
          }),
        ],
      },
      'clients[0].jwks_uri',
      /not be set together with jwks/,
    ],
    [
      'a private key in jwks',
      {
        clients: [
          service({
            client_secret: undefined,
            token_endpoint_auth_method: 'private_key_jwt',
            jwks: { keys: [privateJwk] },
          }),
        ],
      },
      'clients[0].jwks.keys[0]',
      /private key members/,
    ],
    [
      'a symmetric key in jwks',
      {
        clients: [
          service({
            client_secret: undefined,
            token_endpoint_auth_method: 'private_key_jwt',
            jwks: { keys: [{ kty: 'oct', k: 'AAAA' }] },
          }),
        ],
      },
      'clients[0].jwks.keys[0]',
      /public key/,
    ],
    [
      'an http jwks_uri',
      {
        clients: [
          service({
            client_secret: undefined,
            token_endpoint_auth_method: 'private_key_jwt',
            jwks_uri: 'http://a.example/jwks',
          }),
        ],
      },
      'clients[0].jwks_uri',
      /https URL/,
    ],
    [
      'a redirect_uri with a fragment',
      { clients: [code({ redirect_uris: ['https://a.example/cb', 'https://a.example/cb#x'] })] },
      'clients[0].redirect_uris[1]',
      /^must be an absolute URL without fragment$/,
    ],
    [
      'a relative redirect_uri',
      { clients: [code({ redirect_uris: ['/cb'] })] },
      'clients[0].redirect_uris[0]',
      /absolute URL/,
    ],
    [
      'a javascript: redirect_uri',
      { clients: [code({ redirect_uris: ['javascript:alert(1)'] })] },
      'clients[0].redirect_uris[0]',
      /absolute URL/,
    ],
    [
      'the code grant without redirect_uris',
      { clients: [{ client_id: 'c' }] },
      'clients[0].redirect_uris',
      /required .*"authorization_code"/,
    ],
    [
      'an unknown grant type',
      { clients: [code({ grant_types: ['password'] })] },
      'clients[0].grant_types[0]',
      /one of "authorization_code"/,
    ],
    [
      'an empty grant_types',
      { clients: [code({ grant_types: [] })] },
      'clients[0].grant_types',
      /must not be empty/,
    ],
    [
      'a bad token_binding',
      { clients: [code({ token_binding: 'tls' })] },
      'clients[0].token_binding',
      /one of "none", "dpop", "mtls", "pop"/,
    ],
    [
      'a bad auth method',
      { clients: [code({ token_endpoint_auth_method: 'client_secret_jwt' })] },
      'clients[0].token_endpoint_auth_method',
      /one of/,
    ],
    [
      "'none' with a secret",
      { clients: [code({ token_endpoint_auth_method: 'none', client_secret: SECRET })] },
      'clients[0].client_secret',
      /must not be set when token_endpoint_auth_method is "none"/,
    ],
    [
      'a secret method without a secret',
      { clients: [code({ token_endpoint_auth_method: 'client_secret_post' })] },
      'clients[0].client_secret',
      /required when token_endpoint_auth_method is "client_secret_post"/,
    ],
    [
      'client_credentials with none',
      { clients: [service({ client_secret: undefined, token_endpoint_auth_method: 'none' })] },
      'clients[0].grant_types',
      /client_credentials needs an authenticated client/,
    ],
    [
      'client_credentials without any credential',
      { clients: [service({ client_secret: undefined })] },
      'clients[0].grant_types',
      /defaults to "none"/,
    ],
    [
      'tls_client_auth without a certificate name',
      {
        clients: [
          service({ client_secret: undefined, token_endpoint_auth_method: 'tls_client_auth' }),
        ],
      },
      'clients[0].token_endpoint_auth_method',
      /exactly one of tls_client_auth_subject_dn/,
    ],
    [
      'dpop_bound_access_tokens false with dpop binding',
      { clients: [code({ token_binding: 'dpop', dpop_bound_access_tokens: false })] },
      'clients[0].dpop_bound_access_tokens',
      /cannot be false/,
    ],
    [
      'dpop_bound_access_tokens without dpop binding',
      { clients: [code({ dpop_bound_access_tokens: true })] },
      'clients[0].dpop_bound_access_tokens',
      /token_binding "dpop"/,
    ],
    [
      'a client scope the server does not know',
      { clients: [code({ scope: 'read admin' })] },
      'clients[0].scope',
      /unknown scope "admin"/,
    ],
    [
      'a malformed client scope',
      { clients: [code({ scope: 'read  write' })] },
      'clients[0].scope',
      /single spaces/,
    ],
    [
      'a field keybound sets itself',
      { clients: [code({ client_secret_hash: 'x' })] },
      'clients[0].client_secret_hash',
      /set by keybound/,
    ],
    [
      'a nonceSecret of the wrong length',
      { dpop: { nonceSecret: Buffer.alloc(16).toString('base64url') } },
      'dpop.nonceSecret',
      /32 bytes/,
    ],
    [
      'a padded nonceSecret',
      { dpop: { nonceSecret: `${Buffer.alloc(32).toString('base64url')}=` } },
      'dpop.nonceSecret',
      /32 bytes/,
    ],
    ['a bad nonce mode', { dpop: { nonce: 'always' } }, 'dpop.nonce', /one of "off", "required"/],
    [
      'a bad replayCache URL',
      { replayCache: 'http://cache:6379' },
      'replayCache',
      /"memory" or a redis/,
    ],
    [
      'a replay cache of no entries',
      { replayCacheMaxEntries: 0 },
      'replayCacheMaxEntries',
      /must be at least 1/,
    ],
    [
      'a fractional replay cache size',
      { replayCacheMaxEntries: 1.5 },
      'replayCacheMaxEntries',
      /must be an integer/,
    ],
    [
      'a bad database URL scheme',
      { database: 'mysql://db/keybound' },
      'database',
      /"sqlite:PATH" or a postgres/,
    ],
    ['an empty sqlite path', { database: 'sqlite:' }, 'database', /sqlite:PATH/],
    [
      'a duplicate username',
      {
        users: [
          { username: 'u', password: 'password1' },
          { username: 'v', password: 'password2' },
          { username: 'u', password: 'password3' },
        ],
      },
      'users[2].username',
      /duplicate username "u" \(also users\[0\]\)/,
    ],
    [
      'a short password',
      { users: [{ username: 'u', password: 'short' }] },
      'users[0].password',
      /at least 8 characters/,
    ],
    [
      'a user without password',
      { users: [{ username: 'u' }] },
      'users[0].password',
      /password or password_hash/,
    ],
    [
      'a user with both password and hash',
      { users: [{ username: 'u', password: 'password1', password_hash: hashPassword('x') }] },
      'users[0].password_hash',
      /not both/,
    ],
    [
      'a malformed password hash',
      { users: [{ username: 'u', password_hash: 'scrypt$16384$8$1$abc' }] },
      'users[0].password_hash',
      /scrypt\$N\$r\$p\$salt\$hash/,
    ],
    [
      'a short initial access token',
      { registration: { enabled: true, initialAccessToken: 'short' } },
      'registration.initialAccessToken',
      /at least 16 characters/,
    ],
    [
      'a bad trustProxy address',
      { trustProxy: ['10.0.0.0/33'] },
      'trustProxy[0]',
      /IP address, a CIDR range/,
    ],
    ['a bad trustProxy form', { trustProxy: 'yes' }, 'trustProxy', /true, false, a number of hops/],
    ['a bad log level', { log: { level: 'verbose' } }, 'log.level', /one of "fatal"/],
    ['demo as a string', { demo: 'yes' }, 'demo', /must be a boolean/],
    ['a list instead of an object', [], '(config)', /must be an object, not a list/],
  ]

  for (const [what, input, path, pattern] of mistakes) {
    it(`refuses ${what}: ${path}`, () => {
      const error = configError(input)
      const first = error.message.split('\n')[0] as string
      assert.ok(first.startsWith(`${path}: `), `"${first}" does not start with "${path}: "`)
      assert.match(first.slice(path.length + 2), pattern)
      assert.equal(error.issues[0]?.path, path)
      assert.equal(error.message.split('\n').length, error.issues.length)
    })
  }

  it('reports every issue at once, one line each', () => {
    const error = configError({
      port: -1,
      extra: true,
      clients: [code({ redirect_uris: ['https://a.example/#x'] })],
    })
    assert.deepEqual(
      error.issues.map((issue) => issue.path),
      ['port', 'clients[0].redirect_uris[0]', 'extra'],
    )
    assert.equal(
      error.message,
      error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('\n'),
    )
  })

  it('generates a nonce secret, with a warning, when nonces are required', () => {
    const { config, warnings } = parseConfig({ dpop: { nonce: 'required' } })
    assert.equal(Buffer.from(config.dpop.nonceSecret ?? '', 'base64url').length, 32)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0] ?? '', /^dpop\.nonceSecret: .*instances will not share/)
    assert.notEqual(
      parseConfig({ dpop: { nonce: 'required' } }).config.dpop.nonceSecret,
      config.dpop.nonceSecret,
    )
  })

  it('warns about what is valid but probably not meant', () => {
    const { config, warnings } = parseConfig({
      issuer: 'http://as.example',
      clients: [code({ redirect_uri: 'https://a.example/cb' })],
      registration: { enabled: true },
    })
    assert.deepEqual(config.clients[0]?.metadata, { redirect_uri: 'https://a.example/cb' })
    assert.equal(warnings.length, 3)
    assert.match(warnings[0] ?? '', /^issuer: plain http/)
    assert.match(warnings[1] ?? '', /^clients\[0\]\.redirect_uri: not a client metadata name/)
    assert.match(warnings[2] ?? '', /^registration\.initialAccessToken: .*anyone can register/)
  })
})

describe('hashPassword and verifyPassword', () => {
  it('round-trip, with a new salt each time', async () => {
    const hash = hashPassword('correct horse')
    assert.match(hash, /^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/)
    assert.ok(await verifyPassword('correct horse', hash))
    assert.notEqual(hashPassword('correct horse'), hash)
  })

  it('refuse a wrong password', async () => {
    const hash = hashPassword('correct horse')
    assert.equal(await verifyPassword('correct horsf', hash), false)
    assert.equal(await verifyPassword('', hash), false)
  })

  it('answer false for a malformed hash, without rejecting', async () => {
    const good = hashPassword('pw')
    const [, , , , salt, key] = good.split('$')
    for (const bad of [
      '',
      'scrypt',
      'scrypt$',
      // 41 characters: not a base64url length. (Dropping one character would leave a valid
      // shorter key, which scrypt's prefix property makes verify whenever it is canonical.)
      good.slice(0, -2),
      `${good}$`,
      `bcrypt$16384$8$1$${salt}$${key}`,
      `scrypt$16383$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$1048576$64$1$${salt}$${key}`, // would need 8 GiB
      `scrypt$16384$8$0$${salt}$${key}`,
      `scrypt$16384$8$1$${salt}$`,
      `scrypt$16384$8$1$AAAA$${key}`, // salt too short
      `scrypt$16384$8$1$${salt}$${key}=`,
    ]) {
      assert.equal(await verifyPassword('pw', bad), false, bad)
    }
    assert.equal(await verifyPassword('pw', undefined as unknown as string), false)
  })
  it('verify off the event loop: other work runs while scrypt does', async () => {
    const hash = hashPassword('correct horse')
    let turns = 0
    const timer = setInterval(() => turns++, 1)
    try {
      // A synchronous scrypt would hold the loop until it settled: no timer could fire.
      const checks = Array.from({ length: 4 }, () => verifyPassword('correct horse', hash))
      const before = turns
      assert.deepEqual(await Promise.all(checks), [true, true, true, true])
      assert.ok(turns > before, `the event loop turned ${turns - before} times during 4 checks`)
    } finally {
      clearInterval(timer)
    }
  })
})

describe('loadConfig', () => {
  it('without a file, gives the defaults in demo mode', async () => {
    const { config } = await loadConfig()
    assert.equal(config.demo, true)
    assert.equal(config.port, 4000)
    assert.equal((await loadConfig(undefined, { port: 4100 })).config.port, 4100)
  })

  it('reads a JSON file; --port overrides it', async () => {
    const path = file('full.json', `\ufeff${JSON.stringify(CONFIG_EXAMPLE, null, 2)}`)
    const { config } = await loadConfig(path)
    assert.equal(config.demo, false)
    assert.equal(config.issuer, 'https://auth.example.com')
    assert.equal(config.clients.length, 3)
    assert.equal((await loadConfig(path, { port: 4555 })).config.port, 4555)
    await assert.rejects(loadConfig(path, { port: 70000 }), /^ConfigError: port: /)
  })

  it('names a missing file', async () => {
    const path = join(dir, 'missing.json')
    await assert.rejects(loadConfig(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(error.message, `config file ${path}: not found`)
      assert.equal(error.file, path)
      return true
    })
  })

  it('names an unreadable file', async () => {
    await assert.rejects(loadConfig(dir), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.match(
        error.message,
        new RegExp(`^config file ${dir.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}: `),
      )
      return true
    })
  })

  it('names the file, line and column of bad JSON, without quoting it', async () => {
    const path = file('bad.json', `{\n  "port": 4000,\n  "issuer": "${SECRET}"\n  "host": "x"\n}`)
    await assert.rejects(loadConfig(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(
        error.message,
        `config file ${path}: invalid JSON at line 4, column 3: expected ',' or '}', found "\\""`,
      )
      assert.ok(!error.message.includes(SECRET))
      return true
    })
    const trailing = file('trailing.json', '{"port": 4000,}')
    await assert.rejects(loadConfig(trailing), /line 1, column 15: .*trailing comma/)
    await assert.rejects(
      loadConfig(file('empty.json', '')),
      /empty\.json: invalid JSON at line 1, column 1/,
    )
  })

  it('refuses a file that is not an object, or repeats a member', async () => {
    await assert.rejects(loadConfig(file('list.json', '[]')), /list\.json: must hold a JSON object/)
    await assert.rejects(
      loadConfig(file('twice.json', '{"port": 1, "port": 2}')),
      /twice\.json: .*same member name twice/,
    )
  })

  it('reports validation errors by path, and remembers the file', async () => {
    const path = file(
      'invalid.json',
      JSON.stringify({ port: 70000, clients: [{ client_id: 'a' }] }),
    )
    await assert.rejects(loadConfig(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(error.file, path)
      assert.deepEqual(
        error.issues.map((issue) => issue.path),
        ['port', 'clients[0].redirect_uris'],
      )
      return true
    })
  })
})

describe('locateJsonError', () => {
  it('finds the first syntax error', () => {
    assert.equal(locateJsonError('{"a": [1, 2], "b": {"c": null}}'), undefined)
    assert.deepEqual(locateJsonError('{"a": tru}')?.offset, 6)
    assert.deepEqual(locateJsonError('{"a": 1} x')?.offset, 9)
    assert.deepEqual(locateJsonError('{"a": "\\q"}')?.offset, 8)
    assert.deepEqual(locateJsonError('[1, 2')?.offset, 5)
    assert.deepEqual(locateJsonError('{"a": 01}')?.offset, 7)
  })
})

describe('docs/configuration.md', () => {
  it('is up to date with the schema', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'tools/config-docs.ts', '--check'],
      { cwd: ROOT, encoding: 'utf8' },
    )
    assert.equal(result.status, 0, result.stderr)
  })
})
