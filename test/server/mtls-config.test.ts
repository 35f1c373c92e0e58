/**
 * The mutual-TLS configuration (`tls`, `mtls`, the `tls_client_auth_*` client names): every
 * mistake names its dotted field, the PEM files included; settings that cannot work are
 * warnings; the aliases' default base.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  ConfigError,
  loadMtlsFiles,
  mtlsEndpointBase,
  parseConfig,
} from '../../src/config/index.js'
import { createAuthorizationServer } from '../../src/server/server.js'
import { createCa, type TestCertificate } from '../helpers/certificates.js'

const dir = mkdtempSync(join(tmpdir(), 'keybound-mtls-config-'))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
after(() => rmSync(dir, { recursive: true, force: true }))

let ca: TestCertificate
let server: TestCertificate
let other: TestCertificate
before(async () => {
  ca = await createCa()
  server = await ca.issue({ subject: 'CN=localhost', server: true })
  other = await ca.issue({ subject: 'CN=other', server: true })
})

function configError(input: Record<string, unknown>): string {
  try {
    parseConfig(input)
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.message
  }
  assert.fail(`no error for ${JSON.stringify(input)}`)
}

const tlsClient = (extra: Record<string, unknown>) => ({
  client_id: 'svc',
  token_endpoint_auth_method: 'tls_client_auth',
  grant_types: ['client_credentials'],
  ...extra,
})

describe('tls and mtls options', () => {
  test('defaults: no listener, no header, no confirmation unless asked', () => {
    const { config } = parseConfig({})
    assert.equal(config.tls, undefined)
    assert.deepEqual(config.mtls, { alwaysEmitConfirmation: false })
    const tls = parseConfig({ tls: { cert: 'a.pem', key: 'a.key' } }).config.tls
    assert.deepEqual(tls, {
      port: 4443,
      cert: 'a.pem',
      key: 'a.key',
      clientCertificates: 'optional',
    })
  })

  test('mistakes name the dotted field', () => {
    assert.match(configError({ tls: { port: 4443 } }), /^tls\.cert: required$/m)
    assert.match(configError({ tls: { cert: 'a', key: 'b', port: 70000 } }), /^tls\.port: /m)
    assert.match(
      configError({ tls: { cert: 'a', key: 'b', clientCertificates: 'required' } }),
      /^tls\.clientCertificates: must be one of "optional"$/m,
    )
    assert.match(
      configError({ port: 4000, tls: { cert: 'a', key: 'b', port: 4000 } }),
      /^tls\.port: must differ from port/m,
    )
    assert.match(
      configError({ tls: { cert: 'a', key: 'b', port: 0 } }),
      /^tls\.port: 0 \(a free port\) needs mtls\.endpointBaseUrl/m,
    )
    assert.match(
      configError({ mtls: { certificateHeader: { format: 'squid' } } }),
      /^mtls\.certificateHeader\.format: must be one of "rfc9440", "nginx"/m,
    )
    assert.match(
      configError({ mtls: { certificateHeader: { format: 'nginx', name: 'bad header' } } }),
      /^mtls\.certificateHeader\.name: must be an HTTP header name$/m,
    )
    assert.match(
      configError({ mtls: { endpointBaseUrl: 'http://mtls.example' } }),
      /^mtls\.endpointBaseUrl: must be an https URL/m,
    )
    assert.match(configError({ mtls: { alwaysEmit: true } }), /^mtls\.alwaysEmit: unknown option/m)
  })

  test('tls_client_auth names are checked (RFC 8705 §2.1.2)', () => {
    assert.match(
      configError({ clients: [tlsClient({ tls_client_auth_subject_dn: 'CN=a;O=b' })] }),
      /^clients\[0\]\.tls_client_auth_subject_dn: must be an RFC 4514 string: /m,
    )
    assert.match(
      configError({ clients: [tlsClient({ tls_client_auth_subject_dn: 'XYZ=a' })] }),
      /unknown attribute type "XYZ"/,
    )
    assert.match(
      configError({ clients: [tlsClient({ tls_client_auth_san_ip: '10.0.0.256' })] }),
      /^clients\[0\]\.tls_client_auth_san_ip: must be an IPv4 or IPv6 address$/m,
    )
    assert.match(
      configError({ clients: [tlsClient({ tls_client_auth_san_email: 'nobody' })] }),
      /^clients\[0\]\.tls_client_auth_san_email: must be an email address$/m,
    )
    assert.match(
      configError({ clients: [tlsClient({ tls_client_auth_san_uri: 'not a uri' })] }),
      /^clients\[0\]\.tls_client_auth_san_uri: must be an absolute URI$/m,
    )
    assert.match(
      configError({
        clients: [
          tlsClient({ tls_client_auth_san_dns: 'a.example', tls_client_auth_san_uri: 'urn:a' }),
        ],
      }),
      /exactly one of tls_client_auth_subject_dn/,
    )
  })

  test('warnings: certificate clients without a way for certificates in, no CA, no proxy', () => {
    const client = tlsClient({ tls_client_auth_san_dns: 'a.example' })
    assert.match(
      parseConfig({ clients: [client] }).warnings.join('\n'),
      /^clients\[0\]\.token_endpoint_auth_method: tls_client_auth, but no client certificate can reach the server/m,
    )
    assert.match(
      parseConfig({
        clients: [
          {
            client_id: 'b',
            client_secret: 'x'.repeat(16),
            token_binding: 'mtls',
            grant_types: ['client_credentials'],
          },
        ],
      }).warnings.join('\n'),
      /^clients\[0\]\.token_binding: mtls, but no client certificate/m,
    )
    assert.match(
      parseConfig({ clients: [client], tls: { cert: 'a', key: 'b' } }).warnings.join('\n'),
      /no CA is configured \(tls\.ca or mtls\.certificateHeader\.ca\)/,
    )
    assert.deepEqual(
      parseConfig({ clients: [client], tls: { cert: 'a', key: 'b', ca: 'c' } }).warnings,
      [],
    )
    assert.match(
      parseConfig({ mtls: { certificateHeader: { format: 'nginx' } } }).warnings.join('\n'),
      /^mtls\.certificateHeader: trustProxy trusts no proxy/m,
    )
    assert.match(
      parseConfig({ mtls: { alwaysEmitConfirmation: true } }).warnings.join('\n'),
      /^mtls\.alwaysEmitConfirmation: unused/m,
    )
  })

  test('the aliases’ base: the issuer’s host on tls.port, or mtls.endpointBaseUrl', () => {
    const base = (input: Record<string, unknown>) => mtlsEndpointBase(parseConfig(input).config)
    assert.equal(base({}), undefined)
    assert.equal(
      base({ issuer: 'https://as.example/tenant/', tls: { cert: 'a', key: 'b', port: 8443 } }),
      'https://as.example:8443/tenant',
    )
    assert.equal(
      base({ issuer: 'https://as.example', tls: { cert: 'a', key: 'b', port: 443 } }),
      'https://as.example',
    )
    assert.equal(
      base({ mtls: { endpointBaseUrl: 'https://mtls.as.example/' }, tls: { cert: 'a', key: 'b' } }),
      'https://mtls.as.example',
    )
  })
})

describe('the PEM files', () => {
  const files = async (tls: Record<string, unknown>, mtls: Record<string, unknown> = {}) => {
    try {
      await loadMtlsFiles(parseConfig({ tls, mtls }).config)
    } catch (err) {
      assert.ok(err instanceof ConfigError)
      return err.message
    }
    return ''
  }

  test('good files load: the listener’s, and the CA for forwarded certificates', async () => {
    const { config } = parseConfig({
      tls: {
        cert: file('server.pem', server.pem),
        key: file('server.key', server.key),
        ca: file('ca.pem', ca.pem + other.pem),
      },
    })
    const loaded = await loadMtlsFiles(config)
    assert.equal(loaded.listener?.cert, server.pem)
    assert.equal(loaded.headerCa.length, 2)
  })

  test('each problem names its field, all at once', async () => {
    const message = await files({
      cert: join(dir, 'missing.pem'),
      key: file('garbage.key', 'not a key'),
      ca: file('empty.pem', ''),
    })
    assert.match(message, /^tls\.cert: file .*missing\.pem: not found$/m)
    assert.match(message, /^tls\.key: file .*garbage\.key: not a PEM private key$/m)
    assert.match(message, /^tls\.ca: file .*empty\.pem: no PEM certificate$/m)
  })

  test('a key that is not the certificate’s', async () => {
    const message = await files({
      cert: file('server.pem', server.pem),
      key: file('other.key', other.key),
    })
    assert.match(message, /^tls\.key: file .*other\.key: not the key of tls\.cert$/m)
  })

  test('the header CA', async () => {
    const message = await files(
      { cert: file('server.pem', server.pem), key: file('server.key', server.key) },
      { certificateHeader: { format: 'nginx', ca: join(dir, 'nope.pem') } },
    )
    assert.match(message, /^mtls\.certificateHeader\.ca: file .*nope\.pem: not found$/m)
  })

  test('the server refuses to start on them, before opening anything', async () => {
    const { config } = parseConfig({
      database: `sqlite:${join(dir, 'never', 'created.db')}`,
      tls: { cert: join(dir, 'missing.pem'), key: join(dir, 'missing.key') },
    })
    await assert.rejects(createAuthorizationServer(config, { logger: false }), (err) => {
      assert.ok(err instanceof ConfigError)
      assert.match(err.message, /^tls\.cert: /m)
      return true
    })
  })
})
