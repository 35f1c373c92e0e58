// The gateway's configuration: documented defaults, every mistake named by its dotted path,
// flags over the file, and the values sent in identity headers.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { ConfigError } from '../../../src/config/load.js'
import { loadGatewayConfig, parseGatewayConfig } from '../../../src/resource/gateway/config.js'
import { headerValue, upstreamRequestHeaders } from '../../../src/resource/gateway/headers.js'
import type { VerifiedRequest } from '../../../src/resource/verifier.js'

const MINIMAL = { issuer: 'http://localhost:4000', upstream: 'http://127.0.0.1:3000' }

function issues(input: unknown, overrides = {}): string[] {
  try {
    parseGatewayConfig(input, overrides)
  } catch (error) {
    assert.ok(error instanceof ConfigError)
    return error.message.split('\n')
  }
  assert.fail('expected a ConfigError')
}

describe('gateway config', () => {
  test('the documented defaults', () => {
    const { config, warnings } = parseGatewayConfig({ ...MINIMAL, audience: 'https://api.example' })
    assert.deepEqual(warnings, [])
    assert.deepEqual(config, {
      mode: 'proxy',
      upstream: 'http://127.0.0.1:3000',
      issuer: 'http://localhost:4000',
      audience: ['https://api.example'],
      host: '127.0.0.1',
      port: 4100,
      trustProxy: false,
      clockTolerance: 5,
      dpop: {
        algs: ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'],
        iatWindow: 60,
        clockTolerance: 5,
        nonce: 'off',
        nonceStep: 60,
      },
      replayCache: 'memory',
      replayCacheMaxEntries: 1_000_000,
      allowBearer: false,
      requireBinding: false,
      headers: {
        subject: 'X-Keybound-Subject',
        clientId: 'X-Keybound-Client-Id',
        scope: 'X-Keybound-Scope',
        binding: 'X-Keybound-Binding',
        jkt: 'X-Keybound-Jkt',
        certThumbprint: 'X-Keybound-Cert-Thumbprint',
        forwardAuthorization: false,
      },
      paths: { metrics: '/metrics', health: '/healthz', forwardAuth: '/_keybound/auth' },
      timeouts: { connect: 5, upstream: 60, idle: 60, request: 300, verifier: 5, shutdown: 10 },
      log: { level: 'info' },
    })
  })

  test('audience defaults to publicUrl, and is required without it', () => {
    const { config } = parseGatewayConfig({ ...MINIMAL, publicUrl: 'https://api.example/v1' })
    assert.deepEqual(config.audience, ['https://api.example/v1'])
    assert.deepEqual(issues(MINIMAL), [
      "audience: required unless publicUrl is set (a token's aud must name this resource, RFC 9068 §4)",
    ])
  })

  test('every mistake at once, each named by its dotted path', () => {
    assert.deepEqual(
      issues({
        issuer: 'http://localhost:4000',
        upstreem: 'http://x',
        dpop: { nonce: 'sometimes' },
        headers: { subject: 'Bad Name', scope: 'Authorization' },
        paths: { metrics: 'metrics' },
        timeouts: { connect: -1 },
        trustProxy: ['10.0.0.0/33'],
        replayCache: 'memcached',
        replayCacheMaxEntries: -5,
        port: 70000,
        audience: [],
      }),
      [
        'audience: must not be empty',
        'port: must be between 0 and 65535',
        'trustProxy[0]: must be an IP address, a CIDR range, or loopback, linklocal, uniquelocal',
        'dpop.nonce: must be one of "off", "required"',
        'replayCache: must be "memory" or a redis:// or rediss:// URL',
        'replayCacheMaxEntries: must be at least 1',
        "headers.subject: must be an HTTP field name (letters, digits and !#$%&'*+-.^_`|~)",
        'headers.scope: is a field the gateway sets or strips itself; choose another name',
        'paths.metrics: must be a path starting with "/", without query or fragment',
        'timeouts.connect: must be more than 0',
        'upstreem: unknown option (check the spelling; see docs/resource/gateway.md)',
      ],
    )
  })

  test('rules across options', () => {
    assert.deepEqual(
      issues({
        issuer: 'http://localhost:4000',
        audience: 'a',
        mode: 'both',
        headers: { subject: 'X-User', scope: 'x-user' },
        paths: { health: '/x', metrics: '/x' },
        allowBearer: true,
        requireBinding: true,
      }),
      [
        'upstream: required when mode is "both"',
        'trustProxy: required when mode is "both": list the proxies whose forward-auth requests are answered',
        'allowBearer: must be false when requireBinding is true',
        'headers.scope: is the same field as headers.subject',
        'paths.health: is the same path as paths.metrics',
      ],
    )
  })

  test('flags override the file; named proxy ranges become CIDRs', () => {
    const { config } = parseGatewayConfig(
      { ...MINIMAL, audience: 'a', port: 5000, log: { level: 'warn' }, trustProxy: ['10.0.0.1'] },
      { port: 5001, audience: ['b', 'c'], logLevel: 'debug', trustProxy: ['loopback'] },
    )
    assert.equal(config.port, 5001)
    assert.deepEqual(config.audience, ['b', 'c'])
    assert.equal(config.log.level, 'debug')
    assert.deepEqual(config.trustProxy, ['127.0.0.0/8', '::1/128'])
    assert.deepEqual(issues(MINIMAL, { audience: ['a'], mode: 'sideways' }), [
      'mode: must be one of "proxy", "forward-auth", "both"',
    ])
  })

  test('nonce required without a secret: one is generated, with a warning', () => {
    const { config, warnings } = parseGatewayConfig({
      ...MINIMAL,
      audience: 'a',
      dpop: { nonce: 'required' },
    })
    assert.match(config.dpop.nonceSecret ?? '', /^[\w-]{43}$/)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0] as string, /^dpop\.nonceSecret: not set, so a random one/)
  })
})

describe('gateway config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keybound-gateway-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, text: string) => {
    const path = join(dir, name)
    writeFileSync(path, text)
    return path
  }

  test('is read, and flags override it', async () => {
    const path = file('ok.json', JSON.stringify({ ...MINIMAL, audience: 'a', port: 4200 }))
    const { config } = await loadGatewayConfig(path, { port: 4300 })
    assert.equal(config.port, 4300)
    assert.equal(config.upstream, 'http://127.0.0.1:3000')
  })

  test('its problems name the file, the line and the column', async () => {
    const cases: [string, string][] = [
      [file('syntax.json', '{\n  "issuer": "http://x",\n}'), 'invalid JSON at line 3, column 1'],
      [file('dup.json', '{"port": 1, "port": 2}'), 'an object has the same member name twice'],
      [file('list.json', '[]'), 'must hold a JSON object'],
      [join(dir, 'missing.json'), 'not found'],
    ]
    for (const [path, message] of cases) {
      await assert.rejects(loadGatewayConfig(path), (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.ok(error.message.startsWith(`config file ${path}: ${message}`), error.message)
        return true
      })
    }
    const bad = file(
      'bad.json',
      JSON.stringify({ ...MINIMAL, audience: 'a', log: { level: 'loud' } }),
    )
    await assert.rejects(loadGatewayConfig(bad), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(error.file, bad)
      assert.equal(
        error.message,
        'log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"',
      )
      return true
    })
  })
})

describe('identity header values', () => {
  test('printable ASCII as is; anything else percent-encoded, so decodeURIComponent restores it', () => {
    assert.equal(headerValue('svc read'), 'svc read')
    assert.equal(headerValue('zoë'), 'zo%C3%AB')
    assert.equal(headerValue('50%\r\nX-Admin: 1'), '50%25%0D%0AX-Admin: 1')
    assert.equal(decodeURIComponent(headerValue('50%\r\nX-Admin: 1')), '50%\r\nX-Admin: 1')
    assert.equal(headerValue('a\ud800b'), 'a%EF%BF%BDb')
  })

  test('the upstream fields: identity appended after the client copies are gone', () => {
    const { config } = parseGatewayConfig({ ...MINIMAL, audience: 'a' })
    const verified = {
      claims: { iss: 'i', exp: 1, cnf: { jkt: 'J' } },
      subject: 'zoë',
      clientId: 'app',
      scopes: ['read'],
      binding: 'dpop',
      headers: {},
    } as unknown as VerifiedRequest
    const out = upstreamRequestHeaders(
      [
        'Host',
        'gw',
        'x-keybound-subject',
        'forged',
        'Accept',
        '*/*',
        'DPoP',
        'p',
        'Authorization',
        'DPoP t',
      ],
      config,
      {
        remoteAddress: '::1',
        trusted: false,
        origin: { proto: 'https', host: 'api.example' },
        verified,
      },
    )
    assert.deepEqual(out, [
      'Accept',
      '*/*',
      'X-Keybound-Binding',
      'dpop',
      'X-Keybound-Subject',
      'zo%C3%AB',
      'X-Keybound-Client-Id',
      'app',
      'X-Keybound-Scope',
      'read',
      'X-Keybound-Jkt',
      'J',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'api.example',
      'Forwarded',
      'for="[::1]";host=api.example;proto=https',
      'X-Forwarded-For',
      '::1',
    ])
  })
})
